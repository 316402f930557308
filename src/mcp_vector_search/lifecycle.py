"""The session: owns the config, store, embedder, writer lock and every worker thread.

There is one shutdown path (`close`), safe to call twice. Long work runs in a worker
thread the session owns while the main thread stays in Python, so signals are handled
promptly; a stop request lets the worker finish its batch and commit. Nothing the
session started is left running in native code when the process ends: workers are
joined, and if one can't stop in time the process leaves with os._exit, which never
finalizes the interpreter under a native thread (the PyO3 "interpreter is not
initialized" panic), and the index stays at its last committed version.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

from .cancel import StopToken
from .config import Config
from .embedding import Embedder, create_embedder
from .errors import ClosedError
from .lock import Lock
from .store import Store, open_snapshot_reader, open_store, writer_lock

if TYPE_CHECKING:
    from .store import Store

T = TypeVar("T")
STOP_GRACE_SECONDS = 3.0


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Session:
    def __init__(
        self,
        root: Path,
        config: Config,
        *,
        embedder_factory: Callable[[], Embedder] | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.index_dir = config.index_path(root)
        self.stop = StopToken()
        self.state = State.OPEN
        self._embedder_factory = embedder_factory or (lambda: create_embedder(config.model))
        self._embedder: Embedder | None = None
        self._store: Store | None = None
        self._store_writable = False
        self._reader: Store | None = None
        self._retired: list[Store] = []  # replaced readers; searches may still hold them
        self._lock = writer_lock(config, root)
        self._mutex = threading.RLock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ resources
    def _check_open(self) -> None:
        if self.state is State.CLOSED:
            raise ClosedError("the session is closed")

    def embedder(self) -> Embedder:
        with self._mutex:
            self._check_open()
            if self._embedder is None:
                self._embedder = self._embedder_factory()
            return self._embedder

    def store(
        self, *, writable: bool = False, rebuild: bool = False, one_shot: bool = False
    ) -> Store:
        """The store; writable stores need the writer lock (acquire_writer) first.

        `rebuild` (index --force) lets a writer replace an index built with another model.
        `one_shot` (a command that reads once and exits) takes the engine-free copy of
        the index when it is current, which opens in milliseconds instead of seconds.
        """
        with self._mutex:
            self._check_open()
            if self._store is not None and (self._store_writable or not writable):
                return self._store
            if writable and not self._lock.held:
                raise RuntimeError("acquire the writer lock before opening a writable store")
            embedder = self.embedder()
            if self._store is not None:
                self._store.close()
            if one_shot and not writable:
                reader = open_snapshot_reader(
                    self.config,
                    self.root,
                    model_id=embedder.model_id,
                    dimensions=embedder.dimensions,
                )
                if reader is not None:
                    self._store, self._store_writable = reader, False
                    return reader
            self._store = open_store(
                self.config,
                self.root,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
                writable=writable,
                rebuild=rebuild,
            )
            self._store_writable = writable
            return self._store

    def reader(self, *, renew: bool = False) -> Store:
        """A read-only store apart from store(): a server searches through it while its
        writer writes, and reads never wait on writes. `renew` opens a fresh one (the old
        one is closed with the session, as searches in flight may still use it).

        Raises IndexNotFoundError while there is no index yet.
        """
        with self._mutex:
            self._check_open()
            if self._reader is not None and not renew:
                return self._reader
            embedder = self.embedder()
            fresh = open_store(
                self.config,
                self.root,
                model_id=embedder.model_id,
                dimensions=embedder.dimensions,
                writable=False,
            )
            if self._reader is not None:
                self._retired.append(self._reader)
            self._reader = fresh
            return fresh

    def acquire_writer(self, *, wait: bool = False, command: str = "index") -> None:
        self._check_open()
        self._lock.acquire(wait=wait, stop=self.stop.event, command=command)
        # This checkout's progress and snapshot live here whatever the engine (a shared
        # database's lock does not make the directory the file lock does).
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # progress is informative; the store reports real failures itself

    def release_writer(self) -> None:
        with self._mutex:
            if self._store is not None and self._store_writable:
                self._store.close()
                self._store = None
                self._store_writable = False
            self._lock.release()

    @property
    def writer_lock(self) -> Lock:
        return self._lock

    # ------------------------------------------------------------ threads
    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """A daemon-free worker owned by the session and joined by close()."""
        self._check_open()
        thread = threading.Thread(target=target, name=name, daemon=False)
        self._threads.append(thread)
        thread.start()
        return thread

    def run_in_worker(
        self,
        fn: Callable[[], T],
        name: str = "mvs-worker",
        *,
        started: threading.Event | None = None,
    ) -> T:
        """Run fn in an owned thread; the main thread waits, handling signals promptly.

        `started`, when given, is set by fn once it begins work worth finishing; a stop
        before that (while it imports the engine or loads the model, which can take
        seconds and has nothing to commit) leaves at once.
        """
        results: list[T] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                results.append(fn())
            except BaseException as exc:  # handed to the main thread as is
                errors.append(exc)

        thread = self.start_thread(target, name)
        while thread.is_alive():
            thread.join(0.1)
            if self.stop.requested:
                if started is not None and not started.is_set():
                    hard_exit(self.stop, "Interrupted before indexing started; nothing was changed")
                thread.join(STOP_GRACE_SECONDS)
                if thread.is_alive():
                    hard_exit(self.stop, "Stopped; the index keeps its last committed state.")
                break
        if errors:
            raise errors[0]
        return results[0]

    # ------------------------------------------------------------ shutdown
    def close(self) -> None:
        with self._mutex:
            if self.state is State.CLOSED:
                return
            self.state = State.CLOSED
            self.stop.request()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_GRACE_SECONDS * 2)
        if any(t.is_alive() for t in self._threads if t is not threading.current_thread()):
            # A worker is stuck (in native code, most likely): closing the store or the
            # model under it could crash it, and releasing the lock would let a second
            # writer in beside it. The process exit (os._exit) reclaims all of it.
            return
        self._threads.clear()
        for store in [self._store, self._reader, *self._retired]:
            if store is not None:
                store.close()
        self._store, self._reader, self._retired = None, None, []
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None
        self._lock.release()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hard_exit(stop: StopToken, message: str) -> None:
    """Leave now without finalizing the interpreter (no native code during shutdown)."""
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os._exit(128 + (stop.signum or signal.SIGINT))


@contextmanager
def signals_to(stop: StopToken) -> Iterator[None]:
    """First SIGINT/SIGTERM requests a stop; a second SIGINT leaves at once.

    Only the main thread may install handlers; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.requested:
            hard_exit(stop, "Stopped at once; the index keeps its last committed state.")
        stop.request(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)
