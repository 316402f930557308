"""A per-index search daemon so CLI searches after the first one answer in milliseconds.

Importing the storage engine and starting the model costs seconds per process; a coding
session runs `search` many times. The first CLI search answers in-process and starts
this daemon detached; later searches send their query over a Unix socket in a private
(0700) per-user directory and print the same JSON the in-process path would. The daemon
is read-only (it never writes, compacts or deletes), sees each new index version on its
own, and exits after IDLE_SECONDS without a request. MVS_SEARCH_DAEMON=0 turns it off.
What it searches with, and what it drops after RELEASE_SECONDS idle, is daemon_reader.py.

Exactly one daemon serves an index: a daemon first takes an exclusive flock on a lock
file beside the socket (`claim`), before it imports anything heavy, and holds it for its
whole life; one that can't take it leaves at once. The kernel drops the lock when its
holder dies, however it dies, so a killed daemon never blocks the next one. Clients
don't even spawn while the lock is held (`spawn` probes it first). A daemon that starts
itself over (`restart`, to shed an engine import) execs with the lock's fd kept open, so
the lock is never free in between; the new image checks it holds it (`adopt`).

The client half (`query`, `spawn`) imports only the standard library (and wire.py, which
does too).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from .errors import UsageError
from .records import SearchResult
from .wire import error_data, error_from_data, from_data, to_data

IDLE_SECONDS = 15 * 60
# Idle this long, the daemon drops its model (daemon_reader.py): long enough that a burst
# of searches (an agent's few queries, a person refining one) keeps it, short enough that
# an idle daemon is small for most of its life.
RELEASE_SECONDS = 45.0
CONNECT_TIMEOUT = 0.3
REPLY_TIMEOUT = 30.0
PROTOCOL = 1


def enabled() -> bool:
    return os.environ.get("MVS_SEARCH_DAEMON", "1").lower() not in ("0", "false", "no", "off")


def socket_path(index_dir: Path, model: str) -> Path:
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"mvs-{os.getuid()}"
    key = hashlib.blake2b(f"{index_dir.resolve()}\0{model}".encode(), digest_size=10).hexdigest()
    return base / f"{key}.sock"


def lock_path(index_dir: Path, model: str) -> Path:
    return socket_path(index_dir, model).with_suffix(".lock")


def claim(index_dir: Path, model: str) -> int | None:
    """Win the election for this index: an fd holding its lock, or None if another
    daemon (running or starting) holds it. Keep the fd open while serving."""
    path = lock_path(index_dir, model)
    if not _private_dir(path.parent):
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def adopt(index_dir: Path, model: str, fd: int) -> int | None:
    """The lock fd a restarted daemon inherited, once checked: it is this index's lock
    file and it holds the lock (flock on the same open file succeeds again); else None."""
    try:
        if os.fstat(fd).st_ino != lock_path(index_dir, model).stat().st_ino:
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.set_inheritable(fd, False)
    except OSError:
        return None
    return fd


def restart(root: Path, fd: int, idle_left: float) -> NoReturn:
    """Start this daemon over as a fresh process image, keeping the lock `fd` open across
    the exec. Raises OSError when the exec fails (the caller then just exits)."""
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    args = ["--project", str(root), "search-daemon", "--lock-fd", str(fd)]
    args += ["--idle-seconds", f"{max(idle_left, 1.0):.0f}"]
    os.execv(sys.executable, [sys.executable, "-m", "mcp_vector_search", *args])


def held(index_dir: Path, model: str) -> bool:
    """True while some daemon holds this index's lock (it serves, or is starting to)."""
    fd = claim(index_dir, model)
    if fd is None:
        return lock_path(index_dir, model).exists()
    os.close(fd)  # we only looked: closing releases it at once
    return False


def _private_dir(path: Path) -> bool:
    """Create the socket directory 0700 and refuse one another user could write to."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0


def _read_line(sock: socket.socket) -> bytes:
    """One newline-terminated message (or what came before the peer closed)."""
    data = b""
    while not data.endswith(b"\n"):
        part = sock.recv(1 << 16)
        if not part:
            break
        data += part
    return data


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What a CLI search asks the daemon: Searcher.search's arguments."""

    query: str
    limit: int = 10
    language: str | None = None
    path_glob: str | None = None
    mode: str = "hybrid"


def search(index_dir: Path, model: str, request: SearchRequest) -> SearchResult | None:
    """The running daemon's answer, or None when none answers (search in-process then).

    An error the daemon met is raised here as the same error (type, hint, exit code).
    """
    reply = query(index_dir, model, {"op": "search", **to_data(request)})
    if reply is None:
        return None
    error = reply.get("error")
    if isinstance(error, dict):
        raise error_from_data(error)
    payload = reply.get("payload")
    try:
        return from_data(SearchResult, payload) if isinstance(payload, dict) else None
    except ValueError:
        return None  # a daemon of another version: answer in-process instead


