"""The CLI and the MCP tools on PostgreSQL, unchanged: real subprocesses against a real
server, kill -9 mid-write, two writers, and a server restart mid-run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from mcp_vector_search.config import Config, load_config
from mcp_vector_search.store import Store, open_store, writer_lock
from tests.crashkit import (
    Fingerprint,
    bad_markers,
    cli_env,
    fingerprint_of,
    make_corpus,
    run_cli,
    start_index,
)
from tests.test_mcp_server import call, ok


def pg_env(tmp_path: Path, url: str, project: str) -> dict[str, str]:
    env = cli_env(tmp_path / "local-index", home=tmp_path)
    env.update({"MVS_STORE": "postgres", "MVS_DATABASE_URL": url, "MVS_PROJECT": project})
    return env


def pg_config(root: Path, url: str, project: str) -> Config:
    base = load_config(root, env={"MVS_MODEL": "fake"}, user_config=root / "none.toml")
    return replace(base, store="postgres", database_url=url, project=project)


def open_reader(config: Config, root: Path) -> Store:
    from mcp_vector_search.embedding.fake import FakeEmbedder

    e = FakeEmbedder()
    return open_store(config, root, model_id=e.model_id, dimensions=e.dimensions, writable=False)


def fingerprint(config: Config, root: Path) -> Fingerprint:
    return fingerprint_of(config, root)


def wait_until(proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return proc.poll() is None
        try:
            proc.wait(timeout=0.005)
            return False
        except subprocess.TimeoutExpired:
            pass
    return False


def test_index_search_status_symbol_and_reset(
    sample_project: Path, tmp_path: Path, postgres_url: str
) -> None:
    env = pg_env(tmp_path, postgres_url, f"cli-{uuid.uuid4().hex[:8]}")
    first = run_cli(env, "index", str(sample_project), "--json", "--quiet")
    assert first.returncode == 0 and not bad_markers(first.stderr), first.stderr
    report = json.loads(first.stdout)
    assert report["chunks_total"] == report["embedded_total"] > 0
    found = run_cli(env, "--project", str(sample_project), "search", "retry upload", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["symbol"] == "Uploader.upload_with_retry"
    status = run_cli(env, "--project", str(sample_project), "status", "--json")
    data = json.loads(status.stdout)
    assert data["chunks"] == data["embedded"] == report["chunks_total"]
    assert data["stale_files"] == 0 and data["indexing"] is None
    assert "postgresql://" in data["index_dir"]
    sym = run_cli(env, "--project", str(sample_project), "symbol", "upload_with_retry")
    assert "Uploader.upload_with_retry" in sym.stdout, sym.stderr
    again = json.loads(run_cli(env, "index", str(sample_project), "--json", "-q").stdout)
    assert again["files_changed"] == 0 and again["vectors_added"] == 0
    # A teammate's checkout that never indexed searches the shared index as it is.
    teammate = tmp_path / "teammate" / "proj"
    shutil.copytree(sample_project, teammate)
    t_env = {**env, "MVS_INDEX_DIR": str(tmp_path / "teammate-local")}
    theirs = run_cli(t_env, "--project", str(teammate), "search", "retry upload", "--json")
    assert theirs.returncode == 0 and not bad_markers(theirs.stderr), theirs.stderr
    assert json.loads(theirs.stdout)["results"][0]["symbol"] == "Uploader.upload_with_retry"
    their_status = run_cli(t_env, "--project", str(teammate), "status", "--json")
    assert json.loads(their_status.stdout)["chunks"] == report["chunks_total"]
    gone = run_cli(env, "--project", str(sample_project), "reset", "--yes")
    assert gone.returncode == 0, gone.stderr
    after = run_cli(env, "--project", str(sample_project), "search", "upload")
    assert after.returncode == 3 and not bad_markers(after.stderr), after.stderr


def test_a_second_writer_gets_the_lock_message_and_a_dead_holders_lock_is_freed(
    sample_project: Path, tmp_path: Path, postgres_url: str
) -> None:
    project = f"lock-{uuid.uuid4().hex[:8]}"
    env = pg_env(tmp_path, postgres_url, project)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from mcp_vector_search.config import load_config
                from mcp_vector_search.store import writer_lock
                root = Path({str(sample_project)!r})
                lock = writer_lock(load_config(root), root)
                lock.acquire(command="index")
                print("held", flush=True)
                time.sleep(600)
                """
            ),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = run_cli(env, "index", str(sample_project), "--quiet")
        assert second.returncode == 4 and not bad_markers(second.stderr), second.stderr
        assert f"being written by pid {holder.pid}" in second.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    # The server ended the dead holder's session, and its lock with it.
    lock = writer_lock(pg_config(sample_project, postgres_url, project), sample_project)
    lock.acquire(wait=True, timeout=30)
    lock.release()
    assert run_cli(env, "index", str(sample_project), "--quiet").returncode == 0


