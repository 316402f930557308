"""What only the Chroma store promises: the CLI unchanged on it (embedded and against a
real `chroma run` server), kill -9 mid-write converging, a server that is down or stops
mid-run as one clear line, and native panics mapped at the boundary."""

from __future__ import annotations

import json
import signal
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from mcp_vector_search.config import Config, load_config
from mcp_vector_search.errors import StoreError
from mcp_vector_search.store import open_store
from mcp_vector_search.store.chroma import call
from tests.crashkit import (
    bad_markers,
    cli_env,
    fingerprint_of,
    free_port,
    make_corpus,
    progress_is,
    run_cli,
    start_chroma_server,
    start_index,
    stop_chroma_server,
    wait_for,
)

MODES = ["embedded", "server"]


def chroma_env(index_dir: Path, home: Path, url: str, project: str) -> dict[str, str]:
    env = cli_env(index_dir, home=home)
    env.update({"MVS_STORE": "chroma", "MVS_PROJECT": project})
    if url:
        env["MVS_CHROMA_URL"] = url
    return env


def chroma_config(root: Path, index_dir: Path, url: str, project: str) -> Config:
    base = load_config(root, env={"MVS_MODEL": "fake"}, user_config=root / "none.toml")
    return replace(base, store="chroma", chroma_url=url, project=project, index_dir=str(index_dir))


@pytest.fixture(params=MODES)
def mode_url(request: pytest.FixtureRequest) -> str:
    """ "" for the embedded client, else the session's server URL."""
    if request.param == "embedded":
        return ""
    url: str = request.getfixturevalue("chroma_url")
    return url


def test_index_search_status_symbol_and_reset(
    sample_project: Path, tmp_path: Path, mode_url: str
) -> None:
    env = chroma_env(tmp_path / "idx", tmp_path, mode_url, f"cli-{uuid.uuid4().hex[:8]}")
    first = run_cli(env, "index", str(sample_project), "--json", "--quiet")
    assert first.returncode == 0 and not bad_markers(first.stderr), first.stderr
    report = json.loads(first.stdout)
    assert report["chunks_total"] == report["embedded_total"] > 0
    found = run_cli(env, "--project", str(sample_project), "search", "retry upload", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["symbol"] == "Uploader.upload_with_retry"
    lexical = run_cli(
        env, "--project", str(sample_project), "search", "upload_with_retry", "--mode", "lexical"
    )
    assert "Uploader.upload_with_retry" in lexical.stdout, lexical.stderr
    status = run_cli(env, "--project", str(sample_project), "status", "--json")
    data = json.loads(status.stdout)
    assert data["chunks"] == data["embedded"] == report["chunks_total"]
    assert data["stale_files"] == 0 and data["indexing"] is None
    sym = run_cli(env, "--project", str(sample_project), "symbol", "upload_with_retry")
    assert "Uploader.upload_with_retry" in sym.stdout, sym.stderr
    again = json.loads(run_cli(env, "index", str(sample_project), "--json", "-q").stdout)
    assert again["files_changed"] == 0 and again["vectors_added"] == 0
    gone = run_cli(env, "--project", str(sample_project), "reset", "--yes")
    assert gone.returncode == 0, gone.stderr
    after = run_cli(env, "--project", str(sample_project), "search", "upload")
    assert after.returncode == 3 and not bad_markers(after.stderr), after.stderr


def test_kill_9_mid_write_then_the_rerun_converges(tmp_path: Path, mode_url: str) -> None:
    root = make_corpus(tmp_path / "proj", files=800, functions=2)
    project = f"kill-{uuid.uuid4().hex[:8]}"
    idx = tmp_path / "idx"
    env = chroma_env(idx, tmp_path, mode_url, project)
    config = chroma_config(root, idx, mode_url, project)
    # While chunks are written (lexical), then while vectors are (embed).
    for phase, minimum in (("lexical", 1), ("embed", 0)):
        proc = start_index(root, env)
        assert wait_for(proc, progress_is(idx, phase, minimum), timeout=120), proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert not fingerprint_of(config, root).broken()
        found = run_cli(env, "--project", str(root), "search", "archive the ledger", "--json")
        assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr
    rerun = run_cli(env, "index", str(root), "--quiet")
    assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
    # A clean run of the same tree, in an index (and project) of its own, is the reference.
    ref_idx = tmp_path / "ref"
    clean = run_cli(chroma_env(ref_idx, tmp_path, mode_url, project + "-ref"), "index", str(root))
    assert clean.returncode == 0, clean.stderr
    reference = fingerprint_of(chroma_config(root, ref_idx, mode_url, project + "-ref"), root)
    mine = fingerprint_of(config, root)
    assert mine == reference, mine.diff(reference)
    assert not reference.problems()


def test_a_server_that_is_down_is_one_clear_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = chroma_config(tmp_path, tmp_path / "idx", url, "down")
    with pytest.raises(StoreError) as info:
        open_store(config, tmp_path, model_id="m", dimensions=4, writable=True)
    assert str(info.value).startswith(f"cannot reach the Chroma server at {url}")
    assert "\n" not in str(info.value) and "chroma run" in (info.value.hint or "")
    env = chroma_env(tmp_path / "idx2", tmp_path, url, "down")
    proc = run_cli(env, "index", str(make_corpus(tmp_path / "p", files=2)), "--quiet")
    assert proc.returncode == 6 and not bad_markers(proc.stderr), proc.stderr
    assert "cannot reach the Chroma server" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr


def test_a_server_stopped_mid_run_is_a_clear_error_and_the_next_run_converges(
    tmp_path: Path,
) -> None:
    data = tmp_path / "server"
    data.mkdir()
    port = free_port()
    server, url = start_chroma_server(data, port)
    root = make_corpus(tmp_path / "proj", files=600, functions=2)
    idx = tmp_path / "idx"
    env = chroma_env(idx, tmp_path, url, "restart")
    config = chroma_config(root, idx, url, "restart")
    try:
        proc = start_index(root, env)
        # Chunks go to the local sidecar, vectors to the server: stopped while chunks are
        # written, the server is gone when the first vectors are.
        assert wait_for(proc, progress_is(idx, "lexical", 1), timeout=120), proc.communicate()
        stop_chroma_server(server)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 6 and not bad_markers(err), err
        assert "cannot reach the Chroma server" in err and len(err.strip().splitlines()) <= 2
        server, _ = start_chroma_server(data, port)  # the same data, the same address
        rerun = run_cli(env, "index", str(root), "--quiet")
        assert rerun.returncode == 0 and not bad_markers(rerun.stderr), rerun.stderr
        assert not fingerprint_of(config, root).problems()
    finally:
        stop_chroma_server(server)


def test_a_native_panic_is_caught_by_type_at_the_boundary() -> None:
    # PyO3 raises pyo3_runtime.PanicException (a BaseException); the boundary knows it
    # by the identity of its type, so one of that module and name stands in for it.
    panic = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})

    def boom() -> None:
        raise panic("index out of bounds")

    with pytest.raises(StoreError, match="native panic in pyo3_runtime"):
        call("", "vector search", boom)
    with pytest.raises(KeyboardInterrupt):
        call("", "vector search", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))


