"""A fresh MCP server answers the handshake and tools/list before it loads the engine,
and its first search_code answer does not wait for the engine either."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_mcp_stdio import STARTUP, RawServer


def test_handshake_and_tools_list_come_before_the_engine(
    sample_project: Path, fake_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = [sys.executable, "-m", "mcp_vector_search", "index", str(sample_project), "-q"]
    assert subprocess.run(index, capture_output=True, timeout=STARTUP).returncode == 0
    # Both go to stderr in the order they happen: imports as they finish, our log lines.
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    monkeypatch.setenv("MVS_LOG_LEVEL", "INFO")
    server = RawServer(sample_project)
    try:
        server.handshake()
        tools = server.request("tools/list", {})["result"]["tools"]
        assert "search_code" in {t["name"] for t in tools}
        first = server.call("search_code", query="retry a failed upload")["structuredContent"]
        assert first["results"][0]["path"] == "src/app/uploads.py"
        assert first["mode"] == "hybrid" or any("lexical" in n for n in first["notes"])
        deadline = time.monotonic() + STARTUP
        while not any("index open" in line for line in server.stderr):
            assert time.monotonic() < deadline, "".join(server.stderr)
            time.sleep(0.05)  # bounded: the warm-up opens the engine in the background
    finally:
        _, stderr = server.finish()
    lines = stderr.splitlines()

    def imported(module: str) -> int:
        return next(
            i
            for i, line in enumerate(lines)
            if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module
        )

    sdk = imported("mcp.server.mcpserver")
    handshake = next(i for i, line in enumerate(lines) if "handshake done" in line)
    assert sdk < handshake < imported("lancedb")
    # Not even a module of the engine's tree was loaded (each line is written when its
    # import ends, so the engine's own line alone would not show an overlap).
    engine_tree = ("lancedb", "lance_namespace", "pyarrow")
    early = [line for line in lines[:handshake] if line.startswith("import time:")]
    assert not [ln for ln in early if ln.rsplit("|", 1)[-1].strip().startswith(engine_tree)]
