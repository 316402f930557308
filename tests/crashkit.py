"""Helpers for the crash-safety tests and bench/chaos.py: run the real CLI in a
subprocess, wait (bounded) for what it reports, and compare what an index holds.

Nothing here fakes a store or a model: the index is read back through the real store,
read-only, as any other reader would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_vector_search.config import Config

CLI = [sys.executable, "-m", "mcp_vector_search"]

# What must never reach stderr, whatever moment a signal or a kill lands on.
BAD_MARKERS = (
    "Traceback",
    "panicked",
    "PanicException",
    "Exception ignored in",
    "Segmentation fault",
    "Fatal Python error",
    "core dumped",
    "interpreter is not initialized",
)


def bad_markers(stderr: str) -> list[str]:
    return [m for m in BAD_MARKERS if m in stderr]


def cli_env(index_dir: Path, *, model: str = "fake", home: Path | None = None) -> dict[str, str]:
    """The environment for one CLI subprocess: its model, its index dir, no daemon."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MVS_") and k not in ("XDG_CONFIG_HOME", "PYTHONWARNINGS")
    }
    env["MVS_MODEL"] = model
    env["MVS_INDEX_DIR"] = str(index_dir)
    env["MVS_SEARCH_DAEMON"] = "0"  # a daemon would outlive the test and hold the index open
    if home is not None:
        env["XDG_CONFIG_HOME"] = str(home / "xdg-config")
        env["MVS_CACHE_DIR"] = str(home / "cache")
    return env


