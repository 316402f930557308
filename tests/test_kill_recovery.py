"""kill -9 at any moment: the index still opens, searches work, and the next `index`
converges to exactly what a clean run builds.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from mcp_vector_search import snapshot
from tests.crashkit import (
    bad_markers,
    cli_env,
    fingerprint,
    make_corpus,
    progress_is,
    run_cli,
    start_index,
    wait_for,
)


def data_files(index_dir: Path) -> int:
    """Data files the store has written (committed or not) across its tables."""
    total = 0
    for table in ("chunks", "files", "vectors"):
        try:
            total += len(os.listdir(index_dir / f"{table}.lance" / "data"))
        except FileNotFoundError:
            pass
    return total


def search_ok(env: dict[str, str], root: Path) -> None:
    proc = run_cli(env, "--project", str(root), "search", "archive the ledger", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not bad_markers(proc.stderr), proc.stderr
    json.loads(proc.stdout)


def test_kill_9_mid_write_and_mid_embedding_then_the_rerun_converges(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "proj", files=800, functions=2)
    idx, ref = tmp_path / "idx", tmp_path / "ref"
    env = cli_env(idx, home=tmp_path)
    clean = run_cli(cli_env(ref, home=tmp_path), "index", str(root), "--quiet")
    assert clean.returncode == 0, clean.stderr
    reference = fingerprint(ref)

    # 1. The instant a new data file appears: the store is in the middle of a write.
    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "lexical"), timeout=120), proc.communicate()
    before = data_files(idx)
    assert wait_for(proc, lambda: data_files(idx) > before, timeout=120, poll=0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    search_ok(env, root)
    assert not fingerprint(idx).duplicate_chunks
    status = run_cli(env, "--project", str(root), "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["indexing"] is None  # the dead run isn't "indexing"

    # 2. In the embedding stage; the lock of the killed run is simply taken over.
    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "embed"), timeout=120), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    search_ok(env, root)

    # 3. The next run converges to the clean index, exactly.
    rerun = run_cli(env, "index", str(root), "--quiet")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    assert fingerprint(idx) == reference
    assert not reference.problems()


def test_a_half_created_index_is_rebuilt_and_a_missing_text_index_repaired(
    tmp_path: Path,
) -> None:
    """What a kill between two steps of creating an index leaves behind.

    Tables without meta.json (killed before the last step) are no index yet; a chunks
    table without its full-text index (two commits) is mended by the next writer.
    """
    import lancedb

    root = make_corpus(tmp_path / "proj", files=20, functions=2)
    idx = tmp_path / "idx"
    env = cli_env(idx, home=tmp_path)
    assert run_cli(env, "index", str(root), "--quiet").returncode == 0
    reference = fingerprint(idx)
    (idx / "meta.json").unlink()

    found = run_cli(env, "--project", str(root), "search", "retry the upload")
    assert found.returncode == 3 and not bad_markers(found.stderr), found.stderr
    assert len(found.stderr.strip().splitlines()) <= 2  # the error and its hint
    again = run_cli(env, "index", str(root), "--quiet")
    assert again.returncode == 0 and not bad_markers(again.stderr), again.stderr
    assert fingerprint(idx) == reference

    table = lancedb.connect(str(idx)).open_table("chunks")
    for index in table.list_indices():
        table.drop_index(index.name)
    (idx / snapshot.NAME).unlink()  # a run killed that early never got to write one
    again = run_cli(env, "index", str(root), "--quiet")
    assert again.returncode == 0 and not bad_markers(again.stderr), again.stderr
    found = run_cli(env, "--project", str(root), "search", "encode", "--mode", "lexical")
    assert found.returncode == 0 and found.stdout.strip(), found.stderr
