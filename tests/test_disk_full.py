"""A full disk while indexing: one clear error, the index left at its last consistent
state (readable, searchable), and the next run after space is freed converges.

The index lives on a small tmpfs, so the engine meets a real ENOSPC from the kernel.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crashkit import bad_markers, cli_env, fingerprint, make_corpus, run_cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_disk_full_is_one_clear_error_and_the_index_survives(
    tmp_path: Path, small_disk: Path
) -> None:
    root = make_corpus(tmp_path / "proj", files=40, functions=3)
    idx = small_disk / "idx"
    env = cli_env(idx, home=tmp_path)
    first = run_cli(env, "index", str(root), "--quiet")
    assert first.returncode == 0, first.stderr
    make_corpus(root / "more", files=600, functions=3, seed=1)  # well over 1 MB of index

    full = run_cli(env, "index", str(root), "--quiet")
    assert full.returncode == 6, full.stderr
    assert not bad_markers(full.stderr), full.stderr
    lines = full.stderr.strip().splitlines()
    assert lines[0].startswith("error: disk full while"), full.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: free some disk space")

    # Still a consistent index, readable and searchable, on the full disk.
    assert not fingerprint(idx).broken()
    status = run_cli(env, "--project", str(root), "status")
    assert status.returncode == 0 and not bad_markers(status.stderr), status.stderr
    found = run_cli(env, "--project", str(root), "search", "validate the ledger")
    assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr

    # Space comes back: the next run picks up where the last commit left off.
    grown = subprocess.run(
        ["mount", "-o", "remount,size=64m", str(small_disk)], capture_output=True, text=True
    )
    assert grown.returncode == 0, grown.stderr
    again = run_cli(env, "index", str(root), "--quiet")
    assert again.returncode == 0 and not bad_markers(again.stderr), again.stderr

    ref = tmp_path / "ref"
    clean = run_cli(cli_env(ref, home=tmp_path), "index", str(root), "--quiet")
    assert clean.returncode == 0, clean.stderr
    assert fingerprint(idx) == fingerprint(ref)
    assert not fingerprint(idx).problems()
