"""The search daemon: spawned by the first CLI search, answers later ones identically."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcp_vector_search import search_daemon


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_vector_search", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_daemon_answers_like_the_in_process_search(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "1")
    env = {
        **os.environ,
        "MVS_MODEL": "fake",
        "MVS_SEARCH_DAEMON": "1",
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
    }
    (tmp_path / "run").mkdir(mode=0o700)
    assert cli(["index", ".", "-q"], sample_project, env).returncode == 0
    index_dir = sample_project / ".mcp-vector-search"
    sock = search_daemon.socket_path(index_dir, "fake")
    first = cli(["search", "retry failed upload", "--json"], sample_project, env)
    assert first.returncode == 0, first.stderr
    try:
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded wait for the detached daemon to bind its socket
        assert sock.exists()
        assert oct(sock.parent.stat().st_mode & 0o777) == oct(0o700)
        reply = search_daemon.query(
            index_dir, "fake", {"op": "search", "query": "retry failed upload", "limit": 10}
        )
        assert reply is not None
        second = cli(["search", "retry failed upload", "--json"], sample_project, env)
        assert json.loads(second.stdout) == json.loads(first.stdout) == reply["payload"]
        bad = cli(["search", "   "], sample_project, env)
        assert bad.returncode == 2 and "empty" in bad.stderr
    finally:
        cli(["reset", "--yes"], sample_project, env)
    deadline = time.monotonic() + 30
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the daemon leaves once its index is gone
    assert not sock.exists()


def test_no_daemon_means_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "0")
    assert search_daemon.query(tmp_path, "fake", {"op": "search"}) is None
