from pathlib import Path

import numpy as np
import pytest

from mcp_vector_search.errors import IndexNotFoundError, ModelMismatchError, SchemaError
from mcp_vector_search.records import Chunk, FileState
from mcp_vector_search.store.lancedb import open_store


def mk(path: str, start: int, text: str, symbol: str = "f") -> Chunk:
    lines = text.count("\n") + 1
    return Chunk(
        path, start, start + lines - 1, "function", symbol, "python", text, f"{path}\n{text}"
    )


def state(path: str, n: int) -> FileState:
    return FileState(path, "h-" + path, 10, 1, "indexed", n)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = open_store(tmp_path / "idx", model_id="m", dimensions=4, writable=True)
    yield s
    s.close()


def test_reader_needs_an_existing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        open_store(tmp_path / "none", model_id="m", dimensions=4, writable=False)


def test_replace_files_is_lexically_searchable_at_once(store) -> None:  # type: ignore[no-untyped-def]
    store.replace_files(
        [state("a.py", 1)],
        [mk("a.py", 1, "def parse_http_response(): pass", "parse_http_response")],
    )
    hits = store.lexical_search(["http"], 10)
    assert [h.chunk.path for h in hits] == ["a.py"]
    assert store.counts() == (1, 1, 0)


def test_replace_drops_old_chunks_of_the_file_only(store) -> None:  # type: ignore[no-untyped-def]
    store.replace_files(
        [state("a.py", 2), state("b.py", 1)],
        [
            mk("a.py", 1, "def one(): pass", "one"),
            mk("a.py", 3, "def two(): pass", "two"),
            mk("b.py", 1, "def three(): pass", "three"),
        ],
    )
    store.replace_files([state("a.py", 1)], [mk("a.py", 1, "def uno(): pass", "uno")])
    symbols = sorted(c.symbol for c in store.chunk_catalog())
    assert symbols == ["three", "uno"]
    store.replace_files([state("b.py", 0)], [])
    assert [c.symbol for c in store.chunk_catalog()] == ["uno"]


def test_vectors_fill_in_and_are_shared_by_identical_texts(store) -> None:  # type: ignore[no-untyped-def]
    same = "def dup(): pass"
    store.replace_files(
        [state("a.py", 1), state("b.py", 1)], [mk("a.py", 1, same), mk("b.py", 1, same)]
    )
    missing = store.missing_vector_hashes()
    assert len(missing) == 2  # embed text includes the path, so two texts
    texts = store.embed_texts(missing)
    store.add_vectors(missing, np.eye(4, dtype=np.float32)[: len(missing)])
    assert store.missing_vector_hashes() == []
    assert store.counts()[2] == 2
    hashes, matrix = store.vectors()
    assert sorted(hashes) == sorted(missing) and matrix.shape == (2, 4)
    assert set(texts) == set(missing)


def test_delete_files_and_orphans(store) -> None:  # type: ignore[no-untyped-def]
    store.replace_files(
        [state("a.py", 1), state("b.py", 1)], [mk("a.py", 1, "x = 1"), mk("b.py", 1, "y = 2")]
    )
    store.delete_files(["a.py"])
    assert set(store.file_states()) == {"b.py"}
    assert store.delete_orphan_chunks(set()) == 1
    assert store.chunk_catalog() == []


def test_model_mismatch_is_a_clear_error_and_force_rebuilds(tmp_path: Path) -> None:
    s = open_store(tmp_path, model_id="m1", dimensions=4, writable=True)
    s.close()
    with pytest.raises(ModelMismatchError) as info:
        open_store(tmp_path, model_id="m2", dimensions=8, writable=False)
    assert "--force" in (info.value.hint or "")
    s2 = open_store(tmp_path, model_id="m2", dimensions=8, writable=True, rebuild=True)
    assert s2.meta()["model_id"] == "m2"
    s2.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    s = open_store(tmp_path, model_id="m", dimensions=4, writable=True)
    s.set_meta(schema_version=999)
    s.close()
    with pytest.raises(SchemaError):
        open_store(tmp_path, model_id="m", dimensions=4, writable=False)


def test_reader_sees_writer_commits(tmp_path: Path) -> None:
    w = open_store(tmp_path, model_id="m", dimensions=4, writable=True)
    r = open_store(tmp_path, model_id="m", dimensions=4, writable=False)
    v0 = r.version()
    w.replace_files([state("a.py", 1)], [mk("a.py", 1, "def fresh(): pass", "fresh")])
    assert r.version() != v0
    assert [h.chunk.symbol for h in r.lexical_search(["fresh"], 5)] == ["fresh"]
    w.optimize()
    assert [h.chunk.symbol for h in r.lexical_search(["fresh"], 5)] == ["fresh"]
    w.close()
    r.close()


def test_language_filter_and_quotes_are_safe(store) -> None:  # type: ignore[no-untyped-def]
    store.replace_files([state("it's.py", 1)], [mk("it's.py", 1, "def quote(): pass", "quote")])
    assert store.lexical_search(["quote"], 5, language="python")
    assert store.lexical_search(["quote"], 5, language="go") == []
    assert store.lexical_search(["quote"], 5, language="x' OR 1=1 --") == []
    assert store.contents([store.chunk_catalog()[0].id])
