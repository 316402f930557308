"""`status` for a person: a running job as one line, an interrupted run as such, and the
writer's side files (not the engine) as its source once a run has published them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from mcp_vector_search.embedding import INSTALL_WEIGHTS, model_label
from mcp_vector_search.records import IndexStatus, VectorCoverage
from mcp_vector_search.render import describe_progress, describe_vectors, status_text
from mcp_vector_search.status import vector_coverage
from tests.crashkit import (
    bad_markers,
    cli_env,
    make_corpus,
    progress_is,
    run_cli,
    signal_in_lexical_stage,
    start_index,
    wait_for,
)

IMPORTTIME = [sys.executable, "-X", "importtime", "-m", "mcp_vector_search"]


def status(env: dict[str, str], root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(env, "--project", str(root), "status", *extra)
    assert proc.returncode == 0 and not bad_markers(proc.stderr), proc.stderr
    return proc


def test_an_interrupted_first_run_says_so(tmp_path: Path) -> None:
    root, _idx, env, _err = signal_in_lexical_stage(tmp_path, signal.SIGINT)

    text = status(env, root).stdout
    last_run = next(line for line in text.splitlines() if line.startswith("last run:"))
    assert "interrupted while reading files at " in last_run and "/2,000 files" in last_run
    assert "never" not in text and "{" not in text and "indexing:" not in text
    data = json.loads(status(env, root, "--json").stdout)
    assert data["last_outcome"] == "interrupted" and data["indexing"] is None
    assert data["interrupted"]["phase"] == "lexical"
    vectors = data["vectors"]
    assert vectors["model"] == "fake" and vectors["model_id"] == data["model_id"]
    assert vectors["with_vectors"] == data["embedded"]
    assert vectors["lexical_only"] == data["chunks"] - data["embedded"]
    if vectors["lexical_only"]:  # chunks written before the interrupt wait for the next run
        assert vectors["reason"] == "embedding pending" and "index" in vectors["hint"]

    # Finished by the next run: a complete run again, counted from the writer's copy.
    assert run_cli(env, "index", str(root), "--quiet").returncode == 0
    done = subprocess.run(
        [*IMPORTTIME, "--project", str(root), "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(done.stdout)
    assert data["last_outcome"] == "complete" and data["interrupted"] is None
    assert data["chunks"] == data["embedded"] > 0 and data["stale_files"] == 0
    assert data["vectors"]["with_vectors"] == data["chunks"]
    assert data["vectors"]["lexical_only"] == 0 and data["vectors"]["reason"] is None
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "lancedb" not in imported
    assert "numpy" not in imported  # the vector line reads ids, never loads a model
    text = status(env, root).stdout
    chunks = f"{data['chunks']:,}"
    assert f"vectors:   fake (fake-hashing-64) {chunks} of {chunks} chunks\n" in text


def test_a_running_job_is_one_line_naming_its_holder(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "proj", files=3000, functions=1)
    idx = tmp_path / "idx"
    env = cli_env(idx, home=tmp_path)
    proc = start_index(root, env)
    try:
        assert wait_for(proc, progress_is(idx, "lexical", 1), timeout=120), proc.communicate()
        text = status(env, root).stdout
        # The lock was held before and (if it still runs) after: status saw the writer.
        if proc.poll() is None:
            line = next(ln for ln in text.splitlines() if ln.startswith("indexing:"))
            assert line.startswith("indexing:  reading files ") and "/3,000 files (" in line
            assert f"by pid {proc.pid} " in line and "(index, since" in line
            assert "{" not in text
        data = json.loads(status(env, root, "--json").stdout)
        if data["indexing"] is not None and data["vectors"]["lexical_only"]:
            assert data["vectors"]["reason"] == "embedding in progress"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def test_progress_lines_are_written_for_people() -> None:
    rec: dict[str, object] = {
        "phase": "embed",
        "unit": "chunks",
        "done": 1200,
        "total": 3142,
        "rate": 25.13,
        "eta_seconds": 77.3,
        "holder": "pid 7 on box (mcp, since 2026-12-01 10:00:00)",
    }
    assert describe_progress(rec) == (
        "embedding 1,200/3,142 chunks (38%), 25.1 chunks/s, ETA 1m 17s;"
        " by pid 7 on box (mcp, since 2026-12-01 10:00:00)"
    )
    assert describe_progress({"phase": "optimize"}) == "compacting the index"
    never = IndexStatus("/p", "/p/.i", 0, 0, 0)
    assert "last run:  never" in status_text(never)
    cut = IndexStatus(
        "/p",
        "/p/.i",
        1,
        2,
        0,
        last_outcome="interrupted",
        interrupted={"phase": "embed", "unit": "chunks", "done": 5, "total": 10, "updated": 0},
    )
    assert "last run:  interrupted while embedding at 5/10 chunks (50%)" in status_text(cut)


def test_vector_lines_say_model_precision_and_why_chunks_lack_vectors() -> None:
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    int8 = f"{minilm}@int8-sq8-pc-rr-1"
    assert model_label(minilm) == "minilm-fp32" and model_label(int8) == "minilm-int8"
    assert model_label(f"{minilm}@static-pca256-sif1e-4-1") == "static"
    assert model_label("fake-hashing-64") == "fake"
    pending = VectorCoverage("minilm-int8", int8, 3124, 18, "embedding pending", "run `x`")
    assert describe_vectors(pending) == (
        f"minilm-int8 ({int8}) 3,124 of 3,142 chunks; 18 lexical only (embedding pending); run `x`"
    )
    busy = vector_coverage("fake-hashing-64", 10, 4, writing=True)
    assert (busy.with_vectors, busy.lexical_only, busy.reason, busy.hint) == (
        4,
        6,
        "embedding in progress",
        None,
    )
    assert vector_coverage("fake-hashing-64", 10, 10, writing=False).reason is None
    missing = VectorCoverage("minilm-fp32", minilm, 0, 40, "weights not installed", INSTALL_WEIGHTS)
    assert describe_vectors(missing) == (
        f"no minilm-fp32 vectors: weights not installed; search is lexical only; {INSTALL_WEIGHTS}"
    )
    st = IndexStatus("/p", "/p/.i", 1, 40, 0, model_id=minilm, vectors=missing)
    assert "vectors:   no minilm-fp32 vectors: weights not installed" in status_text(st)
