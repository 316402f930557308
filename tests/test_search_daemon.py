"""The search daemon: spawned by the first CLI search, answers later ones identically."""

import json
import os
import signal
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


def _daemons_of(root: Path) -> list[int]:
    """Pids of live search-daemon processes started for this project."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"search-daemon" in argv and str(root).encode() in argv:
            pids.append(int(entry.name))
    return pids


def test_eight_cold_searches_at_once_start_one_daemon(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))  # this process talks to it too
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "1")
    base = {**os.environ, "MVS_MODEL": "fake", "XDG_RUNTIME_DIR": str(run_dir)}
    assert cli(["index", ".", "-q"], sample_project, base).returncode == 0
    query = ["search", "retry failed upload", "--json"]
    expected = json.loads(cli(query, sample_project, {**base, "MVS_SEARCH_DAEMON": "0"}).stdout)
    env = {**base, "MVS_SEARCH_DAEMON": "1"}
    index_dir = sample_project / ".mcp-vector-search"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mcp_vector_search", *query],
            cwd=sample_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert json.loads(out)["results"] == expected["results"]
        # Every daemon a client spawned exists by now (Popen returned before it exited).
        sock = search_daemon.socket_path(index_dir, "fake")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            sock.exists() and len(_daemons_of(sample_project)) == 1
        ):
            time.sleep(0.05)  # losers leave at once; the winner binds once it has warmed up
        assert len(_daemons_of(sample_project)) == 1
        reply = search_daemon.query(
            index_dir, "fake", {"op": "search", "query": "retry failed upload", "limit": 10}
        )
        assert reply is not None and reply["payload"]["results"] == expected["results"]
        # A later cold search is served by the winner and starts nothing new.
        again = cli(query, sample_project, env)
        assert json.loads(again.stdout)["results"] == expected["results"]
        assert len(_daemons_of(sample_project)) == 1
    finally:
        search_daemon.query(index_dir, "fake", {"op": "shutdown"})
        deadline = time.monotonic() + 30
        while _daemons_of(sample_project) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _daemons_of(sample_project)
        for pid in left:  # a failed run must not leave daemons behind
            os.kill(pid, signal.SIGTERM)
    assert left == []


def test_an_error_crosses_the_socket_with_its_type_hint_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from mcp_vector_search.errors import IndexLockedError

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "1")
    (tmp_path / "run").mkdir(mode=0o700)
    index_dir = tmp_path / "idx"
    index_dir.mkdir()  # the daemon serves only while its index exists

    def handle(request: dict[str, object]) -> dict[str, object]:
        raise IndexLockedError("the index is being rebuilt", hint="wait a moment")

    stop = threading.Event()
    server = threading.Thread(
        target=search_daemon.serve, args=(index_dir, "fake", handle, stop), daemon=True
    )
    server.start()
    try:
        sock = search_daemon.socket_path(index_dir, "fake")
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # bounded wait for the thread to bind
        with pytest.raises(IndexLockedError) as err:
            search_daemon.search(index_dir, "fake", search_daemon.SearchRequest("q"))
        assert err.value.hint == "wait a moment" and err.value.exit_code == 4
    finally:
        stop.set()
        server.join(10)


def _info(index_dir: Path) -> dict[str, object]:
    reply = search_daemon.query(index_dir, "fake", {"op": "info"})
    assert reply is not None
    info = reply["info"]
    assert isinstance(info, dict)
    return info


def test_daemon_serves_the_read_copy_drops_the_model_idle_and_sheds_the_engine(
    sample_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "1")
    env = {**os.environ, "MVS_MODEL": "fake", "XDG_RUNTIME_DIR": str(run_dir)}
    assert cli(["index", ".", "-q"], sample_project, env).returncode == 0
    in_process = {**env, "MVS_SEARCH_DAEMON": "0"}
    query = "retry failed upload"
    expected = {
        mode: json.loads(
            cli(["search", query, "--json", "--mode", mode], sample_project, in_process).stdout
        )
        for mode in ("hybrid", "lexical")
    }
    index_dir = sample_project / ".mcp-vector-search"
    log = tmp_path / "daemon.err"
    with open(log, "wb") as err:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mcp_vector_search", "search-daemon"],
            cwd=sample_project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    def ask(mode: str) -> tuple[object, object]:
        reply = search_daemon.query(
            index_dir, "fake", {"op": "search", "query": query, "limit": 10, "mode": mode}
        )
        assert reply is not None, "the daemon did not answer"
        assert reply["payload"] == expected[mode]
        return reply["source"], _info(index_dir)["model_loaded"]

    try:
        sock = search_daemon.socket_path(index_dir, "fake")
        deadline = time.monotonic() + 60
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded wait for the daemon to warm up and bind
        info = _info(index_dir)
        assert info["pid"] == daemon.pid and info["model_loaded"] is True  # warmed up
        assert ask("hybrid") == ("copy", True)
        assert _info(index_dir)["engine_imported"] is False
        # Idle: the model goes; lexical answers never bring it back, hybrid ones do.
        released = search_daemon.query(index_dir, "fake", {"op": "release"})
        assert released is not None and released["restart"] is False
        assert _info(index_dir)["model_loaded"] is False
        assert ask("lexical") == ("copy", False)
        assert ask("hybrid") == ("copy", True)
        # A copy behind the store (here: gone) sends searches to the engine...
        (index_dir / "sidecar.mvs").unlink()
        assert ask("hybrid") == ("engine", True)
        assert _info(index_dir)["engine_imported"] is True
        # ...until the writer publishes again; then, idle, the daemon sheds the engine by
        # starting over in place: same process, same election, none of the engine.
        assert cli(["index", ".", "-q", "--force"], sample_project, env).returncode == 0
        assert ask("hybrid") == ("copy", True)
        released = search_daemon.query(index_dir, "fake", {"op": "release"})
        assert released is not None and released["restart"] is True
        deadline = time.monotonic() + 60
        info = {}
        while time.monotonic() < deadline:
            reply = search_daemon.query(index_dir, "fake", {"op": "info"})
            info = reply["info"] if reply is not None else {}
            if info.get("engine_imported") is False:
                break
            time.sleep(0.05)  # bounded wait for the new image to bind
        assert info["pid"] == daemon.pid and info["model_loaded"] is False
        assert search_daemon.held(index_dir, "fake")
        assert ask("lexical") == ("copy", False)
        assert ask("hybrid") == ("copy", True)
        assert _daemons_of(sample_project) == [daemon.pid]
    finally:
        search_daemon.query(index_dir, "fake", {"op": "shutdown"})
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
    assert daemon.returncode == 0, log.read_text()
    assert not search_daemon.held(index_dir, "fake")


def test_serve_releases_once_idle_and_ends_for_a_restart_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "1")
    (tmp_path / "run").mkdir(mode=0o700)
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    calls: list[float] = []

    def release() -> bool:
        calls.append(time.monotonic())
        return len(calls) >= 2  # the second idle period asks to start over

    ticks: list[int] = []  # how many releases had run at each tick
    outcome: list[object] = []
    server = threading.Thread(
        target=lambda: outcome.append(
            search_daemon.serve(
                index_dir,
                "fake",
                lambda r: {},
                threading.Event(),
                release=release,
                tick=lambda: ticks.append(len(calls)),
                release_seconds=0.2,
            )
        ),
        daemon=True,
    )
    server.start()
    sock = search_daemon.socket_path(index_dir, "fake")
    deadline = time.monotonic() + 10
    while len(calls) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(calls) == 1 and server.is_alive()  # released once, still serving
    assert search_daemon.query(index_dir, "fake", {"op": "ping"}) is not None  # re-arms it
    server.join(10)
    assert not server.is_alive() and len(calls) == 2
    # Ticks come between requests while the daemon holds what it released; none after.
    assert ticks and set(ticks) <= {0, 1}
    assert isinstance(outcome[0], search_daemon.Restart)
    assert not sock.exists()
