"""Build the all-MiniLM-L6-v2 sentence encoder as an ONNX graph straight from safetensors.

The graph is written with the `onnx` helper API so that no torch export is ever needed:
the weights come from the model package's `model.safetensors`, the graph mirrors
`transformers.BertModel` (post-LN, erf GELU, absolute positions, token type 0) followed by
sentence-transformers' mean pooling and L2 normalisation, so one session run returns the
final sentence embeddings.

The built model is cached on disk, keyed by the weights file's size and mtime and by
`GRAPH_BUILDER_VERSION`, so rebuilding happens only when either changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

# `onnx` (~0.4 s to import) and safetensors are imported only when a graph is actually built,
# so loading a cached model costs neither.

# Bump whenever the graph produced for the same weights changes, so stale caches are ignored.
GRAPH_BUILDER_VERSION = "1"

OPSET = 17  # first opset with LayerNormalization
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT = "sentence_embedding"


@dataclass(frozen=True)
class BertConfig:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    eps: float
    max_positions: int

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> BertConfig:
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        # The graph hard-codes BERT's layout; refuse configs it would silently mis-run.
        if cfg.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {cfg.get('hidden_act')!r}")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        return cls(
            hidden=int(cfg["hidden_size"]),
            layers=int(cfg["num_hidden_layers"]),
            heads=int(cfg["num_attention_heads"]),
            intermediate=int(cfg["intermediate_size"]),
            eps=float(cfg.get("layer_norm_eps", 1e-12)),
            max_positions=int(cfg["max_position_embeddings"]),
        )


class _GraphBuilder:
    """Accumulates nodes and initializers; names are generated so they never collide."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, name: str, value: np.ndarray) -> str:
        # Not np.ascontiguousarray: it turns 0-d scalars into shape [1], which changes
        # Gather's output rank.
        arr = value if value.flags.c_contiguous else value.copy(order="C")
        self.inits.append(self._numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(self._helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def build_model(model_dir: Path) -> onnx.ModelProto:
    """Return the sentence-embedding graph for the BERT checkpoint in `model_dir`."""
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    cfg = BertConfig.from_model_dir(model_dir)
    w = load_file(str(model_dir / "model.safetensors"))
    # Older checkpoints prefix every tensor with "bert."; accept both spellings.
    w = {k.removeprefix("bert."): v for k, v in w.items()}

    hid, heads = cfg.hidden, cfg.heads
    head_dim = hid // heads
    g = _GraphBuilder()

    def f32(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float32)

    def linear_w(prefix: str) -> np.ndarray:
        # torch Linear stores [out, in]; MatMul wants [in, out].
        return f32(w[f"{prefix}.weight"]).T

    def linear(x: str, prefix: str, hint: str) -> str:
        y = g.op("MatMul", [x, g.const(f"{hint}_w", linear_w(prefix))], f"{hint}_mm")
        return g.op("Add", [y, g.const(f"{hint}_b", f32(w[f"{prefix}.bias"]))], hint)

    def layer_norm(x: str, prefix: str, hint: str) -> str:
        gamma = g.const(f"{hint}_w", f32(w[f"{prefix}.weight"]))
        beta = g.const(f"{hint}_b", f32(w[f"{prefix}.bias"]))
        return g.op("LayerNormalization", [x, gamma, beta], hint, axis=-1, epsilon=cfg.eps)

    # --- shapes derived at run time --------------------------------------------------------
    ids_shape = g.op("Shape", [INPUT_IDS], "ids_shape")
    idx0 = g.const("idx0", np.array([0], dtype=np.int64))
    idx1 = g.const("idx1", np.array([1], dtype=np.int64))
    batch = g.op("Gather", [ids_shape, idx0], "batch", axis=0)  # [1]
    seq = g.op("Gather", [ids_shape, idx1], "seq", axis=0)  # [1]

    # --- embeddings ------------------------------------------------------------------------
    word_table = g.const("word_emb", f32(w["embeddings.word_embeddings.weight"]))
    word = g.op("Gather", [word_table, INPUT_IDS], "word")  # [B, S, H]
    # Every input uses token type 0, so its embedding is a constant folded into positions.
    pos_table = (
        f32(w["embeddings.position_embeddings.weight"])
        + f32(w["embeddings.token_type_embeddings.weight"])[0]
    )
    pos = g.op("Slice", [g.const("pos_emb", pos_table), idx0, seq, idx0], "pos")  # [S, H]
    emb = g.op("Add", [word, pos], "emb_sum")
    # The encoder works on [B*S, H]: 2-D MatMul+Add fuse into Gemm (bias inside the GEMM)
    # and only attention needs the per-sequence 4-D view.
    emb = g.op("Reshape", [emb, g.const("shape_nh", np.array([-1, hid], np.int64))], "emb_2d")
    hidden = layer_norm(emb, "embeddings.LayerNorm", "emb_ln")

    # --- attention mask as an additive bias [B, 1, 1, S] ----------------------------------
    mask_f = g.op("Cast", [ATTENTION_MASK], "mask_f", to=TensorProto.FLOAT)  # [B, S]
    mask_4d = g.op("Unsqueeze", [mask_f, g.const("axes_1_2", np.array([1, 2], np.int64))])
    one = g.const("one", np.array(1.0, np.float32))
    inv = g.op("Sub", [one, mask_4d], "mask_inv")
    # transformers uses finfo(float32).min; any value that underflows exp() gives the same 0.
    neg = g.const("mask_neg", np.array(np.finfo(np.float32).min, np.float32))
    mask_bias = g.op("Mul", [inv, neg], "mask_bias")

    # [B, S, 3, heads, d]: Q, K and V for every head from one packed projection.
    shape_qkv = g.op(
        "Concat",
        [batch, seq, g.const("qkv_dims", np.array([3, heads, head_dim], np.int64))],
        "shape_qkv",
        axis=0,
    )
    scale = g.const("attn_scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    sqrt2 = g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    gather_idx = [g.const(f"qkv_idx{j}", np.array(j, np.int64)) for j in range(3)]

    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        names = ("query", "key", "value")
        # One [H, 3H] projection instead of three [H, H] ones: a wider GEMM runs faster.
        qkv_w = np.concatenate([linear_w(f"{p}.attention.self.{n}") for n in names], axis=1)
        qkv_b = np.concatenate([f32(w[f"{p}.attention.self.{n}.bias"]) for n in names])
        qkv = g.op("MatMul", [hidden, g.const(f"l{i}_qkv_w", qkv_w)], f"l{i}_qkv_mm")
        qkv = g.op("Add", [qkv, g.const(f"l{i}_qkv_b", qkv_b)], f"l{i}_qkv")  # [N, 3H]
        qkv = g.op("Reshape", [qkv, shape_qkv], f"l{i}_qkv_5d")
        qkv = g.op("Transpose", [qkv], f"l{i}_qkv_t", perm=[2, 0, 3, 1, 4])  # [3, B, h, S, d]
        q, k, v = (
            g.op("Gather", [qkv, gather_idx[j]], f"l{i}_{'qkv'[j]}", axis=0) for j in range(3)
        )
        # A transpose of the last two axes folds into the MatMul (FusedMatMul transB).
        k_t = g.op("Transpose", [k], f"l{i}_kt", perm=[0, 1, 3, 2])
        scores = g.op("MatMul", [q, k_t], f"l{i}_scores")  # [B, h, S, S]
        scores = g.op("Mul", [scores, scale], f"l{i}_scaled")
        scores = g.op("Add", [scores, mask_bias], f"l{i}_masked")
        probs = g.op("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = g.op("MatMul", [probs, v], f"l{i}_ctx")  # [B, h, S, d]
        ctx = g.op("Transpose", [ctx], f"l{i}_ctx_t", perm=[0, 2, 1, 3])  # [B, S, h, d]
        ctx = g.op("Reshape", [ctx, "shape_nh"], f"l{i}_ctx_2d")  # [N, H]
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}_attn_out")
        res = g.op("Add", [attn, hidden], f"l{i}_attn_res")
        hidden = layer_norm(res, f"{p}.attention.output.LayerNorm", f"l{i}_ln1")

        ff = linear(hidden, f"{p}.intermediate.dense", f"l{i}_ff1")
        # Exact (erf) GELU, spelled the way torch exports it so ORT's Gelu fusion matches.
        erf = g.op("Erf", [g.op("Div", [ff, sqrt2])], f"l{i}_erf")
        gelu = g.op("Mul", [g.op("Mul", [ff, g.op("Add", [erf, one])]), half], f"l{i}_gelu")
        ff = linear(gelu, f"{p}.output.dense", f"l{i}_ff2")
        res = g.op("Add", [ff, hidden], f"l{i}_ffn_res")
        hidden = layer_norm(res, f"{p}.output.LayerNorm", f"l{i}_ln2")

    # --- mean pooling over real tokens, then L2 normalisation ----------------------------
    shape_bsh = g.op(
        "Concat", [batch, seq, g.const("hid_dim", np.array([hid], np.int64))], "shape_bsh", axis=0
    )
    hidden = g.op("Reshape", [hidden, shape_bsh], "last_hidden")  # [B, S, H]
    # [B, 1, S] @ [B, S, H] sums the unmasked token vectors in one batched GEMM.
    m = g.op("Unsqueeze", [mask_f, idx1], "mask_b1s")
    summed = g.op("MatMul", [m, hidden], "pool_sum")  # [B, 1, H]
    summed = g.op("Squeeze", [summed, idx1], "pool_sum_sq")  # [B, H]
    count = g.op("ReduceSum", [mask_f, idx1], "mask_count", keepdims=1)  # [B, 1]
    # sentence-transformers clamps the token count at 1e-9 so an all-zero mask cannot divide by 0.
    count = g.op("Max", [count, g.const("count_eps", np.array(1e-9, np.float32))])
    mean = g.op("Div", [summed, count], "pool_mean")
    sq = g.op("ReduceSumSquare", [mean], "sq_norm", axes=[1], keepdims=1)
    norm = g.op("Sqrt", [sq], "norm")
    # torch.nn.functional.normalize uses max(norm, 1e-12) as the divisor.
    norm = g.op("Max", [norm, g.const("norm_eps", np.array(1e-12, np.float32))])
    out = g.op("Div", [mean, norm], "normalized")
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT], name="output"))

    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2_sentence_embedding",
        [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", hid])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="mcp-vector-search",
        producer_version=GRAPH_BUILDER_VERSION,
    )
    # Pin the IR version to one every supported onnxruntime (>=1.20) can load.
    model.ir_version = 8
    return model


