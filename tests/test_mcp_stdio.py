"""The server as a real subprocess: the SDK's stdio client, raw protocol lines, signals."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_vector_search.config import load_config
from mcp_vector_search.embedding import create_embedder
from mcp_vector_search.indexer import Indexer
from mcp_vector_search.lifecycle import Session
from mcp_vector_search.store.lancedb import open_store

STARTUP = 60.0  # generous: a cold interpreter on a busy CI machine


def snapshot(root: Path) -> set[tuple[str, int, int, str]]:
    config = load_config(root)
    embedder = create_embedder(config.model)
    store = open_store(
        config.index_path(root),
        model_id=embedder.model_id,
        dimensions=embedder.dimensions,
        writable=False,
    )
    try:
        _files, chunks, embedded = store.counts()
        assert chunks == embedded
        return {(c.path, c.start_line, c.end_line, c.embed_hash) for c in store.chunk_catalog()}
    finally:
        store.close()


def indexer_run(root: Path) -> None:
    with Session(root, load_config(root)) as session:
        session.acquire_writer()
        store = session.store(writable=True)
        Indexer(root, session.config, store, session.embedder).run()


def server_cmd(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mcp_vector_search", "mcp", str(root), *extra]


class RawServer:
    """The server over raw pipes: newline-delimited JSON-RPC, read with bounded waits."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            server_cmd(root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False)),
        ]
        for t in self._threads:
            t.start()
        self._next_id = 0

    def _pump(self, stream: Any, sink: list[str], protocol: bool) -> None:
        for line in stream:
            sink.append(line)
            if protocol:
                self.lines.put(line)
        if protocol:
            self.lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        deadline = time.monotonic() + STARTUP
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert line is not None, "server closed stdout: " + "".join(self.stderr)
            message = json.loads(line)
            assert isinstance(message, dict)
            if message.get("id") == self._next_id:
                return message

    def handshake(self) -> None:
        reply = self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"},
            },
        )
        assert "result" in reply, reply
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        reply = self.request("tools/call", {"name": tool, "arguments": arguments})
        result = reply.get("result")
        assert isinstance(result, dict), reply
        return result

    def finish(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return "".join(self.stdout), "".join(self.stderr)


@pytest.fixture
def raw(sample_project: Path, fake_env: None) -> Iterator[RawServer]:
    server = RawServer(sample_project)
    try:
        yield server
    finally:
        server.finish()


def assert_clean(stdout: str, stderr: str) -> None:
    for line in stdout.splitlines():
        json.loads(line)  # nothing but protocol on stdout
    assert "Traceback" not in stderr and "panicked" not in stderr, stderr


def test_sdk_client_over_stdio(sample_project: Path, fake_env: None) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_vector_search", "mcp", str(sample_project)],
        env=os.environ.copy(),
    )

    async def main() -> None:
        async with Client(params, read_timeout_seconds=STARTUP) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "search_code" in names and "get_context" in names
            deadline = time.monotonic() + STARTUP
            while True:
                found = await client.call_tool("find_symbol", {"name": "upload_with_retry"})
                assert not found.is_error
                data = found.structured_content
                assert data is not None
                if data["results"] or time.monotonic() > deadline:
                    break
                await anyio.sleep(0.1)
            assert data["results"][0]["symbol"] == "Uploader.upload_with_retry"
            escape = await client.call_tool(
                "get_context", {"path": "../../etc/passwd", "start_line": 1, "end_line": 2}
            )
            assert escape.is_error

    anyio.run(main)


def test_eof_on_stdin_exits_zero(raw: RawServer) -> None:
    raw.handshake()
    assert not raw.call("index_status").get("isError")
    assert raw.proc.stdin is not None
    raw.proc.stdin.close()
    assert raw.proc.wait(timeout=5) == 0
    assert_clean(*raw.finish())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_promptly_and_cleanly(raw: RawServer, sig: signal.Signals) -> None:
    raw.handshake()
    raw.call("search_code", query="upload")
    # stdin stays open: the server must not wait for the client to speak or hang up.
    raw.proc.send_signal(sig)
    assert raw.proc.wait(timeout=5) == 128 + sig
    assert_clean(*raw.finish())


def test_sigterm_while_indexing_leaves_a_consistent_index(tmp_path: Path, fake_env: None) -> None:
    root = tmp_path / "big"
    for i in range(300):
        pkg = root / f"pkg{i % 12}"
        pkg.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def op_{i}_{j}(value):\n    return value * {j} + {i}\n\n" for j in range(25)
        )
        (pkg / f"mod{i}.py").write_text(body)
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    indexer_run(clean)
    server = RawServer(root)
    try:
        server.handshake()
        status = server.call("index_status")["structuredContent"]
        assert status is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=5) == 128 + signal.SIGTERM
    finally:
        stdout, stderr = server.finish()
    assert_clean(stdout, stderr)
    # Whatever was committed is whole: the next run converges to a clean build.
    done = subprocess.run(
        [sys.executable, "-m", "mcp_vector_search", "index", str(root), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert snapshot(root) == snapshot(clean)


def test_two_servers_share_one_project(raw: RawServer, sample_project: Path) -> None:
    raw.handshake()
    second = RawServer(sample_project)
    try:
        second.handshake()
        deadline = time.monotonic() + STARTUP
        while True:
            hits = second.call("search_code", query="upload")["structuredContent"]["results"]
            if hits or time.monotonic() > deadline:
                break
            threading.Event().wait(0.1)
        assert hits
        assert second.proc.stdin is not None
        second.proc.stdin.close()
        assert second.proc.wait(timeout=5) == 0
    finally:
        assert_clean(*second.finish())
    assert raw.proc.stdin is not None
    raw.proc.stdin.close()
    assert raw.proc.wait(timeout=5) == 0
