"""A static token-embedding model distilled from MiniLM: a table lookup, thousands of texts/s.

The model2vec recipe, with our own ONNX graph as the teacher and no torch:
  1. every vocabulary token is embedded once, alone (`[CLS] token [SEP]`), by the fp32
     MiniLM graph;
  2. the 384-d table is centred and reduced by PCA to `DIMENSIONS` components;
  3. each row is weighted by SIF, `a / (a + p(token))`, with p from Zipf's law over the
     vocabulary's order (BERT's WordPiece vocabulary is listed roughly by frequency past its
     single characters), so frequent pieces (punctuation, `the`, `self`) count for little.
A text's vector is the mean of its tokens' rows, L2-normalised. No window: every token of
the text counts.

The table is built once per model weights and recipe (~30 s on 2 cores) and cached beside
the ONNX graphs (atomic write); loading it takes milliseconds.

This module is the boundary for tokenizers (and onnxruntime while building): anything they
raise leaves it as EmbeddingError.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ClosedError, EmbeddingError, MVSError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

RECIPE = "static-pca256-sif1e-4-1"  # bump on any change to the table: it is in the model id
DIMENSIONS = 256
SIF_COEFFICIENT = 1e-4
# The chunker cuts chunks to the embedder's window: the static tier reports MiniLM's window
# and counts with MiniLM's counter, so both tiers see the same chunks (and can share an index).
MAX_TOKENS = 256
_TEACHER_BATCH = 512


def build_table(model_dir: Path, cache_dir: Path | None = None) -> np.ndarray:
    """The weighted, reduced token table (vocab x DIMENSIONS, float32)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from .onnx_graph import load_or_build
    from .onnx_minilm import MODEL_CACHE_NAME, _default_threads

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    data, _ = load_or_build(model_dir, MODEL_CACHE_NAME, cache_dir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = _default_threads()
    so.log_severity_level = 3
    session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    teacher = np.empty((vocab, 384), dtype=np.float32)
    for lo in range(0, vocab, _TEACHER_BATCH):
        ids = np.arange(lo, min(vocab, lo + _TEACHER_BATCH), dtype=np.int64)
        batch = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        (teacher[lo : lo + len(ids)],) = session.run(
            ["sentence_embedding"], {"input_ids": batch, "attention_mask": np.ones_like(batch)}
        )
    del session
    centred = teacher - teacher.mean(axis=0)
    # Right singular vectors are the principal axes; the table is small (30k x 384).
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:DIMENSIONS].T
    inv_rank = 1.0 / np.arange(2, vocab + 2, dtype=np.float64)
    proba = inv_rank / inv_rank.sum()
    weight = SIF_COEFFICIENT / (SIF_COEFFICIENT + proba)
    table: np.ndarray = (reduced * weight[:, None]).astype(np.float32)
    return table


def table_path(model_dir: Path, cache_dir: Path | None = None) -> Path:
    from .onnx_graph import cache_key, default_cache_dir
    from .onnx_minilm import MODEL_CACHE_NAME

    base = cache_dir if cache_dir is not None else default_cache_dir()
    return base / "models" / f"{MODEL_CACHE_NAME}.static-{cache_key(model_dir, RECIPE)}.npy"


def load_or_build_table(model_dir: Path, cache_dir: Path | None = None) -> np.ndarray:
    from .onnx_graph import _write_atomic

    target = table_path(model_dir, cache_dir)
    try:
        loaded: np.ndarray = np.load(target, allow_pickle=False)
    except (OSError, ValueError):
        pass
    else:
        # A truncated or foreign file is rebuilt, like a corrupt cached graph.
        if loaded.ndim == 2 and loaded.shape[1] == DIMENSIONS and loaded.dtype == np.float32:
            return loaded
    table = build_table(model_dir, cache_dir)
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    with contextlib.suppress(OSError):
        _write_atomic(target, buf.getvalue())  # an unwritable cache only costs a rebuild
    return table


class StaticEmbedder:
    """Mean of distilled MiniLM token vectors (256-d, unit length); no neural net at run time."""

    dimensions: int = DIMENSIONS
    max_tokens: int = MAX_TOKENS

    def __init__(self, *, model_dir: Path | None = None, cache_dir: Path | None = None) -> None:
        from .onnx_minilm import MODEL_ID, MiniLMEmbedder

        self.model_id = f"{MODEL_ID}@{RECIPE}"
        self._model_dir = model_dir
        self._cache_dir = cache_dir
        self._closed = False
        self._lock = threading.Lock()
        self._counter = MiniLMEmbedder(model_dir=model_dir, cache_dir=cache_dir, precision="fp32")
        self._table: np.ndarray | None = None
        self._tok: Tokenizer | None = None

    def warm(self) -> None:
        self._ready()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        texts = self._validate(texts)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        table, tok = self._ready()
        try:
            encoded = tok.encode_batch_fast(texts, add_special_tokens=False)
        except MVSError:
            raise
        except Exception as e:
            raise EmbeddingError(f"tokenizer failed: {type(e).__name__}: {e}") from e
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for row, enc in enumerate(encoded):
            ids = np.asarray(enc.ids, dtype=np.int64)
            if len(ids):
                vec = table[ids].mean(axis=0)
                norm = float(np.linalg.norm(vec))
                if norm > 0:
                    out[row] = vec / norm
                    continue
            # No tokens (an empty text): any fixed unit vector keeps the protocol's promise.
            out[row] = 1.0 / np.sqrt(DIMENSIONS)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # MiniLM's counter (its tokenizer only, never its model): the same chunks either way.
        self._validate(texts)
        return self._counter.count_tokens(texts)

    def close(self) -> None:
        self._closed = True
        self._counter.close()
        with self._lock:
            self._table = None
            self._tok = None

    def __enter__(self) -> StaticEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _validate(self, texts: Sequence[str]) -> list[str]:
        if self._closed:
            raise ClosedError("the embedder is closed")
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a string")
        out = list(texts)
        for t in out:
            if not isinstance(t, str):
                raise TypeError(f"texts must be strings, got {type(t).__name__}")
        return out

    def _ready(self) -> tuple[np.ndarray, Tokenizer]:
        with self._lock:
            if self._closed:
                raise ClosedError("the embedder is closed")
            if self._table is None or self._tok is None:
                try:
                    self._table, self._tok = self._load()
                except MVSError:
                    raise
                except Exception as e:
                    raise EmbeddingError(
                        f"static model failed: {type(e).__name__}: {e}",
                        hint="delete the mcp-vector-search model cache and retry",
                    ) from e
            return self._table, self._tok

    def _load(self) -> tuple[np.ndarray, Tokenizer]:
        from tokenizers import Tokenizer

        from .onnx_minilm import _default_model_dir

        model_dir = self._model_dir or _default_model_dir()
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        return load_or_build_table(model_dir, self._cache_dir), tok