def default_cache_dir() -> Path:
    """$MVS_CACHE_DIR, else $XDG_CACHE_HOME/mcp-vector-search, else ~/.cache/mcp-vector-search."""
    explicit = os.environ.get("MVS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mcp-vector-search"


def cache_key(model_dir: Path, variant: str = "") -> str:
    """Digest of what determines the graph: the weights file's identity, this builder and,
    for a derived graph (a quantized one), the recipe that derives it."""
    st = (model_dir / "model.safetensors").stat()
    raw = f"{st.st_size}:{st.st_mtime_ns}:{GRAPH_BUILDER_VERSION}"
    if variant:
        raw += f":{variant}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def cached_model_path(
    model_dir: Path, name: str, cache_dir: Path | None = None, variant: str = ""
) -> Path:
    base = cache_dir if cache_dir is not None else default_cache_dir()
    return base / "models" / f"{name}-{cache_key(model_dir, variant)}.onnx"


def load_or_build(
    model_dir: Path,
    name: str,
    cache_dir: Path | None = None,
    *,
    rebuild: bool = False,
    variant: str = "",
    build: Callable[[], bytes] | None = None,
    as_path: bool = False,
) -> tuple[bytes | str, bool]:
    """Return (serialized model, came from cache), building and caching it when needed.

    Bytes rather than a path: once read, a concurrent rebuild or cache cleanup cannot pull the
    file from under onnxruntime, and the unwritable-cache case needs no separate code path.
    `rebuild=True` ignores the cached file (the caller found it unloadable). `build` makes a
    derived graph (named `name`, keyed by `variant` too) instead of the fp32 one.

    `as_path=True` returns a cached file's path instead of its bytes: onnxruntime loading
    from a path peaks 120 MB lower (measured: 185 vs 305 MB for a session and one query),
    which is most of a cold search's memory. A file pulled away before onnxruntime opens
    it fails to load, and the caller then rebuilds (rebuild=True), as for a corrupt file.
    """
    target = cached_model_path(model_dir, name, cache_dir, variant)
    if as_path and not rebuild and target.is_file():
        with contextlib.suppress(OSError):
            os.utime(target)
        return str(target), True
    if not rebuild:
        try:
            data = target.read_bytes()
        except OSError:
            pass
        else:
            with contextlib.suppress(OSError):
                # Marks the file as in use, so another install's pruning leaves it alone.
                os.utime(target)
            return data, True
    data = build() if build is not None else build_model(model_dir).SerializeToString()
    with contextlib.suppress(OSError):
        # An unwritable or full cache only costs a rebuild next time.
        _write_atomic(target, data)
        _prune_stale(target, name)
    return data, False


# A cached graph unused this long belongs to weights no longer installed (an upgraded model
# package changes the key); younger ones may be another virtualenv's, still in use.
STALE_MODEL_S = 30 * 24 * 3600
# Temp files this old are leftovers of a build that was killed mid-write.
STALE_TMP_S = 24 * 3600


def _prune_stale(keep: Path, name: str) -> None:
    now = time.time()
    for p in keep.parent.iterdir():
        if p == keep:
            continue
        if p.name.startswith(f"{name}-") and p.suffix == ".onnx":
            limit = STALE_MODEL_S
        elif p.name.startswith(f".{name}-") and p.suffix == ".tmp":
            limit = STALE_TMP_S
        else:
            continue
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > limit:
                p.unlink()


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: readers see either no file or a whole one, even
    # when two processes build at once (the last rename wins; both wrote identical bytes).
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
