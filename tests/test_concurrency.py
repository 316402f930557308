"""One writer, many readers: a second writer is told who holds the index (or waits),
and searches during a write always succeed and see a consistent index.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.crashkit import (
    CLI,
    bad_markers,
    cli_env,
    fingerprint,
    make_corpus,
    progress_is,
    run_cli,
    start_index,
    wait_for,
)

HOLDER = re.compile(r"^error: the index is being written by pid (\d+) on \S+ \(index, since ")


def test_two_writers_at_once(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "proj", files=60, functions=4)
    idx = tmp_path / "idx"
    env = cli_env(idx, model="minilm", home=tmp_path)

    first = start_index(root, env)
    try:
        assert wait_for(first, progress_is(idx, "embed", 1), timeout=300), first.communicate()

        # A second `index` is refused in one line naming the holder.
        second = run_cli(env, "index", str(root), "--quiet")
        assert second.returncode == 4, second.stderr
        assert not bad_markers(second.stderr)
        lines = second.stderr.strip().splitlines()
        match = HOLDER.match(lines[0])
        assert match and int(match[1]) == first.pid, second.stderr
        assert len(lines) == 2 and "--wait" in lines[1]

        # `watch` waits for the holder and says so; Ctrl+C leaves it cleanly.
        watch = subprocess.Popen(
            [*CLI, "watch", str(root)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert watch.stderr is not None
        said = watch.stderr.readline()  # its first line; bounded by the timeout below
        assert said.startswith(f"waiting: the index is being written by pid {first.pid}"), said
        watch.send_signal(signal.SIGINT)
        _, rest = watch.communicate(timeout=60)
        assert watch.returncode == 130 and not bad_markers(rest), rest

        # `index --wait` waits its turn, then finds nothing left to do.
        waiter = start_index(root, env, "--wait", "--json")
        first_err = first.communicate(timeout=600)[1]
        assert first.returncode == 0 and not bad_markers(first_err), first_err
        out, err = waiter.communicate(timeout=300)
        assert waiter.returncode == 0 and not bad_markers(err), err
    finally:
        for proc in (first, locals().get("watch"), locals().get("waiter")):
            if isinstance(proc, subprocess.Popen) and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert json.loads(out)["files_changed"] == 0
    assert not fingerprint(idx).problems()


def test_wait_for_the_lock_can_be_interrupted(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from pathlib import Path
                from mcp_vector_search.lock import WriterLock
                WriterLock(Path({str(idx)!r})).acquire(command="test")
                print("held", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        root = make_corpus(tmp_path / "proj", files=3)
        waiter = start_index(root, cli_env(idx, home=tmp_path), "--wait")
        # Once it has said nothing for a while it is waiting; a bounded wait, then Ctrl+C.
        assert not wait_for(waiter, lambda: False, timeout=3.0)
        waiter.send_signal(signal.SIGINT)
        _, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 130, err
        assert not bad_markers(err)
        assert err.strip().splitlines() == [
            "Interrupted while waiting for the writer lock; nothing was changed"
        ] or err.strip().startswith("Interrupted"), err
    finally:
        holder.kill()
        holder.communicate()


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from mcp_vector_search.embedding import create_embedder
    from mcp_vector_search.search import Searcher
    from mcp_vector_search.store.lancedb import open_store
    from mcp_vector_search.store.meta import read_meta

    index_dir, root, writer_pid = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    queries = ["validate the invoice", "retry_upload", "archive ledger token", "encode"]
    embedder = create_embedder("fake")
    store = None
    searches, during, errors, mismatches, max_hits = 0, 0, [], [], 0
    def writer_alive():
        try:
            with open(f"/proc/{writer_pid}/stat") as fh:
                return fh.read().split()[2] != "Z"
        except OSError:
            return False
    while writer_alive() or searches < 5:
        if read_meta(index_dir) is None:
            time.sleep(0.05)  # the writer has not created the index yet
            continue
        try:
            if store is None:  # one long-lived reader, as the MCP server keeps
                meta = read_meta(index_dir)
                store = open_store(index_dir, model_id=meta["model_id"],
                                   dimensions=meta["dimensions"], writable=False)
                searcher = Searcher(store, lambda: embedder)
            result = searcher.search(queries[searches % len(queries)], limit=5)
            searches += 1
            during += writer_alive()
            max_hits = max(max_hits, len(result.results))
            for hit in result.results:
                lines = (root / hit.path).read_text().splitlines()
                # The snippet is cut from the stored text of the hit's own row (and its
                # definition's signature): a row read from another table version would
                # show lines that are not in the file up to the hit's end.
                known = {ln.rstrip() for ln in lines[: hit.end_line]}
                shown = [ln for ln in hit.snippet.split("\\n") if ln != "…"]
                last = shown.pop().removesuffix("…") if shown else ""
                if not last or any(ln not in known for ln in shown) or not any(
                    k.startswith(last) for k in known
                ):
                    mismatches.append(f"{hit.path}:{hit.start_line}-{hit.end_line}")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"searches": searches, "during": during, "errors": errors[:5],
                      "n_errors": len(errors), "mismatches": mismatches[:5],
                      "max_hits": max_hits}))
    """
)


def snapshot(index_dir: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(index_dir):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


def test_search_during_indexing_always_succeeds_and_readers_never_write(tmp_path: Path) -> None:
    root = make_corpus(tmp_path / "proj", files=1500, functions=2)
    idx = tmp_path / "idx"
    env = cli_env(idx, home=tmp_path)

    writer = start_index(root, env)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(idx), str(root), str(writer.pid)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # A CLI search and a status while the lexical stage is committing batches.
        assert wait_for(writer, progress_is(idx, "lexical", 1), timeout=120)
        found = run_cli(env, "--project", str(root), "search", "ledger archive", "--json")
        assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr
        status = run_cli(env, "--project", str(root), "status", "--json")
        assert status.returncode == 0 and not bad_markers(status.stderr), status.stderr

        _, werr = writer.communicate(timeout=600)
        assert writer.returncode == 0 and not bad_markers(werr), werr
        rout, rerr = reader.communicate(timeout=120)
    finally:
        for proc in (writer, reader):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert reader.returncode == 0 and not bad_markers(rerr), rerr
    summary = json.loads(rout)
    assert summary["n_errors"] == 0, summary
    assert summary["mismatches"] == [], summary
    assert summary["during"] >= 3 and summary["max_hits"] > 0, summary

    # Readers leave the index exactly as they found it: no writes, no compaction.
    before = snapshot(idx)
    for args in (["search", "retry upload"], ["status"], ["search", "encode", "--json"]):
        proc = run_cli(env, "--project", str(root), *args)
        assert proc.returncode == 0 and not bad_markers(proc.stderr), proc.stderr
    assert snapshot(idx) == before
    assert not fingerprint(idx).problems()
