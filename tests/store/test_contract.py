"""The Store contract: what every engine promises, run against each real engine."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mcp_vector_search.errors import (
    ClosedError,
    IndexLockedError,
    IndexNotFoundError,
    ModelMismatchError,
    SchemaError,
)
from mcp_vector_search.records import Chunk, FileState
from mcp_vector_search.store import Store, chunk_id, embed_hash, index_meta
from tests.store.conftest import Backend


def mk(path: str, start: int, text: str, symbol: str = "f", language: str = "python") -> Chunk:
    lines = text.count("\n") + 1
    return Chunk(
        path, start, start + lines - 1, "function", symbol, language, text, f"{path}\n{text}"
    )


def state(path: str, n: int, status: str = "indexed") -> FileState:
    return FileState(path, "h-" + path, 10, 1, status, n)


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def test_reader_needs_an_existing_index(backend: Backend) -> None:
    assert index_meta(backend.config, backend.root) is None
    with pytest.raises(IndexNotFoundError):
        backend.open(writable=False)


def test_a_new_index_has_meta(backend: Backend, store: Store) -> None:
    meta = index_meta(backend.config, backend.root)
    assert meta is not None and meta["model_id"] == "m" and meta["dimensions"] == 4
    store.set_meta(last_run="now", commits_since_optimize=3)
    again = backend.open(writable=False)
    assert again.meta()["last_run"] == "now" and again.meta()["commits_since_optimize"] == 3


def test_replace_files_is_lexically_searchable_at_once(store: Store) -> None:
    store.replace_files(
        [state("a.py", 1)],
        [mk("a.py", 1, "def parse_http_response(): pass", "parse_http_response")],
    )
    hits = store.lexical_search(["http"], 10)
    assert [h.chunk.path for h in hits] == ["a.py"]
    assert store.lexical_search(["parse_http_response"], 10)[0].chunk.symbol == (
        "parse_http_response"
    )
    assert store.counts() == (1, 1, 0)


def test_lexical_ranks_the_rarer_and_repeated_term_first(store: Store) -> None:
    store.replace_files(
        [state(f"{n}.py", 1) for n in "abcd"],
        [
            mk("a.py", 1, "def upload(): retry()", "upload"),
            mk("b.py", 1, "def upload_file(): pass", "upload_file"),
            mk("c.py", 1, "def upload_all(): pass", "upload_all"),
            mk("d.py", 1, "def other(): pass", "other"),
        ],
    )
    hits = store.lexical_search(["upload", "retry"], 10)
    assert hits[0].chunk.path == "a.py"  # the only one with both, and retry is rare
    assert {h.chunk.path for h in hits} == {"a.py", "b.py", "c.py"}
    assert all(h.score > 0 for h in hits)


def test_replace_drops_old_chunks_of_the_file_only(store: Store) -> None:
    store.replace_files(
        [state("a.py", 2), state("b.py", 1)],
        [
            mk("a.py", 1, "def one(): pass", "one"),
            mk("a.py", 3, "def two(): pass", "two"),
            mk("b.py", 1, "def three(): pass", "three"),
        ],
    )
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "def uno(): pass", "uno")])
    assert sorted(c.symbol or "" for c in store.chunk_catalog()) == ["three", "uno"]
    store.replace_files([state("b.py", 0)], [])
    assert [c.symbol for c in store.chunk_catalog()] == ["uno"]
    assert store.lexical_search(["three"], 5) == []


def test_identical_chunks_at_one_span_are_stored_once(store: Store) -> None:
    c = mk("a.py", 1, "x = 1")
    store.replace_files([state("a.py", 2)], [c, c])
    assert [x.id for x in store.chunk_catalog()] == [chunk_id(c)]


def test_vectors_fill_in_and_are_shared_by_identical_texts(store: Store) -> None:
    same = "def dup(): pass"
    store.replace_files(
        [state("a.py", 1), state("b.py", 1)], [mk("a.py", 1, same), mk("b.py", 1, same)]
    )
    missing = store.missing_vector_hashes()
    assert len(missing) == 2  # embed text includes the path, so two texts
    texts = store.embed_texts(missing)
    assert set(texts) == set(missing)
    assert texts[embed_hash("m", f"a.py\n{same}")] == f"a.py\n{same}"
    store.add_vectors(missing, np.eye(4, dtype=np.float32)[: len(missing)])
    assert store.missing_vector_hashes() == []
    assert store.counts()[2] == 2
    store.add_vectors(missing[:1], np.eye(4, dtype=np.float32)[:1])  # again: a no-op
    assert store.counts() == (2, 2, 2)


def test_vector_search_is_nearest_first_with_filters(store: Store) -> None:
    chunks = [
        mk("a.py", 1, "alpha", "alpha"),
        mk("b.py", 1, "beta", "beta"),
        mk("c.js", 1, "gamma", "gamma", language="javascript"),
    ]
    store.replace_files([state("a.py", 1), state("b.py", 1), state("c.js", 1)], chunks)
    vecs = {"alpha": unit(1, 0, 0, 0), "beta": unit(1, 1, 0, 0), "gamma": unit(0, 0, 1, 0)}
    store.add_vectors(
        [embed_hash("m", c.embed_text) for c in chunks],
        np.stack([vecs[c.symbol or ""] for c in chunks]),
    )
    hits = store.vector_search(unit(1, 0.1, 0, 0), 10)
    assert [h.chunk.symbol for h in hits] == ["alpha", "beta", "gamma"]
    assert hits[0].score == pytest.approx(float(unit(1, 0.1, 0, 0) @ vecs["alpha"]), abs=1e-5)
    assert [h.chunk.symbol for h in store.vector_search(unit(1, 0, 0, 0), 1)] == ["alpha"]
    only_js = store.vector_search(unit(1, 0, 0, 0), 10, language="javascript")
    assert [h.chunk.symbol for h in only_js] == ["gamma"]


def test_chunks_sharing_a_vector_all_come_back(store: Store) -> None:
    # Two files whose embed texts are identical share one vector.
    a = Chunk("a.py", 1, 1, "function", "f", "python", "x = 1", "same text")
    b = Chunk("b.py", 5, 5, "function", "f", "python", "x = 1", "same text")
    store.replace_files([state("a.py", 1), state("b.py", 1)], [a, b])
    assert store.missing_vector_hashes() == [embed_hash("m", "same text")]
    store.add_vectors([embed_hash("m", "same text")], unit(0, 1, 0, 0)[None, :])
    hits = store.vector_search(unit(0, 1, 0, 0), 10)
    assert sorted(h.chunk.path for h in hits) == ["a.py", "b.py"]
    assert store.counts() == (2, 2, 2)


def test_contents(store: Store) -> None:
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "def body(): return 1", "body")])
    cat = store.chunk_catalog()
    assert store.contents([cat[0].id]) == {cat[0].id: "def body(): return 1"}
    hit = store.lexical_search(["body"], 1)[0].chunk
    assert store.contents_of([hit]) == {hit.id: "def body(): return 1"}
    assert store.contents([]) == {} and store.contents(["nope"]) == {}


def test_file_states_and_skips(store: Store) -> None:
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "x = 1")])
    store.record_files([state("big.bin", 0, status="binary"), state("c.min.js", 0, "minified")])
    states = store.file_states()
    assert set(states) == {"a.py", "big.bin", "c.min.js"}
    assert states["a.py"] == state("a.py", 1)
    assert store.skipped_counts() == {"binary": 1, "minified": 1}
    store.record_files([FileState("a.py", "", 10, 1, "indexed", 1)])  # voided, as a kill leaves
    assert store.file_states()["a.py"].file_hash == ""
    assert store.counts()[0] == 1


def test_delete_files_and_orphans(store: Store) -> None:
    store.replace_files(
        [state("a.py", 1), state("b.py", 1)], [mk("a.py", 1, "x = 1"), mk("b.py", 1, "y = 2")]
    )
    store.delete_files(["a.py"])
    assert set(store.file_states()) == {"b.py"}
    assert [c.path for c in store.chunk_catalog()] == ["b.py"]
    assert store.delete_orphan_chunks(set()) == 1
    assert store.chunk_catalog() == []


def test_model_mismatch_is_a_clear_error_and_force_rebuilds(backend: Backend) -> None:
    backend.open(model_id="m1", dimensions=4).close()
    with pytest.raises(ModelMismatchError) as info:
        backend.open(model_id="m2", dimensions=8, writable=False)
    assert "--force" in (info.value.hint or "")
    with pytest.raises(ModelMismatchError):
        backend.open(model_id="m2", dimensions=8, writable=True)
    s2 = backend.open(model_id="m2", dimensions=8, writable=True, rebuild=True)
    assert s2.meta()["model_id"] == "m2" and s2.counts() == (0, 0, 0)


def test_newer_schema_is_refused(backend: Backend, store: Store) -> None:
    store.set_meta(schema_version=999)
    store.close()
    with pytest.raises(SchemaError):
        backend.open(writable=False)


def test_reader_sees_writer_commits(backend: Backend, store: Store) -> None:
    reader = backend.open(writable=False)
    v0 = reader.version()
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "def fresh(): pass", "fresh")])
    assert reader.version() != v0
    assert [h.chunk.symbol for h in reader.lexical_search(["fresh"], 5)] == ["fresh"]
    v1 = reader.version()
    h = embed_hash("m", "a.py\ndef fresh(): pass")
    store.add_vectors([h], unit(1, 0, 0, 0)[None, :])
    assert reader.version() != v1
    assert reader.counts()[2] == 1
    store.optimize()
    assert [h.chunk.symbol for h in reader.lexical_search(["fresh"], 5)] == ["fresh"]
    assert [h.chunk.symbol for h in reader.vector_search(unit(1, 0, 0, 0), 5)] == ["fresh"]


def test_catalog_is_one_object_per_version(store: Store) -> None:
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "x = 1")])
    first = store.chunk_catalog()
    assert store.chunk_catalog() is first
    store.replace_files([state("b.py", 1)], [mk("b.py", 1, "y = 2")])
    assert store.chunk_catalog() is not first and len(store.chunk_catalog()) == 2


def test_language_filter_and_quotes_are_safe(store: Store) -> None:
    store.replace_files([state("it's.py", 1)], [mk("it's.py", 1, "def quote(): pass", "quote")])
    assert store.lexical_search(["quote"], 5, language="python")
    assert store.lexical_search(["quote"], 5, language="go") == []
    assert store.lexical_search(["quote"], 5, language="x' OR 1=1 --") == []
    assert store.lexical_search(["quote'); DROP TABLE x; --"], 5) == []
    assert store.contents([store.chunk_catalog()[0].id])
    store.delete_files(["it's.py"])
    assert store.file_states() == {}


def test_reset_empties_the_index(store: Store) -> None:
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "x = 1")])
    store.add_vectors(store.missing_vector_hashes(), unit(1, 0, 0, 0)[None, :])
    store.reset()
    assert store.counts() == (0, 0, 0) and store.file_states() == {}
    # Vectors are kept: the same text comes back embedded.
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "x = 1")])
    assert store.missing_vector_hashes() == []


def test_a_closed_store_says_so(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(ClosedError):
        store.file_states()


def test_projects_are_apart(backend: Backend, store: Store) -> None:
    other = backend.other_project("other").open()
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "def mine(): pass", "mine")])
    other.replace_files([state("a.py", 1)], [mk("a.py", 1, "def theirs(): pass", "theirs")])
    assert [c.symbol for c in store.chunk_catalog()] == ["mine"]
    assert store.lexical_search(["theirs"], 5) == []
    other.delete_files(["a.py"])
    assert [c.symbol for c in store.chunk_catalog()] == ["mine"]


def test_second_writer_is_refused_with_holder(backend: Backend) -> None:
    first = backend.lock()
    first.acquire(command="index")
    try:
        assert first.held
        with pytest.raises(IndexLockedError) as info:
            backend.lock().acquire()
        assert f"pid {os.getpid()}" in str(info.value)
        holder = backend.lock().holder()
        assert holder is not None and holder["command"] == "index"
    finally:
        first.release()
    assert backend.lock().holder() is None
    second = backend.lock()
    second.acquire()
    second.release()
    second.release()
    assert not second.held
