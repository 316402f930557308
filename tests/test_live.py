"""The live index: edits, deletions and ignore rules followed on disk; the `watch` command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_vector_search.config import load_config
from mcp_vector_search.embedding import create_embedder
from mcp_vector_search.errors import IndexNotFoundError
from mcp_vector_search.lifecycle import Session
from mcp_vector_search.live import LiveIndex
from mcp_vector_search.store.lancedb import open_store

WAIT = 20.0  # generous bound for anything the watcher should do "within about 2 s"


def eventually(check: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `check` until it holds or the bound passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if check():
            return True
        tick.wait(0.05)
    return check()


@contextmanager
def reader(session: Session) -> Iterator[Any]:
    embedder = session.embedder()
    store = open_store(
        session.index_dir,
        model_id=embedder.model_id,
        dimensions=embedder.dimensions,
        writable=False,
    )
    try:
        yield store
    finally:
        store.close()


def paths_in_index(session: Session) -> set[str]:
    try:
        with reader(session) as store:
            return {c.path for c in store.chunk_catalog()}
    except IndexNotFoundError:  # the watcher's first pass has not created it yet
        return set()


def symbols_in_index(session: Session) -> set[str | None]:
    try:
        with reader(session) as store:
            return {c.symbol for c in store.chunk_catalog()}
    except IndexNotFoundError:
        return set()


@pytest.fixture
def live(sample_project: Path, fake_env: None) -> Iterator[tuple[Session, LiveIndex]]:
    session = Session(sample_project, load_config(sample_project))
    index = LiveIndex(session)
    index.start()
    try:
        assert index.wait_idle(60)
        assert index.watching.wait(WAIT)
        yield session, index
    finally:
        session.close()


def test_an_edit_is_picked_up(live: tuple[Session, LiveIndex]) -> None:
    session, _ = live
    target = session.root / "src/app/config.py"
    target.write_text(target.read_text() + "\n\ndef narwhal_checksum():\n    return 1\n")
    assert eventually(lambda: "narwhal_checksum" in symbols_in_index(session))


def test_new_and_deleted_files_and_directories(live: tuple[Session, LiveIndex]) -> None:
    session, _ = live
    (session.root / "src/app/extra").mkdir()
    (session.root / "src/app/extra/pelican.py").write_text("def pelican():\n    return 2\n")
    assert eventually(lambda: "src/app/extra/pelican.py" in paths_in_index(session))
    (session.root / "web/cart.js").unlink()
    assert eventually(lambda: "web/cart.js" not in paths_in_index(session))
    shutil.rmtree(session.root / "src/app/extra")
    assert eventually(lambda: "src/app/extra/pelican.py" not in paths_in_index(session))


def test_ignored_files_never_reach_the_index(live: tuple[Session, LiveIndex]) -> None:
    session, _ = live
    root = session.root
    (root / ".env").write_text("API_KEY=hunter2\n")
    (root / "build/new_gen.py").write_text("def generated():\n    pass\n")
    (root / "server.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    (root / "later.log").write_text("log line\n")
    # Written last: once it is in, the watcher has seen every earlier event.
    (root / "src/app/marker.py").write_text("def marker():\n    return 3\n")
    assert eventually(lambda: "src/app/marker.py" in paths_in_index(session))
    indexed = paths_in_index(session)
    assert not indexed & {".env", "build/new_gen.py", "server.key", "later.log"}


def test_a_gitignore_change_is_followed(live: tuple[Session, LiveIndex]) -> None:
    session, _ = live
    assert "web/cart.js" in paths_in_index(session)
    gitignore = session.root / ".gitignore"
    gitignore.write_text(gitignore.read_text() + "web/\n")
    assert eventually(lambda: "web/cart.js" not in paths_in_index(session))


class SlowEmbedder:
    """The configured fake model, made slow, to watch lexical work overtake embedding."""

    def __init__(self, seconds_per_batch: float) -> None:
        self._inner = create_embedder("fake")
        self._delay = seconds_per_batch
        self.model_id = self._inner.model_id
        self.dimensions = self._inner.dimensions
        self.max_tokens = self._inner.max_tokens
        self._pause = threading.Event()

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > 1:  # a query is one text; keep searches quick
            self._pause.wait(self._delay)
        return self._inner.embed_batch(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._inner.count_tokens(texts)

    def close(self) -> None:
        self._inner.close()


def test_edits_are_searchable_before_vectors_catch_up(tmp_path: Path, fake_env: None) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    for i in range(40):
        body = "".join(f"def fn_{i}_{j}(x):\n    return x * {j}\n\n" for j in range(10))
        (root / f"mod{i}.py").write_text(body)
    session = Session(root, load_config(root), embedder_factory=lambda: SlowEmbedder(0.3))
    index = LiveIndex(session)
    index.start()
    try:
        assert eventually(lambda: index.activity().phase == "embed", 60)
        assert index.watching.wait(WAIT)
        (root / "fresh.py").write_text("def quokka_handler():\n    return 0\n")
        assert eventually(lambda: "quokka_handler" in symbols_in_index(session))
        with reader(session) as store:
            _files, chunks, embedded = store.counts()
        assert embedded < chunks  # the lexical update did not wait for the vectors
        assert index.wait_idle(120)
    finally:
        session.close()


def test_session_close_stops_the_threads(sample_project: Path, fake_env: None) -> None:
    session = Session(sample_project, load_config(sample_project))
    index = LiveIndex(session)
    index.start()
    assert index.watching.wait(WAIT)
    session.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("mvs-")]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mcp_vector_search", *args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_command_follows_edits_and_stops_on_signal(
    sample_project: Path, fake_env: None, sig: signal.Signals
) -> None:
    lines: list[str] = []
    watching = threading.Event()
    # The with block closes the pipes (an unclosed one is a ResourceWarning, an error here).
    with subprocess.Popen(
        _cli("watch", str(sample_project)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as proc:

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line)
                if line.startswith("watching"):
                    watching.set()

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert watching.wait(60), "".join(lines)
            session = Session(sample_project, load_config(sample_project))
            try:
                target = sample_project / "src/app/config.py"
                target.write_text(target.read_text() + "\n\ndef okapi_rollup():\n    return 5\n")
                assert eventually(lambda: "okapi_rollup" in symbols_in_index(session))
            finally:
                session.close()
            proc.send_signal(sig)
            assert proc.wait(timeout=5) == 128 + sig
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(10)
        assert proc.stdout is not None and proc.stdout.read() == ""
    err = "".join(lines)
    assert "Traceback" not in err and "panicked" not in err
