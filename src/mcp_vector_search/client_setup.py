"""Register the MCP server with coding clients: merge one entry into their JSON config.

Each client keeps a JSON file with a table of servers. We add or update our one entry
and keep everything else (other servers, other keys) as it was; running twice changes
nothing. A file we cannot parse is left alone with an error, never overwritten.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, UsageError

CLIENTS = ("claude-code", "cursor", "vscode", "claude-desktop")
SERVER_NAME = "mcp-vector-search"
EXECUTABLE = "mcp-vector-search"


@dataclass(frozen=True, slots=True)
class Change:
    client: str
    path: Path
    action: str  # create | update | unchanged
    before: str  # file text before ("" when absent)
    after: str  # file text after

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=str(self.path) if self.before else "/dev/null",
            tofile=str(self.path),
        )
        return "".join(lines)


def server_command() -> str:
    """The absolute path of the installed `mcp-vector-search` executable.

    Clients start servers without our shell's PATH or virtualenv, so a bare name is not
    enough. Preference: the script this process was started as, the one beside this
    interpreter (same virtualenv), then whatever PATH finds.
    """
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name in (EXECUTABLE, "mvs"):
        sibling = argv0.with_name(EXECUTABLE)
        found = shutil.which(str(sibling))
        if found:
            return str(Path(found).absolute())
    beside = Path(sys.executable).parent / EXECUTABLE
    if os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which(EXECUTABLE)
    if found:
        # Absolute but not resolved: a pipx-style link keeps working across upgrades.
        return str(Path(found).absolute())
    raise UsageError(
        f"cannot find the {EXECUTABLE} executable",
        hint="install the package (pip install mcp-vector-search) so the command exists",
    )


def desktop_config_path(home: Path | None = None, platform: str | None = None) -> Path:
    home = home or Path.home()
    platform = platform or sys.platform
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if platform == "win32":
        appdata = os.environ.get("APPDATA")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
        return base / "Claude" / "claude_desktop_config.json"
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base / "Claude" / "claude_desktop_config.json"


def _desktop_name(root: Path) -> str:
    # One global file for every project: the name says which project it serves.
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name).strip("-") or "project"
    return f"{SERVER_NAME}-{slug}"


def target(
    client: str, root: Path, *, home: Path | None = None, platform: str | None = None
) -> tuple[Path, str, str]:
    """(config file, servers key, entry name) for one client."""
    if client == "claude-code":
        return root / ".mcp.json", "mcpServers", SERVER_NAME
    if client == "cursor":
        return root / ".cursor" / "mcp.json", "mcpServers", SERVER_NAME
    if client == "vscode":
        return root / ".vscode" / "mcp.json", "servers", SERVER_NAME
    if client == "claude-desktop":
        return desktop_config_path(home, platform), "mcpServers", _desktop_name(root)
    raise UsageError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)} or all")


def entry(client: str, command: str, root: Path) -> dict[str, Any]:
    item: dict[str, Any] = {"command": command, "args": ["mcp", str(root)]}
    if client == "vscode":
        item = {"type": "stdio", **item}
    return item


def _load(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "", {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: not valid JSON ({exc}); left unchanged",
            hint="fix or remove the file, then run setup again",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top; left unchanged")
    return text, data


def plan(
    clients: list[str],
    root: Path,
    *,
    command: str | None = None,
    home: Path | None = None,
    platform: str | None = None,
) -> list[Change]:
    """What setting up these clients would change, without writing anything."""
    command = command or server_command()
    changes = []
    for client in clients:
        path, key, name = target(client, root, home=home, platform=platform)
        before, data = _load(path)
        servers = data.get(key)
        if servers is None:
            servers = {}
        if not isinstance(servers, dict):
            raise ConfigError(f"{path}: {key!r} is not a JSON object; left unchanged")
        wanted = entry(client, command, root)
        if servers.get(name) == wanted:
            changes.append(Change(client, path, "unchanged", before, before))
            continue
        # Rebuild so our entry is replaced in place and everything else keeps its order.
        data = {**data, key: {**servers, name: wanted}}
        after = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        changes.append(Change(client, path, "update" if before else "create", before, after))
    return changes


def apply(changes: list[Change]) -> None:
    for change in changes:
        if change.action == "unchanged":
            continue
        path = change.path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(change.after, encoding="utf-8")
            if path.exists():
                # Keep the user's permissions (the desktop file may be private).
                shutil.copymode(path, tmp)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def expand(client: str) -> list[str]:
    if client == "all":
        return list(CLIENTS)
    if client not in CLIENTS:
        raise UsageError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)} or all")
    return [client]
