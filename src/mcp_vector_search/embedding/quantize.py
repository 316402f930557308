"""The int8 MiniLM graph: the fp32 graph with its weight MatMuls quantized per token.

The recipe is the one that kept fp32's neighbours best on real chunks at 7-bit weights
(bench/quant_probe.py, 2,000 chunks: mean cosine 0.998, top-10 neighbour overlap 0.954 for
chunks and 0.951 for dev queries, against 0.996 / 0.933 / 0.920 for the earlier recipe,
SmoothQuant with one activation scale per run, `int8-sq8-pc-rr-1`):

- every token (row) of a MatMul's input is quantized with its own scale and zero point
  (pertoken.py): a ~125-token text no longer shares one scale with its outlier token;
- weights are int8 per output channel in 7-bit range, each channel clipped where the
  error weighted by the calibrated input magnitudes (int8_calibration.npz) is least;
- layer 0's FFN-out MatMul stays fp32: its input carries the per-channel outliers that a
  per-token scale cannot help (keeping it fp32 took a quarter of all the remaining error;
  SmoothQuant on it alone, a third of that gain).

Why 7-bit: x86 CPUs without VNNI add pairs of u8 x s8 products in saturating 16-bit sums,
the cause of the 22 % neighbour drift of naive int8 there; with weights in [-64, 64] a pair
sums to at most 2 * 255 * 64 = 32640 < 32767, so nothing saturates on any CPU.
The attention products (scores, context) and the pooling multiply two activations, not a
weight; they stay fp32, as do LayerNorm, Softmax, GELU and the embedding tables.
"""

from __future__ import annotations

# Bump when the recipe or int8_calibration.npz changes: it is part of the cache key and of
# the recorded model id, so an index never mixes vectors of two recipes.
RECIPE = "int8-pt-w7-1"
FP32_MATMULS = ("l0_ff2_mm",)  # role names (onnx_graph) kept in fp32


def _kept(node: str) -> bool:
    return node.startswith(FP32_MATMULS)


def _layout(node: str) -> str:
    # FFN-out inputs are GELU outputs (>= -0.17): shifted, they need no zero point.
    return "shift" if "_ff2_mm" in node else "asym"


def quantize_int8(fp32: bytes) -> bytes:
    """The int8 graph for a serialized fp32 sentence-embedding graph."""
    from .pertoken import quantize_per_token
    from .smooth import load_calibration

    return quantize_per_token(
        fp32,
        select=lambda node: not _kept(node),
        layout=_layout,
        importance=load_calibration(),
    )
