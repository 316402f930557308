"""SmoothQuant for the MiniLM graph: move activation outliers into the weights before int8.

Dynamic int8 quantizes each MatMul input with one scale for the whole tensor, so a few
outlier channels (BERT's LayerNorm and GELU outputs have them) leave every other channel
with a handful of levels. SmoothQuant (Xiao et al. 2023, arXiv:2211.10438) divides input
channel j by s_j and multiplies the weight's row j by s_j, with
s_j = max|X_j|^a / max|W_j|^(1-a): the product is unchanged in exact arithmetic, and both
factors quantize evenly.

The channel maxima come from running the fp32 graph on real chunks (`calibrate`, run by
bench/calibrate_int8.py); they ship with the package (int8_calibration.npz) so every
install derives the same int8 graph, hence the same vectors, from the same weights.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("int8_calibration.npz")
_SUFFIX = re.compile(r"_\d+$")


def _key(node_name: str) -> str:
    """`l3_ff2_mm_412` -> `l3_ff2_mm`: the builder's role name, without its running number."""
    return _SUFFIX.sub("", node_name)


def _weight_matmuls(model: Any) -> list[Any]:
    inits = {i.name for i in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]


def calibrate(
    fp32: bytes, texts: Sequence[str], tokenizer_file: Path, max_tokens: int
) -> dict[str, np.ndarray]:
    """Per-input-channel max |x| of every weight MatMul's input over `texts`, by role name."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    model = onnx.load_from_string(fp32)
    targets = _weight_matmuls(model)
    inputs = sorted({n.input[0] for n in targets})
    for name in inputs:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    # No fusion: the tensors to observe must survive as they are in the source graph.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(tokenizer_file))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    amax: dict[str, np.ndarray] = {}
    for text in texts:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        outs = sess.run(inputs, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for name, x in zip(inputs, outs, strict=True):
            m = np.abs(x.reshape(-1, x.shape[-1])).max(axis=0)
            prev = amax.get(name)
            amax[name] = m if prev is None else np.maximum(prev, m)
    return {_key(n.name): amax[n.input[0]].astype(np.float32) for n in targets}


def load_calibration(path: Path = CALIBRATION_FILE) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: np.asarray(data[k], dtype=np.float32) for k in data.files}


def smooth(
    fp32: bytes,
    amax: dict[str, np.ndarray],
    alpha: float,
    *,
    select: Callable[[str], bool] | None = None,
) -> bytes:
    """The graph `fp32` with every weight MatMul's input (those `select` accepts, by node
    name) smoothed by its channel maxima."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(fp32)
    inits = {i.name: i for i in model.graph.initializer}
    targets = [n for n in _weight_matmuls(model) if select is None or select(n.name)]
    missing = sorted({_key(n.name) for n in targets} - set(amax))
    if missing:
        raise ValueError(f"no calibration for {missing[:3]} (graph and calibration differ)")
    for node in targets:
        w_init = inits[node.input[1]]
        w = numpy_helper.to_array(w_init).astype(np.float32)  # [in, out]
        a = np.maximum(amax[_key(node.name)], 1e-5)
        wmax = np.maximum(np.abs(w).max(axis=1), 1e-5)
        s = np.clip(a**alpha / wmax ** (1 - alpha), 1e-3, 1e3).astype(np.float32)
        w_init.CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), w_init.name))
        inv = numpy_helper.from_array((1.0 / s).astype(np.float32), f"{node.name}_smooth_inv")
        model.graph.initializer.append(inv)
        smoothed = f"{node.name}_smoothed"
        mul = helper.make_node("Mul", [node.input[0], inv.name], [smoothed], name=smoothed)
        model.graph.node.insert(list(model.graph.node).index(node), mul)
        node.input[0] = smoothed
    data: bytes = model.SerializeToString()
    return data
