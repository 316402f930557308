"""SIGINT and SIGTERM during `index`: one line, the shell's exit code, work kept, resumable.

Real subprocesses and real signals. Each signal is sent once the writer reports (in its
progress file) that it is in the stage under test; every wait is bounded.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.crashkit import (
    bad_markers,
    cli_env,
    fingerprint,
    make_corpus,
    progress_is,
    run_cli,
    signal_in_lexical_stage,
    start_index,
    wait_for,
)

EMBED_LINE = re.compile(
    r"^Interrupted after embedding (\d+) of (\d+) chunks; run index again to continue$"
)
FILES_LINE = re.compile(r"^Interrupted after (\d+) of (\d+) files; run index again to continue$")


def one_line(stderr: str) -> str:
    assert not bad_markers(stderr), stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_sigint_while_the_real_model_embeds(tmp_path: Path) -> None:
    """The PyO3-panic situation: Ctrl+C while ONNX Runtime and tokenizers are working.

    One Ctrl+C stops after the batch in flight and keeps what was embedded; a second
    leaves at once; the index stays consistent and the rerun only fills in the rest.
    """
    # 480 chunks: with the int8 default (about 2x fp32) 160 left the resumed run so little
    # to embed that it could finish before its Ctrl+C arrived (seen once in CI).
    root = make_corpus(tmp_path / "proj", files=120, functions=4)
    idx = tmp_path / "idx"
    env = cli_env(idx, model="minilm", home=tmp_path)

    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "embed", 32), timeout=300), proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    match = EMBED_LINE.match(one_line(err))
    assert match, err
    done, total = int(match[1]), int(match[2])
    assert 0 < done < total

    # What was embedded before the stop is committed; the rest is missing, not broken.
    fp = fingerprint(idx)
    assert not fp.broken()
    assert len(fp.chunks) == total and fp.missing_vectors <= total - done
    found = run_cli(env, "--project", str(root), "search", "validate the invoice", "--json")
    assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr
    assert json.loads(found.stdout)["results"]

    # Ctrl+C twice: the second one doesn't wait for the batch in flight.
    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "embed", 1), timeout=300), proc.communicate()
    proc.send_signal(signal.SIGINT)
    # A bounded wait on the process lets the first signal be handled on its own, so the
    # two are not merged into one.
    wait_for(proc, lambda: False, timeout=0.2)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert one_line(err).startswith(("Stopped at once", "Interrupted after embedding")), err
    fp = fingerprint(idx)
    assert not fp.broken()

    # The rerun embeds only what is missing and reads no file again.
    rerun = run_cli(env, "index", str(root), "--quiet", "--json")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["files_changed"] == 0
    assert report["vectors_added"] == fp.missing_vectors
    assert report["embedded_total"] == report["chunks_total"] == total
    assert not fingerprint(idx).problems()


def test_sigterm_in_the_lexical_stage_keeps_every_finished_file(tmp_path: Path) -> None:
    root, idx, env, err = signal_in_lexical_stage(tmp_path, signal.SIGTERM)
    ref = tmp_path / "ref"
    match = FILES_LINE.match(one_line(err))
    assert match, err
    done, total = int(match[1]), int(match[2])
    assert total == 2000 and 0 < done < total

    # Every file counted as done was committed, chunks and file row together.
    fp = fingerprint(idx)
    assert len(fp.files) == done and not fp.broken()

    rerun = run_cli(env, "index", str(root), "--quiet", "--json")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    assert json.loads(rerun.stdout)["files_changed"] == total - done  # nothing redone

    clean = run_cli(cli_env(ref, home=tmp_path), "index", str(root), "--quiet")
    assert clean.returncode == 0, clean.stderr
    assert fingerprint(idx) == fingerprint(ref)


def _free_and_current(idx: Path) -> Callable[[], bool]:
    from mcp_vector_search.lock import WriterLock
    from mcp_vector_search.store import sidecar

    def ready() -> bool:
        if WriterLock(idx).holder() is not None:
            return False
        header = sidecar.read_header(idx)
        return header is not None and sidecar.is_current(header, idx)

    return ready


def test_sigint_in_the_lexical_stage_leaves_readers_a_current_copy_and_text_index(
    tmp_path: Path,
) -> None:
    """Ctrl+C mid-way through a first run's lexical stage: the process leaves at once,
    and a detached finisher brings the engine's text index and the read copy up to what
    was committed, so lexical search is not left scanning unindexed rows."""
    from mcp_vector_search.store import lancedb, sidecar

    root, idx, env, err = signal_in_lexical_stage(tmp_path, signal.SIGINT)
    match = FILES_LINE.match(one_line(err))
    assert match and 0 < int(match[1]) < int(match[2]), err

    deadline = time.monotonic() + 120
    while not _free_and_current(idx)() and time.monotonic() < deadline:
        time.sleep(0.1)  # bounded wait for the finisher to take the lock and let it go
    assert _free_and_current(idx)()
    fp = fingerprint(idx)
    assert not fp.broken()
    header = sidecar.read_header(idx)
    assert header is not None and header["chunks"] == len(fp.chunks) > 0
    store = lancedb.open_store(idx, model_id="fake-hashing-64", dimensions=64, writable=False)
    try:
        table = store._tables["chunks"]
        (fts,) = [i for i in table.list_indices() if "tokens" in i.columns]
        assert table.index_stats(fts.name).num_unindexed_rows == 0
    finally:
        store.close()

    # A cold lexical search answers from the copy: the engine is not even imported.
    search = ["--project", str(root), "search", "invoice", "--mode", "lexical", "--json"]
    found = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mcp_vector_search", *search],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"]
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in found.stderr.splitlines() if "|" in ln]
    assert imported and not any(m.split(".")[0] == "lancedb" for m in imported)


def test_a_run_started_during_the_catch_up_waits_for_it(tmp_path: Path) -> None:
    from mcp_vector_search.lock import WriterLock

    root = make_corpus(tmp_path / "proj", files=20, functions=1)
    idx = tmp_path / "idx"
    env = cli_env(idx, home=tmp_path)
    finisher = WriterLock(idx)
    finisher.acquire(command="finish")
    try:
        proc = start_index(root, env)
        # Still running (waiting), not failed as "locked".
        assert not wait_for(proc, lambda: False, timeout=3.0)
        assert proc.poll() is None
    finally:
        finisher.release()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    other = WriterLock(idx)
    other.acquire(command="watch")
    try:
        locked = run_cli(env, "index", str(root), "--quiet", "--force")
        assert locked.returncode == 4, locked.stderr  # any other writer: fail, naming it
    finally:
        other.release()