class Reader(Protocol):
    """What the daemon answers with (daemon_reader.DaemonReader)."""

    source: str

    def search(
        self, query: str, *, limit: int, language: str | None, path_glob: str | None, mode: str
    ) -> SearchResult: ...

    def info(self) -> dict[str, Any]: ...


def search_handler(reader: Reader) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The daemon's half of `search` (and of `info`: what it holds, for tests), over
    `reader`."""

    def handle(data: dict[str, Any]) -> dict[str, Any]:
        if data.get("op") == "info":
            return {"info": reader.info()}
        if data.get("op") != "search":
            raise UsageError(f"unknown op {data.get('op')!r}")
        r = from_data(SearchRequest, data)
        result = reader.search(
            r.query, limit=r.limit, language=r.language, path_glob=r.path_glob, mode=r.mode
        )
        return {"payload": to_data(result), "source": reader.source}

    return handle


def query(index_dir: Path, model: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """Ask a running daemon; None when there is none (or it can't answer)."""
    path = socket_path(index_dir, model)
    if not enabled() or not path.exists() or not _private_dir(path.parent):
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(str(path))
            sock.settimeout(REPLY_TIMEOUT)
            sock.sendall(json.dumps({"v": PROTOCOL, **request}).encode() + b"\n")
            reply = json.loads(_read_line(sock))
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and reply.get("v") == PROTOCOL else None


def spawn(root: Path, index_dir: Path, model: str) -> None:
    """Start a detached daemon for this index (best effort, never an error)."""
    if not enabled():
        return
    path = socket_path(index_dir, model)
    if not _private_dir(path.parent) or held(index_dir, model):
        return
    env = {**os.environ, "MVS_INDEX_DIR": str(index_dir), "MVS_MODEL": model}
    try:
        subprocess.Popen(
            [sys.executable, "-m", "mcp_vector_search", "--project", str(root), "search-daemon"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl+C in the user's terminal is not for it
            env=env,
            close_fds=True,
        )
    except OSError:
        pass


@dataclass(frozen=True, slots=True)
class Restart:
    """serve() ended for the caller to start the daemon over (`restart`)."""

    idle_left: float  # of IDLE_SECONDS, for the new image


def serve(
    index_dir: Path,
    model: str,
    handle: Any,
    stop: threading.Event,
    *,
    release: Callable[[], bool] | None = None,
    tick: Callable[[], None] | None = None,
    release_seconds: float = RELEASE_SECONDS,
    idle_seconds: float = IDLE_SECONDS,
) -> Restart | None:
    """Answer requests with `handle(request) -> dict` until idle or stopped.

    `tick()` runs about once a second between requests until the next release: time to
    get ready for the next request (a newer read copy) while nobody waits.

    `release()` runs once `release_seconds` pass without a request (again after each
    later request), and on a `release` request; when it returns True, serving ends with
    a Restart. The caller holds the lock (`claim`), so a socket file already there is a
    dead daemon's and is replaced.
    """
    path = socket_path(index_dir, model)
    if not _private_dir(path.parent):
        return None
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        server.bind(str(tmp))
        os.replace(tmp, path)  # clients never see a missing socket while one is replaced
        inode = path.lstat().st_ino
    except OSError:
        server.close()
        return None
    server.listen(16)
    server.settimeout(1.0)
    last = time.monotonic()
    released = release is None
    outcome: Restart | None = None
    try:
        while not stop.is_set() and time.monotonic() - last < idle_seconds:
            if not index_dir.exists():
                break  # reset: nothing left to serve
            if not released and time.monotonic() - last >= release_seconds:
                assert release is not None
                released = True
                if release():
                    outcome = Restart(idle_seconds - (time.monotonic() - last))
                    break
            try:
                conn, _ = server.accept()
            except TimeoutError:
                if tick is not None and not released:
                    try:
                        tick()
                    except Exception:  # only a head start for the next request
                        pass
                continue
            last = time.monotonic()
            released = release is None
            with conn:
                conn.settimeout(REPLY_TIMEOUT)
                try:
                    request = json.loads(_read_line(conn))
                    op = request.get("op") if isinstance(request, dict) else None
                    if op == "shutdown":
                        stop.set()
                        reply: dict[str, object] = {"ok": True}
                    elif op == "release" and release is not None:
                        released = True
                        again = release()
                        if again:
                            outcome = Restart(idle_seconds)
                        reply = {"ok": True, "restart": again}
                    else:
                        reply = handle(request)
                except Exception as exc:  # one bad request must not end the daemon
                    # The client raises the same error (type, hint, exit code) from it.
                    reply = {"error": error_data(exc)}
                try:
                    conn.sendall(json.dumps({"v": PROTOCOL, **reply}).encode() + b"\n")
                except OSError:
                    pass
            if outcome is not None:
                break
    finally:
        server.close()
        try:
            # Still ours: the lock is only released (by the caller) after this.
            if path.lstat().st_ino == inode:
                path.unlink()
        except OSError:
            pass
    return outcome