_WRITER = """
import sys
import numpy as np
from pathlib import Path
from dataclasses import replace
from mcp_vector_search.config import load_config
from mcp_vector_search.records import Chunk, FileState
from mcp_vector_search.store import embed_hash, open_store

root, i = Path(sys.argv[1]), int(sys.argv[2])
config = replace(load_config(root, env={}, user_config=root / "none.toml"), store="chroma")
store = open_store(config, root, model_id="m", dimensions=4, writable=True)
c = Chunk(f"f{i}.py", 1, 1, "function", f"f{i}", "python", f"def f{i}(): pass", f"e{i}")
store.replace_files([FileState(c.path, "h", 1, 1, "indexed", 1)], [c])
store.add_vectors([embed_hash("m", c.embed_text)], np.eye(4, dtype=np.float32)[i : i + 1])
store.close()
"""


def test_an_embedded_reader_sees_vectors_another_process_wrote_later(tmp_path: Path) -> None:
    import subprocess
    import sys

    import numpy as np

    def write(i: int) -> None:
        subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path), str(i)], check=True)

    write(0)
    config = replace(
        load_config(tmp_path, env={}, user_config=tmp_path / "none.toml"), store="chroma"
    )
    reader = open_store(config, tmp_path, model_id="m", dimensions=4, writable=False)
    try:
        query = np.eye(4, dtype=np.float32)[1]
        assert [h.chunk.path for h in reader.vector_search(query, 5)] == ["f0.py"]
        write(1)  # the search daemon's case: a long-lived reader, a later `mvs index`
        hits = reader.vector_search(query, 5)
        assert [h.chunk.path for h in hits] == ["f1.py", "f0.py"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    finally:
        reader.close()


def test_reset_drops_the_collection_of_an_embedded_chroma_outside_the_index(
    tmp_path: Path,
) -> None:
    import numpy as np

    from mcp_vector_search.store import delete_index
    from mcp_vector_search.store.chroma import close_client, connect

    outside = tmp_path / "shared-chroma"
    config = replace(chroma_config(tmp_path, tmp_path / "idx", "", "ext"), chroma_path=str(outside))
    store = open_store(config, tmp_path, model_id="m", dimensions=4, writable=True)
    store.add_vectors(["h"], np.eye(4, dtype=np.float32)[:1])
    store.close()
    assert "ext" in delete_index(config, tmp_path)
    client = connect("", outside)
    try:
        assert client.list_collections() == []
    finally:
        close_client(client)


def test_vector_search_agrees_with_the_exact_scan(tmp_path: Path) -> None:
    """Chroma answers from its HNSW graph (ef_search 1000): checked against numpy on
    random unit vectors, the hardest case for a graph index."""
    import numpy as np

    from mcp_vector_search.records import Chunk, FileState
    from mcp_vector_search.store import embed_hash

    config = chroma_config(tmp_path, tmp_path / "idx", "", "recall")
    store = open_store(config, tmp_path, model_id="m", dimensions=64, writable=True)
    try:
        n = 3000
        chunks = [
            Chunk(f"f{i}.py", 1, 1, "function", None, "python", "x", f"t{i}") for i in range(n)
        ]
        store.replace_files([FileState(c.path, "h", 1, 1, "indexed", 1) for c in chunks], chunks)
        rng = np.random.default_rng(7)
        vecs = rng.normal(size=(n, 64)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        store.add_vectors([embed_hash("m", c.embed_text) for c in chunks], vecs)
        recalls = []
        for q in rng.normal(size=(10, 64)).astype(np.float32):
            q /= np.linalg.norm(q)
            sims = vecs @ q
            exact = {f"f{i}.py" for i in np.argsort(-sims)[:50]}
            hits = store.vector_search(q, 50)
            recalls.append(len(exact & {h.chunk.path for h in hits}) / 50)
            for h in hits:
                assert h.score == pytest.approx(float(sims[int(h.chunk.path[1:-3])]), abs=1e-4)
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert min(recalls) >= 0.9 and sum(recalls) / len(recalls) >= 0.97, recalls
    finally:
        store.close()


def test_the_mcp_tools_and_the_watcher_on_chroma(
    sample_project: Path, fake_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from mcp_vector_search.agent_tools import open_tools
    from tests.test_mcp_server import call, ok

    monkeypatch.setenv("MVS_STORE", "chroma")
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
