"""The int8 MiniLM graph: the fp32 graph with its weight MatMuls dynamically quantized.

The recipe is the one that kept fp32's neighbours best on real chunks (bench/quant_probe.py,
docs/benchmarks.md): SmoothQuant first (smooth.py: activation outliers moved into the
weights, with shipped calibration), then int8 weights with one scale per output channel
and 7-bit range (`reduce_range`), activations quantized per run.

Why 7-bit: on x86 CPUs without VNNI (AMD EPYC here) the u8 x s8 kernels add pairs of
products in saturating 16-bit sums, the cause of the 22 % neighbour drift of naive int8;
with 7-bit weights a pair sums to at most 2 * 255 * 64 = 32640 < 32767, so nothing
saturates. ONNX Runtime's `session.x64quantprecision` would avoid it too, by running the
slower u8 x u8 kernels on every CPU (1.1x fp32's speed here, against ~2.8x), so it is not set.
The attention products (scores, context) and the pooling multiply two activations, not
a weight; they stay fp32, as do LayerNorm, Softmax, GELU and the embedding tables.

Activations share one scale per session run, so a text's vector would depend on the texts
batched with it; the embedder therefore runs int8 one text at a time (see onnx_minilm).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

# Bump when the recipe or int8_calibration.npz changes: it is part of the cache key and of
# the recorded model id, so an index never mixes vectors of two recipes.
RECIPE = "int8-sq8-pc-rr-1"
ALPHA = 0.8  # SmoothQuant migration strength: best of 0.5-0.9 on real chunks


def quantize_int8(fp32: bytes) -> bytes:
    """The int8 graph for a serialized fp32 sentence-embedding graph."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .smooth import load_calibration, smooth

    smoothed = smooth(fp32, load_calibration(), ALPHA)
    model = onnx.load_from_string(smoothed)
    weights = {i.name for i in model.graph.initializer}
    activation_products = [
        n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights
    ]
    del model
    with tempfile.TemporaryDirectory(prefix="mvs-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(smoothed)
        # The quantizer logs advice ("consider pre-processing") on the root logger, which
        # with no handler configured lands on stderr of a CLI command.
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(
                src,
                dst,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=activation_products,
                per_channel=True,
                reduce_range=True,
                weight_type=QuantType.QInt8,
            )
        finally:
            logging.disable(previous)
        return dst.read_bytes()
