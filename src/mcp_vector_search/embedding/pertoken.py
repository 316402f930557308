"""Per-token int8 for the MiniLM graph's weight MatMuls, in plain ONNX ops.

ONNX Runtime's dynamic quantization (DynamicQuantizeMatMul) gives a MatMul's whole input
one scale: one outlier token sets the step for every token of the text. Here each row
(token) of the [tokens, hidden] input gets its own scale and zero point (ZeroQuant, Yao et
al. 2022, arXiv:2206.01861) through QuantizeLinear per axis, the weights one scale per
output channel, and the product runs as MatMulIntegerToFloat, u8 x s8, the column scales
applied in the GEMM's epilogue: u8 x s8 is the one integer kernel that is fast on x86
(measured, [125, 384] x [384, 1536]: 0.27 ms against 1.7 ms for u8 x u8, 8 ms for s8 x s8).

The integer GEMM takes one activation zero point only, so rows are quantized against their
own zero points and those come off after the product, exactly:
    x ~ (q - z_r) * s_r,   w ~ W_c * t_c
    x @ w ~ s_r * ((q @ W) * t_c - z_r * sum_k W[k, c] * t_c)
FFN-out inputs are GELU outputs, never below -0.17: shifted by +0.17 they need no zero
point, and the shift's share of the product leaves through the bias ("shift" layout).
Rows are independent, so a text's vector does not depend on what shares its run.

Weights take 7 bits ([-64, 64]) by default: x86 CPUs without VNNI add adjacent u8 x s8
products in saturating 16-bit sums, and 2 * 255 * 64 < 32767 keeps those exact. (8-bit
weights were more accurate but ran at ~40 % of the 7-bit speed on this onnxruntime, 1.32.)

quantize.py builds the shipped int8 graph with this; bench/quant_probe.py its pt* variants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _weight_matmuls(model: Any) -> list[Any]:
    inits = {i.name for i in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]


def _quantize_weight(
    w: np.ndarray, qmax: int, importance: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 of w [in, out]: (codes, scales). With `importance`
    (per input channel, e.g. the calibrated max |x|), each channel's clipping range is the
    one of 0.70-1.00 x max|w| that minimizes the importance-weighted squared error."""
    amax = np.maximum(np.abs(w).max(axis=0), 1e-12)
    if importance is None:
        ratios = np.ones(1, np.float32)
    else:
        ratios = np.linspace(0.7, 1.0, 31, dtype=np.float32)
    imp = np.ones(w.shape[0], np.float32) if importance is None else importance.astype(np.float32)
    imp2 = (imp**2)[:, None]
    best_err = np.full(w.shape[1], np.inf, np.float32)
    best_scale = amax / qmax
    for r in ratios:
        scale = amax * r / qmax
        q = np.clip(np.round(w / scale), -qmax, qmax)
        err = (imp2 * (q * scale - w) ** 2).sum(axis=0)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_scale = np.where(better, scale, best_scale)
    codes = np.clip(np.round(w / best_scale), -qmax, qmax).astype(np.int8)
    return codes, best_scale.astype(np.float32)


GELU_SHIFT = 0.17  # GELU(x) >= -0.16997 (at x = -0.7518): x + 0.17 is never negative
_ROW_CONSTS: dict[str, np.ndarray] = {
    "pt_zero": np.array(0.0, np.float32),
    "pt_one": np.array(1.0, np.float32),
    "pt_eps": np.array(1e-8, np.float32),
    "pt_rows": np.array([-1], np.int64),
    "pt_shift": np.array(GELU_SHIFT, np.float32),
    "pt_mid": np.array(128.0, np.float32),
}


def _quantize_rows(
    op: Callable[..., str], x: str, style: str, act_bits: int
) -> tuple[str, str, str]:
    """u8 rows of x (QuantizeLinear, one scale and zero point per row): (codes, scale [rows,
    1], zero point: [rows, 1] float for asym, scalar u8 for sym, unused for shift)."""
    from onnx import TensorProto

    q = f"{x}_pt{style}{act_bits}"
    levels = float(2**act_bits - 1)
    op("Constant", [], f"{q}_levels", value_float=levels if style != "sym" else levels / 2)
    if style == "shift":
        x = op("Add", [x, "pt_shift"], f"{q}_x")
        hi = op("ReduceMax", [x], f"{q}_max", axes=[-1], keepdims=1)
        scale = op("Max", [op("Div", [hi, f"{q}_levels"], f"{q}_scale0"), "pt_eps"], f"{q}_scale")
        zp = op("Mul", [op("Reshape", [scale, "pt_rows"], f"{q}_s1z"), "pt_zero"], f"{q}_zpf")
    elif style == "sym":
        hi = op("ReduceMax", [op("Abs", [x], f"{q}_abs")], f"{q}_max", axes=[-1], keepdims=1)
        scale = op("Max", [op("Div", [hi, f"{q}_levels"], f"{q}_scale0"), "pt_eps"], f"{q}_scale")
        s1 = op("Reshape", [scale, "pt_rows"], f"{q}_s1z")
        zp = op("Add", [op("Mul", [s1, "pt_zero"], f"{q}_zp0"), "pt_mid"], f"{q}_zpf")
    else:
        hi = op("ReduceMax", [x], f"{q}_max", axes=[-1], keepdims=1)
        lo = op("ReduceMin", [x], f"{q}_min", axes=[-1], keepdims=1)
        hi, lo = op("Max", [hi, "pt_zero"], f"{q}_hi"), op("Min", [lo, "pt_zero"], f"{q}_lo")
        span = op("Div", [op("Sub", [hi, lo], f"{q}_span"), f"{q}_levels"], f"{q}_scale0")
        scale = op("Max", [span, "pt_eps"], f"{q}_scale")
        zp = op("Round", [op("Div", [op("Neg", [lo], f"{q}_nlo"), scale], f"{q}_zpr")], f"{q}_zp")
    zp8 = op("Cast", [op("Reshape", [zp, "pt_rows"], f"{q}_zp1")], f"{q}_zp8", to=TensorProto.UINT8)
    s1 = op("Reshape", [scale, "pt_rows"], f"{q}_s1")
    xq = op("QuantizeLinear", [x, s1, zp8], f"{q}_u8", axis=0)
    if style == "sym":
        mid = op("Constant", [], f"{q}_mid8", value=_u8_scalar(128))
        return xq, scale, mid
    return xq, scale, zp


