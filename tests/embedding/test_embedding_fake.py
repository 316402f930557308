"""FakeEmbedder: the stand-in model other tests search with, so its geometry must be sane."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mcp_vector_search.embedding import Embedder, create_embedder
from mcp_vector_search.embedding.fake import FakeEmbedder
from mcp_vector_search.errors import ClosedError

TEXTS = [
    "def read_file(path):\n    with open(path) as fh:\n        return fh.read()",
    "async function fetchUser(id) { return await http.get(`/users/${id}`); }",
    "",
    "   \n\t",
    "!!! ??? ...",
    "Ünïcödé größeFeld 日本語",
]


def test_protocol_and_factory() -> None:
    e = create_embedder("fake")
    assert isinstance(e, FakeEmbedder)
    assert isinstance(e, Embedder)
    assert (e.model_id, e.dimensions, e.max_tokens) == ("fake-hashing-64", 64, 256)


def test_shape_dtype_and_unit_norm() -> None:
    v = FakeEmbedder().embed_batch(TEXTS)
    assert v.shape == (len(TEXTS), 64)
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)


def test_empty_batch() -> None:
    e = FakeEmbedder()
    assert e.embed_batch([]).shape == (0, 64)
    assert e.count_tokens([]) == []


def test_texts_without_words_get_the_same_fixed_unit_vector() -> None:
    v = FakeEmbedder().embed_batch(["", "   ", "!!! ..."])
    np.testing.assert_array_equal(v[0], v[1])
    np.testing.assert_array_equal(v[0], v[2])
    assert np.linalg.norm(v[0]) == pytest.approx(1.0, abs=1e-6)


def test_deterministic_within_and_across_processes() -> None:
    here = FakeEmbedder().embed_batch(TEXTS)
    np.testing.assert_array_equal(here, FakeEmbedder().embed_batch(TEXTS))
    # str hashes are salted per process; the vectors must not be.
    code = (
        "import sys, json\n"
        "from mcp_vector_search.embedding.fake import FakeEmbedder\n"
        "texts = json.loads(sys.stdin.read())\n"
        "sys.stdout.write(FakeEmbedder().embed_batch(texts).tobytes().hex())\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout
    there = np.frombuffer(bytes.fromhex(out), dtype=np.float32).reshape(here.shape)
    np.testing.assert_array_equal(here, there)


def test_order_and_batching_do_not_change_vectors() -> None:
    e = FakeEmbedder()
    whole = e.embed_batch(TEXTS)
    singles = np.vstack([e.embed_batch([t]) for t in TEXTS])
    np.testing.assert_array_equal(whole, singles)
    rev = e.embed_batch(TEXTS[::-1])[::-1]
    np.testing.assert_array_equal(whole, rev)


def test_shared_words_rank_above_unrelated() -> None:
    e = FakeEmbedder()
    query, related, unrelated = e.embed_batch(
        [
            "read a file from disk",
            "def read_file(path):\n    return open(path).read()",
            "async function sendRequest(url) { return http.post(url, body); }",
        ]
    )
    assert float(query @ related) > float(query @ unrelated)


def test_identifier_styles_meet() -> None:
    e = FakeEmbedder()
    snake, camel, other = e.embed_batch(["parse_http_response", "parseHttpResponse", "drawCircle"])
    assert float(snake @ camel) > 0.5
    assert float(snake @ camel) > float(snake @ other)


def test_count_tokens() -> None:
    e = FakeEmbedder()
    assert e.count_tokens(["", "a", "a b.c", "foo(bar)"]) == [2, 3, 6, 6]


def test_only_the_window_counts_like_the_model() -> None:
    e = FakeEmbedder()
    head = " ".join(f"word{i}" for i in range(254))
    a, b = e.embed_batch([head, head + " extra tail words beyond the window"])
    np.testing.assert_array_equal(a, b)
    assert e.count_tokens([head + " x"]) == [257]


def test_rejects_non_string_input() -> None:
    e = FakeEmbedder()
    with pytest.raises(TypeError):
        e.embed_batch("a bare string")
    with pytest.raises(TypeError):
        e.embed_batch([b"bytes"])  # type: ignore[list-item]


def test_closed_error_and_idempotent_close() -> None:
    e = FakeEmbedder()
    e.close()
    e.close()
    with pytest.raises(ClosedError):
        e.embed_batch(["x"])
    with pytest.raises(ClosedError):
        e.count_tokens(["x"])


def test_context_manager_closes() -> None:
    with FakeEmbedder() as e:
        e.embed_batch(["x"])
    with pytest.raises(ClosedError):
        e.embed_batch(["x"])
