"""The int8 MiniLM graph: the fp32 graph with its weight MatMuls dynamically quantized.

The recipe is the one that kept fp32's neighbours on real chunks (bench/quant_probe.py,
docs/benchmarks.md): int8 weights with one scale per output channel and 7-bit range
(`reduce_range`), activations quantized per run. 7-bit weights keep u8 x s8 pair sums
below the 16-bit saturation of the AVX2 kernels that CPUs without VNNI use (the cause of
the 22 % neighbour drift of naive int8 measured on AMD EPYC); the session also sets
`session.x64quantprecision`, which on such CPUs swaps in the exact u8 x u8 kernels.
The attention products (scores, context) and the pooling multiply two activations, not
a weight; they stay fp32, as do LayerNorm, Softmax, GELU and the embedding tables.

Activations share one scale per session run, so a text's vector would depend on the texts
batched with it; the embedder therefore runs int8 one text at a time (see onnx_minilm).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

# Bump when the recipe changes: it is part of the cache key and of the recorded model id,
# so an index never mixes vectors of two recipes.
RECIPE = "int8-dyn-pc-rr-1"


def quantize_int8(fp32: bytes) -> bytes:
    """The int8 graph for a serialized fp32 sentence-embedding graph."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(fp32)
    weights = {i.name for i in model.graph.initializer}
    activation_products = [
        n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] not in weights
    ]
    del model
    with tempfile.TemporaryDirectory(prefix="mvs-quant-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
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