def _u8_scalar(v: int) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(v, np.uint8))


def quantize_per_token(
    model_bytes: bytes,
    *,
    select: Callable[[str], bool] | None = None,
    weight_bits: int = 7,
    act_bits: int = 8,
    importance: dict[str, np.ndarray] | None = None,
    layout: Callable[[str], str] | None = None,
    bits: Callable[[str], tuple[int, int]] | None = None,
) -> bytes:
    """`model_bytes` with each weight MatMul (those `select` accepts by node name) per-token
    int8; the others are left as they are. `importance` (calibrated input-channel maxima by
    role name, smooth.load_calibration) turns on error-minimizing weight clipping."""
    import onnx
    from onnx import helper, numpy_helper

    from .smooth import _key

    model = onnx.load_from_string(model_bytes)
    inits = {i.name: i for i in model.graph.initializer}
    new_inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        new_inits.append(numpy_helper.from_array(value, name))
        return name

    one = "pt_one"
    for name, value in _ROW_CONSTS.items():
        const(name, value)
    # Activations quantized once per distinct input tensor (and style).
    quantized: dict[tuple[str, str], tuple[str, str, str]] = {}
    out_nodes: list[Any] = []

    def op(kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        domain = "com.microsoft" if kind == "MatMulIntegerToFloat" else None
        out_nodes.append(helper.make_node(kind, inputs, [out], name=out, domain=domain, **attrs))
        return out

    targets = {str(n.name) for n in _weight_matmuls(model) if select is None or select(n.name)}
    for node in model.graph.node:
        if node.name not in targets:
            out_nodes.append(node)
            continue
        x, w_name, y = node.input[0], node.input[1], node.output[0]
        p = node.name
        w = numpy_helper.to_array(inits[w_name]).astype(np.float32)  # [in, out]
        imp = importance.get(_key(p)) if importance is not None else None
        wbits, abits = bits(p) if bits is not None else (weight_bits, act_bits)
        # 7 bits: [-64, 64], whose pair sums with u8 activations stay below 2^15.
        wq, t = _quantize_weight(w, 2 ** (wbits - 1) - (1 if wbits == 8 else 0), imp)
        wq_name = const(f"{p}_wq", wq)
        t_name = const(f"{p}_wscale", t)
        # The rows' zero points, taken off after the product: z_r * sum_k W[k, c] * t_c.
        zc_name = const(f"{p}_wzc", (wq.astype(np.float32).sum(axis=0) * t).astype(np.float32))

        style = layout(p) if layout is not None else "asym"
        key = (x, f"{style}{abits}")
        if key not in quantized:
            quantized[key] = _quantize_rows(op, x, style, abits)
        xq, scale, zp = quantized[key]
        bias_fix = None
        if style == "asym":
            # (q @ W) * t_c, scaled inside the GEMM's epilogue, less the rows' zero points.
            acc = op("MatMulIntegerToFloat", [xq, wq_name, one, t_name], f"{p}_acc")
            acc = op("Sub", [acc, op("Mul", [zp, zc_name], f"{p}_corr")], f"{p}_acc0")
        elif style == "sym":
            acc = op("MatMulIntegerToFloat", [xq, wq_name, one, t_name, zp], f"{p}_acc")
        else:  # shift: x + c >= 0, so zero point 0; c * sum_k w[k, c] leaves via the bias
            acc = op("MatMulIntegerToFloat", [xq, wq_name, one, t_name], f"{p}_acc")
            bias_fix = (GELU_SHIFT * wq.astype(np.float32).sum(axis=0) * t).astype(np.float32)
        out_nodes.append(helper.make_node("Mul", [acc, scale], [y], name=f"{p}_pt"))
        if bias_fix is not None:
            consumers = [n for n in model.graph.node if y in n.input and n.op_type == "Add"]
            assert len(consumers) == 1, p
            b_name = next(i for i in consumers[0].input if i in inits)
            b = numpy_helper.to_array(inits[b_name]).astype(np.float32)
            inits[b_name].CopyFrom(numpy_helper.from_array(b - bias_fix, b_name))
    used = {i for n in out_nodes for i in n.input}
    kept_inits = [i for i in model.graph.initializer if i.name in used]
    del model.graph.node[:]
    model.graph.node.extend(out_nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept_inits + [i for i in new_inits if i.name in used])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    data: bytes = model.SerializeToString()
    return data
