"""`setup`: the clients' MCP config files, merged idempotently."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mcp_vector_search.cli import run
from mcp_vector_search.client_setup import apply, desktop_config_path, plan, server_command
from mcp_vector_search.errors import ConfigError

CMD = "/opt/mvs/bin/mcp-vector-search"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def setup(clients: list[str], root: Path, home: Path) -> None:
    apply(plan(clients, root, command=CMD, home=home, platform="linux"))


def read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_each_client_gets_its_file_and_shape(root: Path, home: Path) -> None:
    setup(["claude-code", "cursor", "vscode", "claude-desktop"], root, home)
    expected = {"command": CMD, "args": ["mcp", str(root)]}
    assert read(root / ".mcp.json") == {"mcpServers": {"mcp-vector-search": expected}}
    assert read(root / ".cursor/mcp.json") == {"mcpServers": {"mcp-vector-search": expected}}
    assert read(root / ".vscode/mcp.json") == {
        "servers": {"mcp-vector-search": {"type": "stdio", **expected}}
    }
    desktop = read(home / ".config/Claude/claude_desktop_config.json")
    assert desktop == {"mcpServers": {"mcp-vector-search-project": expected}}


def test_running_twice_changes_nothing(root: Path, home: Path) -> None:
    setup(["claude-code", "vscode"], root, home)
    before = {p: p.read_bytes() for p in (root / ".mcp.json", root / ".vscode/mcp.json")}
    again = plan(["claude-code", "vscode"], root, command=CMD, home=home, platform="linux")
    assert [c.action for c in again] == ["unchanged", "unchanged"]
    apply(again)
    assert {p: p.read_bytes() for p in before} == before


def test_other_servers_and_keys_are_kept(root: Path, home: Path) -> None:
    (root / ".vscode").mkdir()
    (root / ".vscode/mcp.json").write_text(
        json.dumps(
            {
                "inputs": [{"id": "token", "type": "promptString"}],
                "servers": {
                    "github": {"type": "http", "url": "https://example.invalid/mcp"},
                    "mcp-vector-search": {"type": "stdio", "command": "old", "args": []},
                },
            }
        )
    )
    setup(["vscode"], root, home)
    data = read(root / ".vscode/mcp.json")
    assert data["inputs"] == [{"id": "token", "type": "promptString"}]
    assert data["servers"]["github"] == {"type": "http", "url": "https://example.invalid/mcp"}
    assert data["servers"]["mcp-vector-search"]["command"] == CMD
    assert list(data["servers"]) == ["github", "mcp-vector-search"]


def test_unparsable_config_is_left_alone(root: Path, home: Path) -> None:
    broken = '{"mcpServers": {"x": 1},,}'
    (root / ".mcp.json").write_text(broken)
    with pytest.raises(ConfigError):
        plan(["claude-code"], root, command=CMD, home=home, platform="linux")
    assert (root / ".mcp.json").read_text() == broken
    (root / ".mcp.json").write_text('{"mcpServers": []}')
    with pytest.raises(ConfigError):
        plan(["claude-code"], root, command=CMD, home=home, platform="linux")


def test_desktop_config_location_per_platform(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mac = desktop_config_path(home, "darwin")
    assert mac == home / "Library/Application Support/Claude/claude_desktop_config.json"
    assert desktop_config_path(home, "linux") == home / ".config/Claude/claude_desktop_config.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg"))
    assert desktop_config_path(home, "linux") == home / "xdg/Claude/claude_desktop_config.json"


def test_server_command_is_an_absolute_executable() -> None:
    command = server_command()
    assert os.path.isabs(command)
    assert os.access(command, os.X_OK)
    assert os.path.basename(command) == "mcp-vector-search"


def test_cli_dry_run_writes_nothing(
    root: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["setup", "all", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would create" in out and '"mcpServers"' in out and '"servers"' in out
    assert not (root / ".mcp.json").exists() and not (root / ".vscode").exists()
    assert not (home / ".config/Claude").exists()


def test_cli_setup_writes_then_reports_up_to_date(
    root: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["setup", "claude-code", str(root)]) == 0
    entry = read(root / ".mcp.json")["mcpServers"]["mcp-vector-search"]
    assert entry["args"] == ["mcp", str(root.resolve())]
    assert os.path.isabs(entry["command"])
    capsys.readouterr()
    assert run(["setup", "claude-code", str(root)]) == 0
    assert "already up to date" in capsys.readouterr().out