def test_kill_9_mid_write_then_the_rerun_converges(tmp_path: Path, postgres_url: str) -> None:
    root = make_corpus(tmp_path / "proj", files=300, functions=2)
    project = f"kill-{uuid.uuid4().hex[:8]}"
    env = pg_env(tmp_path, postgres_url, project)
    config = pg_config(root, postgres_url, project)

    # Killed while the server runs its INSERT of chunks, then of vectors: the client
    # dies inside an open transaction.
    with psycopg.connect(postgres_url, autocommit=True) as watcher:
        for table in ("mvs_chunks", '"mvs_vectors_'):
            proc = start_index(root, env)
            assert wait_until(proc, writing(watcher, table), timeout=120), proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            assert not fingerprint(config, root).broken()
            found = run_cli(env, "--project", str(root), "search", "archive the ledger", "--json")
            assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr

    rerun = run_cli(env, "index", str(root), "--quiet")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    # A clean run of the same tree in a project of its own is the reference.
    ref_env = pg_env(tmp_path / "ref", postgres_url, project + "-ref")
    clean = run_cli(ref_env, "index", str(root), "--quiet")
    assert clean.returncode == 0, clean.stderr
    reference = fingerprint(pg_config(root, postgres_url, project + "-ref"), root)
    assert fingerprint(config, root) == reference and not reference.problems()


def writing(conn: psycopg.Connection[TupleRow], table: str) -> Callable[[], bool]:
    """A ready() that holds while a client's INSERT INTO `table` runs on the server."""

    def ready() -> bool:
        row = conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'mcp-vector-search'"
            " AND state = 'active' AND query LIKE %s",
            (f"%INSERT INTO {table}%",),
        ).fetchone()
        return row is not None

    return ready


def embedded(config: Config, root: Path) -> int:
    try:
        store = open_reader(config, root)
    except Exception:
        return 0
    try:
        return store.counts()[2]
    finally:
        store.close()


def test_a_server_restart_mid_run_is_a_clear_error_and_the_next_run_converges(
    tmp_path: Path, postgres_url: str, postgres_server: object | None
) -> None:
    if postgres_server is None:
        pytest.skip("MVS_TEST_DATABASE_URL: not our server to restart")
    from pgserver._commands import pg_ctl  # type: ignore[import-untyped]

    root = make_corpus(tmp_path / "proj", files=1200, functions=1)
    project = f"restart-{uuid.uuid4().hex[:8]}"
    env = pg_env(tmp_path, postgres_url, project)
    config = pg_config(root, postgres_url, project)
    # A searcher of another project, open across the restart.
    small = make_corpus(tmp_path / "small", files=3, functions=1)
    small_env = pg_env(tmp_path / "s", postgres_url, project + "-searcher")
    assert run_cli(small_env, "index", str(small), "--quiet").returncode == 0
    reader = open_reader(pg_config(small, postgres_url, project + "-searcher"), small)
    try:
        before = reader.counts()
        proc = start_index(root, env)
        # The first of several batches of chunks is being written.
        with psycopg.connect(postgres_url, autocommit=True) as watcher:
            assert wait_until(proc, writing(watcher, "mvs_chunks"), timeout=120)
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=postgres_server.pgdata,  # type: ignore[attr-defined]
            user=postgres_server.system_user,  # type: ignore[attr-defined]
        )
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 6 and not bad_markers(err), err
        assert "PostgreSQL" in err and len(err.strip().splitlines()) <= 2, err
        # A reader open across the restart reconnects on its own.
        assert reader.counts() == before
        assert reader.file_states()
    finally:
        reader.close()
    rerun = run_cli(env, "index", str(root), "--quiet")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    assert not fingerprint(config, root).problems()


def test_the_mcp_tools_and_the_watcher_on_postgres(
    sample_project: Path, fake_env: None, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_vector_search.agent_tools import open_tools

    monkeypatch.setenv("MVS_STORE", "postgres")
    monkeypatch.setenv("MVS_DATABASE_URL", postgres_url)
    monkeypatch.setenv("MVS_PROJECT", f"mcp-{uuid.uuid4().hex[:8]}")
    tools = open_tools(sample_project, load_config(sample_project), watch=True)
    try:
        assert tools.live is not None and tools.live.wait_idle(60)
        hits = ok(call(tools, "search_code", query="retry a failed upload"))["results"]
        assert hits and hits[0]["symbol"] == "Uploader.upload_with_retry"
        status = ok(call(tools, "index_status"))
        assert status["embedded"] == status["chunks"] > 0
        target = sample_project / "src/app/config.py"
        target.write_text(target.read_text() + "\n\ndef okapi_ledger_flag():\n    return 7\n")
        deadline = time.monotonic() + 60
        found: list[object] = []
        while time.monotonic() < deadline and not found:
            found = ok(call(tools, "find_symbol", name="okapi_ledger_flag"))["results"]
            if not found:
                time.sleep(0.2)
        assert found, "the watcher did not re-index the saved edit"
    finally:
        tools.close()
