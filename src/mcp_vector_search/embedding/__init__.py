"""Embedders: the protocol, the length-bucketed batching base, and backend lookup.

Only `embedding/<backend>.py` modules import an ML runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Batch of texts in, L2-normalised float32 vectors out."""

    model_id: str
    dimensions: int
    max_tokens: int  # the model's window, special tokens included

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimensions), dtype float32, rows unit length."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes in the model's window (special tokens included)."""
        ...

    def close(self) -> None: ...


def create_embedder(name: str) -> Embedder:
    """Build an embedder by config name; heavy runtimes are imported only here, lazily."""
    if name == "fake":
        from .fake import FakeEmbedder

        return FakeEmbedder()
    if name in ("minilm", "all-minilm-l6-v2", "default"):
        from .onnx_minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    from ..errors import ConfigError

    raise ConfigError(f"unknown embedding model {name!r}", hint="use 'minilm' (default) or 'fake'")
