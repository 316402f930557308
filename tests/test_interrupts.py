"""SIGINT and SIGTERM during `index`: one line, the shell's exit code, work kept, resumable.

Real subprocesses and real signals. Each signal is sent once the writer reports (in its
progress file) that it is in the stage under test; every wait is bounded.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest

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
    root = make_corpus(tmp_path / "proj", files=40, functions=4)
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
    root = make_corpus(tmp_path / "proj", files=2000, functions=1)
    idx, ref = tmp_path / "idx", tmp_path / "ref"
    env = cli_env(idx, home=tmp_path)

    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "lexical", 1), timeout=120), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
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
