"""The writer lock: one writer per index, any number of readers.

`Lock` is what every engine's lock offers (the store seam picks one: store.writer_lock).
The embedded engine's is `WriterLock` here; PostgreSQL's is an advisory lock per project
(store/postgres.py), which the server drops when the holder's connection dies.

WriterLock is an OS-level flock on `<index>/writer.lock`: the kernel drops it when its holder dies,
even by kill -9, so a lock left by a dead process is taken over without guessing from
pids. The holder's pid, host and start time are written beside it for the message a
second writer sees.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

from .errors import IndexLockedError, StoreError

LOCK_NAME = "writer.lock"
HOLDER_NAME = "writer.holder.json"
# The holder's command while an interrupted run's catch-up (`finish-index`) holds the
# lock: seconds of housekeeping on what was committed, not a run indexing files.
CATCH_UP = "finish"


def indexing(holder: dict[str, object] | None) -> bool:
    """Whether a holder (Lock.holder()) is a writer at work on the tree."""
    return holder is not None and holder.get("command") != CATCH_UP


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


class Lock(Protocol):
    @property
    def held(self) -> bool: ...
    def holder(self) -> dict[str, object] | None:
        """pid, host, started, command of the live holder; None when nobody holds it."""
        ...

    def describe_holder(self) -> str: ...
    def acquire(
        self,
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        timeout: float | None = None,
        command: str = "index",
    ) -> None:
        """Take the lock, or raise IndexLockedError naming the holder (after waiting, if
        `wait`, until it is free, `stop` is set or `timeout` passes)."""
        ...

    def release(self) -> None: ...


def describe(info: dict[str, object] | None) -> str:
    """A holder note as the line a second writer sees."""
    if not info:
        return "another process"
    started = info.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
        if isinstance(started, int | float)
        else "?"
    )
    command = info.get("command", "index")
    return f"pid {info.get('pid')} on {info.get('host')} ({command}, since {when})"


def holder_note(command: str) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": command,
    }


class WriterLock:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, object] | None:
        """Who holds the lock, from the note beside it; None when nobody live does.

        A writer killed with -9 leaves its note behind (the kernel frees only the lock),
        so a note whose process is gone on this host is ignored: status must not show
        a dead run as indexing.
        """
        try:
            data = json.loads((self.index_dir / HOLDER_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        pid = data.get("pid")
        if data.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            return None
        return data

    def describe_holder(self) -> str:
        return describe(self.holder())

    def acquire(
        self,
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        timeout: float | None = None,
        command: str = "index",
    ) -> None:
        if self._fd is not None:
            return
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the writer lock in {self.index_dir}: {exc}") from exc
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if (
                    not wait
                    or (stop is not None and stop.is_set())
                    or (deadline is not None and time.monotonic() >= deadline)
                ):
                    holder = self.describe_holder()
                    os.close(fd)
                    raise IndexLockedError(f"the index is being written by {holder}") from None
                if stop is not None:
                    stop.wait(0.2)
                else:
                    time.sleep(0.2)
        self._fd = fd
        info = holder_note(command)
        tmp = self.index_dir / f"{HOLDER_NAME}.{os.getpid()}"
        try:
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.index_dir / HOLDER_NAME)
        except OSError:
            tmp.unlink(missing_ok=True)  # the lock itself is what matters

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            (self.index_dir / HOLDER_NAME).unlink(missing_ok=True)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