def start_index(
    root: Path, env: dict[str, str], *args: str, quiet: bool = True
) -> subprocess.Popen[str]:
    cmd = [*CLI, "index", str(root), *(["--quiet"] if quiet else []), *args]
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def signal_in_lexical_stage(tmp_path: Path, sig: int) -> tuple[Path, Path, dict[str, str], str]:
    """A first `index` of a 2,000-file corpus, sent `sig` once its lexical stage has
    committed a file: (project root, index dir, env, the run's stderr). The run must have
    exited with the signal's code (128 + sig)."""
    root = make_corpus(tmp_path / "proj", files=2000, functions=1)
    idx = tmp_path / "idx"
    env = cli_env(idx, home=tmp_path)
    proc = start_index(root, env)
    assert wait_for(proc, progress_is(idx, "lexical", 1), timeout=120), proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    return root, idx, env, err


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_progress(index_dir: Path) -> dict[str, object] | None:
    try:
        data = json.loads((index_dir / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def wait_for(
    proc: subprocess.Popen[str],
    ready: Callable[[], bool],
    *,
    timeout: float,
    poll: float = 0.05,
) -> bool:
    """Wait until ready() holds, the process ends, or the timeout passes.

    The pause between checks is a bounded wait on the process itself, so an early exit
    ends the wait at once. Returns whether ready() held while the process still ran.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return proc.poll() is None
        try:
            proc.wait(timeout=poll)
            return False  # it ended before the moment came
        except subprocess.TimeoutExpired:
            pass
    return False


def progress_is(index_dir: Path, phase: str, minimum: int = 0) -> Callable[[], bool]:
    """A ready() for wait_for: the writer reports `phase` with at least `minimum` done.

    Only progress written from now on counts: an earlier run's file is still there.
    """
    since = time.time() - 0.5  # written with time.time() by another process

    def ready() -> bool:
        p = read_progress(index_dir)
        if p is None or p.get("phase") != phase:
            return False
        updated = p.get("updated")
        if not isinstance(updated, int | float) or updated < since:
            return False
        done = p.get("files_done" if phase == "lexical" else "embed_done")
        return isinstance(done, int) and done >= minimum

    return ready


@dataclass(frozen=True)
class Fingerprint:
    """What an index holds, in the terms a clean run must reproduce exactly."""

    chunks: frozenset[tuple[str, int, int, str]]  # path, start, end, chunk id (content hash)
    files: frozenset[tuple[str, str, str]]  # path, status, file hash
    duplicate_chunks: int  # rows sharing an id (one line can hold several chunks, so not spans)
    orphan_chunks: int  # chunks of a path the files table doesn't record as indexed
    missing_chunks: int  # files recorded with chunks that have none in the table
    missing_vectors: int  # chunks whose embed hash has no vector
    duplicate_vectors: int

    def problems(self) -> list[str]:
        """Anything a completed run must not leave."""
        return self.broken() + (
            [f"missing_vectors={self.missing_vectors}"] * bool(self.missing_vectors)
        )

    def broken(self) -> list[str]:
        """Anything no state may show, even right after a stop or a kill (vectors still
        to embed are allowed then)."""
        names = ("duplicate_chunks", "orphan_chunks", "missing_chunks", "duplicate_vectors")
        return [f"{n}={getattr(self, n)}" for n in names if getattr(self, n)]

    def diff(self, other: Fingerprint) -> str:
        parts = []
        if self.chunks != other.chunks:
            a, b = self.chunks - other.chunks, other.chunks - self.chunks
            parts.append(f"chunks: {len(a)} extra, {len(b)} missing (e.g. {sorted(a | b)[:3]})")
        if self.files != other.files:
            a, b = self.files - other.files, other.files - self.files
            parts.append(f"files: {len(a)} extra, {len(b)} missing (e.g. {sorted(a | b)[:3]})")
        return "; ".join(parts + self.problems())


def fingerprint(index_dir: Path) -> Fingerprint:
    from mcp_vector_search.store.lancedb import open_store
    from mcp_vector_search.store.meta import read_meta

    meta = read_meta(index_dir)
    assert meta is not None, f"no index at {index_dir}"
    store = open_store(
        index_dir,
        model_id=str(meta["model_id"]),
        dimensions=int(meta["dimensions"]),
        writable=False,
    )
    try:
        catalog = store.chunk_catalog()
        states = store.file_states()
        hashes, _ = store.vectors()
    finally:
        store.close()
    ids = [c.id for c in catalog]
    indexed = {p for p, s in states.items() if s.status == "indexed"}
    with_chunks = {c.path for c in catalog}
    have = set(hashes)
    return Fingerprint(
        chunks=frozenset((c.path, c.start_line, c.end_line, c.id) for c in catalog),
        files=frozenset((p, s.status, s.file_hash) for p, s in states.items()),
        duplicate_chunks=len(ids) - len(set(ids)),
        orphan_chunks=sum(1 for c in catalog if c.path not in indexed),
        missing_chunks=sum(
            1
            for p, s in states.items()
            if s.status == "indexed" and s.chunks and p not in with_chunks
        ),
        missing_vectors=sum(1 for c in catalog if c.embed_hash not in have),
        duplicate_vectors=len(hashes) - len(have),
    )


def fingerprint_of(config: Config, root: Path) -> Fingerprint:
    """fingerprint() for any engine, read through the store seam (a server engine keeps
    one row per vector, so it has no duplicate vectors to count)."""
    from mcp_vector_search.embedding import create_embedder
    from mcp_vector_search.store import open_store

    embedder = create_embedder(config.model)
    store = open_store(
        config, root, model_id=embedder.model_id, dimensions=embedder.dimensions, writable=False
    )
    try:
        catalog, states = store.chunk_catalog(), store.file_states()
        missing = set(store.missing_vector_hashes())
    finally:
        store.close()
        embedder.close()
    ids = [c.id for c in catalog]
    indexed = {p for p, s in states.items() if s.status == "indexed"}
    with_chunks = {c.path for c in catalog}
    return Fingerprint(
        chunks=frozenset((c.path, c.start_line, c.end_line, c.id) for c in catalog),
        files=frozenset((p, s.status, s.file_hash) for p, s in states.items()),
        duplicate_chunks=len(ids) - len(set(ids)),
        orphan_chunks=sum(1 for c in catalog if c.path not in indexed),
        missing_chunks=sum(
            1
            for p, s in states.items()
            if s.status == "indexed" and s.chunks and p not in with_chunks
        ),
        missing_vectors=sum(1 for c in catalog if c.embed_hash in missing),
        duplicate_vectors=0,
    )


def search_works_of(config: Config, root: Path, query: str = "parse the request headers") -> int:
    """search_works() for any engine; 0 when there is no index yet."""
    from mcp_vector_search.embedding import create_embedder
    from mcp_vector_search.search import Searcher
    from mcp_vector_search.store import index_meta, open_store

    if index_meta(config, root) is None:
        return 0
    embedder = create_embedder(config.model)
    store = open_store(
        config, root, model_id=embedder.model_id, dimensions=embedder.dimensions, writable=False
    )
    try:
        return len(Searcher(store, lambda: embedder).search(query, limit=5).results)
    finally:
        store.close()
        embedder.close()


def search_works(index_dir: Path, query: str = "parse the request headers") -> int:
    """Search the index in this process, read-only, as the CLI does; returns the hit count.

    Raises whatever the search raises: the callers count that as a failure.
    """
    from mcp_vector_search.embedding import create_embedder, model_label
    from mcp_vector_search.search import Searcher
    from mcp_vector_search.store.lancedb import open_store
    from mcp_vector_search.store.meta import read_meta

    meta = read_meta(index_dir)
    if meta is None:
        return 0  # killed before the index existed: "no index" is the right answer
    model = model_label(str(meta["model_id"]))  # the config name of the index's own model
    embedder = create_embedder(model)
    store = open_store(
        index_dir,
        model_id=str(meta["model_id"]),
        dimensions=int(meta["dimensions"]),
        writable=False,
    )
    try:
        result = Searcher(store, lambda: embedder).search(query, limit=5)
        return len(result.results)
    finally:
        store.close()
        embedder.close()


_WORDS = [
    "parse",
    "fetch",
    "render",
    "cache",
    "retry",
    "upload",
    "token",
    "session",
    "payload",
    "invoice",
    "ledger",
    "schedule",
    "resize",
    "encode",
    "decode",
    "migrate",
    "validate",
    "archive",
    "notify",
    "compress",
    "index",
]


def make_corpus(root: Path, files: int, functions: int = 4, seed: int = 0) -> Path:
    """A project of `files` Python modules, `functions` distinct functions each.

    Every function is different text, so every chunk is embedded (no hash reuse), and a
    real model has work for roughly files * functions chunks.
    """
    import random

    rng = random.Random(seed)
    for f in range(files):
        pkg = root / f"pkg{f % 7}"
        pkg.mkdir(parents=True, exist_ok=True)
        body = [f'"""Module {f}: {rng.choice(_WORDS)} helpers."""', ""]
        for g in range(functions):
            a, b, c = rng.sample(_WORDS, 3)
            body += [
                f"def {a}_{b}_{f}_{g}(items, limit={rng.randrange(2, 99)}):",
                f'    """{a.title()} the {b} of each item, then {c} what is left."""',
                "    out = []",
                "    for n, item in enumerate(items):",
                f"        if n > limit or item is None:  # {rng.choice(_WORDS)}",
                "            break",
                f"        value = item.get('{b}', {rng.randrange(1000)})",
                f"        out.append(({a!r}, value * {rng.randrange(2, 9)}))",
                f"    return {c}_result(out, '{a}-{f}-{g}')",
                "",
            ]
        (pkg / f"mod_{f}.py").write_text("\n".join(body) + "\n", encoding="utf-8")
    return root


def status_json(env: dict[str, str], root: Path) -> dict[str, object]:
    proc = run_cli(env, "--project", str(root), "status", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not bad_markers(proc.stderr), proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma_server(data: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
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
