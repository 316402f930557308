"""A deterministic, dependency-free embedder for tests: hashed bag of words, 64 dimensions.

Texts that share words (or identifier parts: `readFile` and `read_file` both yield `read`
and `file`) get similar vectors, so search tests are meaningful without loading a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import ClosedError

DIMENSIONS = 64
MAX_TOKENS = 256

# Words (identifiers included) and single punctuation marks, as a BERT-ish pre-tokenizer would.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")

# Returned for texts with no words, so every row is unit length as the protocol promises.
_EMPTY_VECTOR = np.full(DIMENSIONS, 1.0 / np.sqrt(DIMENSIONS), dtype=np.float32)


@lru_cache(maxsize=65536)
def _bucket(feature: str) -> tuple[int, float]:
    # blake2b, not hash(): Python's str hash is salted per process, and vectors written to an
    # index by one process must match queries embedded by another.
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % DIMENSIONS, (1.0 if (h >> 63) & 1 else -1.0)


def _split_identifier(word: str) -> list[str]:
    """`parseHTTPResponse2_fast` -> parse, HTTP, Response, 2, fast (any script's letters)."""
    parts: list[str] = []
    for piece in word.split("_"):
        start = 0
        for i in range(1, len(piece)):
            prev, cur = piece[i - 1], piece[i]
            nxt = piece[i + 1] if i + 1 < len(piece) else ""
            if (
                (prev.islower() and cur.isupper())  # camel|Case
                or (prev.isupper() and cur.isupper() and nxt.islower())  # HTTP|Response
                or (prev.isdigit() != cur.isdigit())  # utf|8, 2|fast
            ):
                parts.append(piece[start:i])
                start = i
        if piece[start:]:
            parts.append(piece[start:])
    return parts


def _features(word: str) -> list[str]:
    """The lower-cased word plus, for compound identifiers, each of its parts."""
    whole = word.lower()
    parts = [p.lower() for p in _split_identifier(word)]
    if not parts:
        return []  # "_", "__": placeholders, no meaning to match on
    return [whole, *(p for p in parts if p != whole)]


class FakeEmbedder:
    model_id: str = "fake-hashing-64"
    dimensions: int = DIMENSIONS
    max_tokens: int = MAX_TOKENS

    def __init__(self) -> None:
        self._closed = False
        # It has no model to drop, but keeps the real one's released/loaded cycle so the
        # search daemon's release can be tested with it.
        self.loaded = False

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        texts = self._open_and_valid(texts)
        self.loaded = True
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._embed_one(text)
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        texts = self._open_and_valid(texts)
        # +2 for the [CLS]/[SEP] a real model adds, so window arithmetic matches MiniLM's.
        return [len(_TOKEN_RE.findall(t)) + 2 for t in texts]

    def release(self) -> None:
        self.loaded = False

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> FakeEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_and_valid(self, texts: Sequence[str]) -> list[str]:
        if self._closed:
            raise ClosedError("the embedder is closed")
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not a string")
        out = list(texts)
        for t in out:
            if not isinstance(t, str):
                raise TypeError(f"texts must be strings, got {type(t).__name__}")
        return out

    def _embed_one(self, text: str) -> np.ndarray:
        vec = np.zeros(DIMENSIONS, dtype=np.float64)
        # Like the real model, only the window's worth of tokens counts (special tokens aside).
        for tok in _TOKEN_RE.findall(text)[: MAX_TOKENS - 2]:
            if not (tok[0].isalnum() or tok[0] == "_"):
                continue  # punctuation is in every code chunk; hashing it would only add noise
            for feature in _features(tok):
                bucket, sign = _bucket(feature)
                vec[bucket] += sign
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            return _EMPTY_VECTOR
        return (vec / norm).astype(np.float32)
