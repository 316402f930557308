#!/usr/bin/env python3
"""Chaos benchmark: interrupt and kill `index` at random moments, check every outcome.

On the Django 5.0.6 sdist (its `django/` package, fetched by bench/speed.py), with the
real CLI in subprocesses:

  reference   a clean full index (fake model: the deterministic embedder, same pipeline)
  resume      SIGINT half way through a full run, then the rerun's wall time as a share
              of a full run's (the goal is at most 60 %)
  interrupts  chains of runs on one index, each sent SIGINT or SIGTERM at a random
              moment of the work it has left, until a run completes; each interrupted run
              must exit 130/143 with exactly one line on stderr and no traceback or
              panic, and the index must answer a search; each chain's last run must
              leave exactly the reference index (same chunks, spans and content hashes,
              no duplicates, no orphans, no missing vectors)
  kills       the same with SIGKILL, half at random moments and half the instant a new
              data file appears in the store (mid-write); the index must still answer a
              search after each kill, and the chain must converge to the reference
  real        the real model (all-MiniLM-L6-v2 on ONNX Runtime) on django/utils,
              interrupted while it embeds (the situation of the PyO3 panic bug), then
              killed while it embeds, then converged to a clean real-model index

The signal moment is drawn from 0.15 s after the process starts (before then the
interpreter hasn't run any of our code) to the end of the work it has left.

    python bench/chaos.py [--interrupts 50] [--kills 10] [--real 3] [--seed N] [--no-write]
    python bench/chaos.py --store postgres   # the same against PostgreSQL (a throwaway
                                             # local server unless MVS_DATABASE_URL is set)
    python bench/chaos.py --store chroma     # Chroma embedded; chroma-server: a `chroma run`
                                             # on loopback unless MVS_CHROMA_URL is set

The default run takes about 15 minutes on 2 quiet cores (30/6/3 took 8.5 minutes at load
1.3); `--interrupts 100 --kills 20` about an hour under load. Figures are appended to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from tests.crashkit import (  # noqa: E402
    Fingerprint,
    bad_markers,
    fingerprint_of,
    progress_is,
    search_works_of,
    start_index,
    wait_for,
)
from tests.crashkit import cli_env as _cli_env  # noqa: E402

from mcp_vector_search.config import Config, load_config  # noqa: E402
from mcp_vector_search.store import delete_index, index_meta, writer_lock  # noqa: E402
from speed import fetch_django  # noqa: E402

MIN_DELAY = 0.15
EXIT_WAIT = 60.0  # a run that hasn't left this long after a signal counts as hung
MAX_CHAIN = 10  # interrupted runs on one index before it is run to completion
RACE_WINDOW = 0.2  # exit 0 this soon after the signal: the run had already finished


@dataclass
class Engine:
    """The store under test (`--store`): where an index lives, how to read it back, how
    to wipe it, and how to tell that a write is in progress."""

    root: Path
    store: str = "lancedb"
    url: str = ""
    tag: str = ""

    def env(self, index_dir: Path, model: str = "fake") -> dict[str, str]:
        env = _cli_env(index_dir, model=model)
        if self.store == "postgres":
            env["MVS_STORE"], env["MVS_DATABASE_URL"] = "postgres", self.url
            env["MVS_PROJECT"] = f"chaos-{self.tag}-{index_dir.name}"
        if self.store.startswith("chroma"):
            env["MVS_STORE"] = "chroma"
        if self.store == "chroma-server":
            env["MVS_CHROMA_URL"] = self.url
            env["MVS_PROJECT"] = f"chaos-{self.tag}-{index_dir.name}"
        return env

    def config(self, index_dir: Path, root: Path | None = None, model: str = "fake") -> Config:
        return load_config(root or self.root, env=self.env(index_dir, model))

    def wipe(self, index_dir: Path, root: Path | None = None) -> None:
        shutil.rmtree(index_dir, ignore_errors=True)
        if self.store in ("postgres", "chroma-server"):
            config = self.config(index_dir, root)
            lock = writer_lock(config, root or self.root)
            lock.acquire(wait=True, timeout=60)
            try:
                delete_index(config, root or self.root)
            finally:
                lock.release()
            shutil.rmtree(index_dir, ignore_errors=True)  # the chroma lock's file

    def writing(self, index_dir: Path) -> Callable[[], bool]:
        """A ready() for wait_for: true while the store is in the middle of a write."""
        if self.store == "postgres":
            import psycopg

            conn = psycopg.connect(self.url, autocommit=True)
            self._watchers.append(conn)

            def active() -> bool:
                return (
                    conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name ="
                        " 'mcp-vector-search' AND state = 'active' AND query LIKE 'INSERT INTO %'"
                    ).fetchone()
                    is not None
                )

            return active
        if self.store.startswith("chroma"):
            # A commit of the sidecar (chunks, files, the vector mirror) grows its WAL;
            # embedded, Chroma's own files change as it writes vectors.
            first = chroma_files(index_dir)
            return lambda: chroma_files(index_dir) != first
        before = data_files(index_dir)
        return lambda: data_files(index_dir) > before

    def close(self) -> None:
        for conn in self._watchers:
            conn.close()
        self._watchers.clear()

    _watchers: list[Any] = field(default_factory=list)


ENGINE = Engine(Path("."))


def cli_env(index_dir: Path, *, model: str = "fake") -> dict[str, str]:
    return ENGINE.env(index_dir, model)


def fingerprint(index_dir: Path, root: Path | None = None, model: str = "fake") -> Fingerprint:
    return fingerprint_of(ENGINE.config(index_dir, root, model), root or ENGINE.root)


def search_works(index_dir: Path, root: Path | None = None, model: str = "fake") -> int:
    return search_works_of(ENGINE.config(index_dir, root, model), root or ENGINE.root)


@dataclass
class Tally:
    interrupts: int = 0
    interrupts_clean: int = 0
    kills: int = 0
    kills_converged: int = 0
    chains: int = 0
    chains_converged: int = 0
    tracebacks: int = 0
    completed_before_signal: int = 0
    hard_stops: int = 0  # runs that needed the grace-period hard exit
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.failures.append(what)
        print(f"  FAIL: {what}", flush=True)


def rm(path: Path, root: Path | None = None) -> None:
    ENGINE.wipe(path, root)


def full_run(root: Path, env: dict[str, str], tally: Tally, what: str) -> float:
    """Run index to completion; returns its wall time."""
    t0 = time.monotonic()
    proc = start_index(root, env)
    _, err = proc.communicate(timeout=3600)
    wall = time.monotonic() - t0
    if bad_markers(err):
        tally.tracebacks += 1
    if proc.returncode != 0 or bad_markers(err):
        tally.fail(f"{what}: exit {proc.returncode}: {err.strip()[-500:]}")
    return wall


def check_interrupted(
    proc: subprocess.Popen[str], sig: int, t_sig: float, tally: Tally, what: str
) -> bool | None:
    """Whether an interrupted run behaved; None when it finished before it could be."""
    try:
        _, err = proc.communicate(timeout=EXIT_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        tally.fail(f"{what}: still running {EXIT_WAIT:.0f}s after the signal")
        return False
    latency = time.monotonic() - t_sig
    if proc.returncode == 0 and not err.strip() and latency < RACE_WINDOW:
        # It had finished its work and was leaving when the signal landed (os._exit
        # runs no handler): a completed run, not an interrupted one.
        print(f"  {what}: finished as the signal landed", flush=True)
        return None
    tally.latencies.append(latency)
    print(f"  {what}: exit {proc.returncode} {latency:.2f}s after the signal", flush=True)
    ok = True
    if bad_markers(err):
        tally.tracebacks += 1
        tally.fail(f"{what}: {bad_markers(err)} on stderr: {err.strip()[-800:]}")
        ok = False
    if proc.returncode != 128 + sig:
        tally.fail(f"{what}: exit {proc.returncode}, expected {128 + sig}: {err.strip()[-300:]}")
        ok = False
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if len(lines) != 1 or not lines[0].startswith(("Interrupted", "Stopped")):
        tally.fail(f"{what}: stderr is not one line: {err.strip()[-300:]!r}")
        ok = False
    elif lines[0].startswith("Stopped"):
        tally.hard_stops += 1
    return ok


def reader_ok(
    index_dir: Path, tally: Tally, what: str, root: Path | None = None, model: str = "fake"
) -> bool:
    try:
        search_works(index_dir, root, model)
        config = ENGINE.config(index_dir, root, model)
        fp = (
            fingerprint(index_dir, root, model) if index_meta(config, root or ENGINE.root) else None
        )
    except Exception as exc:
        tally.fail(f"{what}: search after the stop failed: {type(exc).__name__}: {exc}")
        return False
    if fp is not None and (fp.duplicate_chunks or fp.duplicate_vectors):
        tally.fail(f"{what}: duplicates after the stop: {fp.problems()}")
        return False
    return True


def converged(
    index_dir: Path,
    ref: object,
    tally: Tally,
    what: str,
    root: Path | None = None,
    model: str = "fake",
) -> bool:
    try:
        fp = fingerprint(index_dir, root, model)
    except Exception as exc:
        tally.fail(f"{what}: index unreadable after the final run: {exc}")
        return False
    if fp != ref or fp.problems():
        tally.fail(f"{what}: did not converge: {fp.diff(ref)}")  # type: ignore[arg-type]
        return False
    return True


def data_files(index_dir: Path) -> int:
    n = 0
    for table in ("chunks", "files", "vectors"):
        try:
            n += len(os.listdir(index_dir / f"{table}.lance" / "data"))
        except OSError:
            pass
    return n


def chroma_files(index_dir: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for dirpath, _dirs, files in os.walk(index_dir):
        for name in files:
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            out.append((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def chain(
    root: Path,
    env: dict[str, str],
    index_dir: Path,
    ref: object,
    t_full: float,
    t_overhead: float,
    budget: int,
    kill: bool,
    rng: random.Random,
    tally: Tally,
) -> int:
    """One index, interrupted (or killed) up to `budget` times, then run to the end."""
    rm(index_dir)
    tally.chains += 1
    chain_no = tally.chains
    left = t_full
    stops = 0
    clean = True
    while stops < budget:
        sig = signal.SIGKILL if kill else rng.choice((signal.SIGINT, signal.SIGTERM))
        mid_write = kill and stops % 2 == 1
        delay = rng.uniform(MIN_DELAY, max(MIN_DELAY, left))
        what = f"chain {chain_no} run {stops + 1} ({sig.name}"
        what += " at a data-file write)" if mid_write else f" at {delay:.2f}s)"
        t0 = time.monotonic()
        proc = start_index(root, env)
        if mid_write:
            hit = wait_for(
                proc,
                ENGINE.writing(index_dir),
                timeout=max(left, 5.0),
                poll=0.005,
            )
            fired = hit
        else:
            try:
                proc.wait(timeout=delay)
                fired = False
            except subprocess.TimeoutExpired:
                fired = True
        if not fired or proc.poll() is not None:
            # The run finished before the moment came: the chain is done.
            _, err = proc.communicate()
            if proc.returncode != 0 or bad_markers(err):
                tally.tracebacks += bool(bad_markers(err))
                tally.fail(f"{what}: finished with exit {proc.returncode}: {err.strip()[-300:]}")
                clean = False
            tally.completed_before_signal += 1
            break
        t_sig = time.monotonic()
        proc.send_signal(sig)
        stops += 1
        if kill:
            proc.communicate(timeout=EXIT_WAIT)
            tally.kills += 1
            ok = reader_ok(index_dir, tally, what)
        else:
            result = check_interrupted(proc, sig, t_sig, tally, what)
            if result is None:
                stops -= 1
                tally.completed_before_signal += 1
                break
            tally.interrupts += 1
            ok = reader_ok(index_dir, tally, what) and result
            tally.interrupts_clean += ok
        clean = clean and ok
        left = max(left - max(0.0, t_sig - t0 - t_overhead), 2 * t_overhead)
    full_run(root, env, tally, f"chain {chain_no} final run")
    done = converged(index_dir, ref, tally, f"chain {chain_no}")
    tally.chains_converged += done
    if kill:
        tally.kills_converged += stops if (done and clean) else 0
    status = "converged" if done else "DID NOT CONVERGE"
    print(f"chain {chain_no}: {stops} {'kills' if kill else 'interrupts'}, {status}", flush=True)
    rm(index_dir)
    return stops


def real_model_chain(
    root: Path, work: Path, signals: int, rng: random.Random, tally: Tally
) -> dict[str, object]:
    """all-MiniLM-L6-v2 on django/utils: interrupted and killed while it embeds."""
    ref_dir, idx = work / "real-ref", work / "real"
    rm(ref_dir, root)
    rm(idx, root)
    ref_env, env = cli_env(ref_dir, model="minilm"), cli_env(idx, model="minilm")
    t_ref = full_run(root, ref_env, tally, "real-model reference")
    ref = fingerprint(ref_dir, root, "minilm")
    tally.chains += 1
    sent = 0
    clean = True
    plan = [rng.choice((signal.SIGINT, signal.SIGTERM)) for _ in range(signals)]
    plan.append(signal.SIGKILL)
    for n, sig in enumerate(plan, 1):
        what = f"real-model run {n} ({sig.name} while embedding)"
        proc = start_index(root, env)
        if not wait_for(proc, progress_is(idx, "embed", 32), timeout=600):
            _, err = proc.communicate()
            if proc.returncode != 0 or bad_markers(err):
                tally.fail(f"{what}: exit {proc.returncode}: {err.strip()[-300:]}")
            tally.completed_before_signal += 1
            break
        try:  # a random moment inside the embedding stage, not just its start
            proc.wait(timeout=rng.uniform(0.0, 3.0))
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is not None:
            proc.communicate()
            tally.completed_before_signal += 1
            break
        t_sig = time.monotonic()
        proc.send_signal(sig)
        sent += 1
        if sig == signal.SIGKILL:
            proc.communicate(timeout=EXIT_WAIT)
            tally.kills += 1
            ok = reader_ok(idx, tally, what, root, "minilm")
        else:
            result = check_interrupted(proc, sig, t_sig, tally, what)
            if result is None:
                sent -= 1
                tally.completed_before_signal += 1
                break
            tally.interrupts += 1
            ok = reader_ok(idx, tally, what, root, "minilm") and result
            tally.interrupts_clean += ok
        clean = clean and ok
    full_run(root, env, tally, "real-model final run")
    done = converged(idx, ref, tally, "real-model chain", root, "minilm")
    tally.chains_converged += done
    if done and clean and plan[-1] == signal.SIGKILL and sent == len(plan):
        tally.kills_converged += 1
    print(f"real-model chain: {sent} signals, {'converged' if done else 'DID NOT CONVERGE'}")
    rm(ref_dir, root)
    rm(idx, root)
    return {"real_reference_s": round(t_ref, 1), "real_signals": sent}


def resume_share(
    root: Path, env: dict[str, str], index_dir: Path, ref: object, t_full: float, tally: Tally
) -> dict[str, object]:
    """SIGINT at half a full run's time, then how long the rerun takes."""
    rm(index_dir)
    proc = start_index(root, env)
    t0 = time.monotonic()
    try:
        proc.wait(timeout=t_full / 2)
    except subprocess.TimeoutExpired:
        pass
    t_sig = time.monotonic()
    proc.send_signal(signal.SIGINT)
    ok = check_interrupted(proc, signal.SIGINT, t_sig, tally, "resume run")
    if ok is not None:
        tally.interrupts += 1
        tally.interrupts_clean += ok and reader_ok(index_dir, tally, "resume run")
    rerun = full_run(root, env, tally, "resume rerun")
    converged(index_dir, ref, tally, "resume")
    rm(index_dir)
    return {
        "resume_signal_at_s": round(t_sig - t0, 1),
        "resume_rerun_s": round(rerun, 1),
        "resume_share_pct": round(100 * rerun / t_full, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interrupts", type=int, default=50, help="SIGINT/SIGTERM (fake model)")
    ap.add_argument("--kills", type=int, default=10, help="SIGKILLs (fake model)")
    ap.add_argument("--real", type=int, default=3, help="real-model interrupts (+1 kill)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cache", type=Path, default=HERE / ".cache")
    ap.add_argument("--corpus", type=Path, default=None, help="default: Django's django/")
    ap.add_argument("--work", type=Path, default=None, help="where the indexes go")
    ap.add_argument("--no-write", action="store_true", help="don't append to benchmarks.md")
    ap.add_argument(
        "--store", default="lancedb", choices=["lancedb", "postgres", "chroma", "chroma-server"]
    )
    ap.add_argument("--database-url", default=None, help="postgres (default: a throwaway one)")
    args = ap.parse_args()
    if args.store == "postgres":
        from pgtemp import database_url

        with database_url(args.database_url) as url:
            return chaos(args, url)
    if args.store == "chroma-server":
        return chaos_on_chroma_server(args)
    return chaos(args, "")


def chaos_on_chroma_server(args: argparse.Namespace) -> int:
    import tempfile

    from tests.crashkit import start_chroma_server, stop_chroma_server

    own = os.environ.get("MVS_CHROMA_URL", "").strip()
    if own:
        return chaos(args, own)
    with tempfile.TemporaryDirectory(prefix="mvs-chaos-chroma-") as tmp:
        proc, url = start_chroma_server(Path(tmp))
        try:
            return chaos(args, url)
        finally:
            stop_chroma_server(proc)


def chaos(args: argparse.Namespace, url: str) -> int:

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    root = args.corpus or fetch_django(args.cache) / "django"
    ENGINE.root, ENGINE.store, ENGINE.url, ENGINE.tag = root, args.store, url, str(seed)
    work = args.work or args.cache / "chaos"
    work.mkdir(parents=True, exist_ok=True)
    ref_dir, idx = work / "ref", work / "idx"
    env_ref, env = cli_env(ref_dir), cli_env(idx)
    tally = Tally()
    t_start = time.monotonic()
    print(f"chaos on {root} (seed {seed})", flush=True)

    rm(ref_dir)
    t_full = full_run(root, env_ref, tally, "reference")
    ref = fingerprint(ref_dir)
    t_overhead = full_run(root, env_ref, tally, "no-op rerun")
    print(
        f"reference: {len(ref.chunks)} chunks, {len(ref.files)} files in {t_full:.1f}s"
        f" (no-op rerun {t_overhead:.1f}s)",
        flush=True,
    )
    if ref.problems():
        tally.fail(f"the reference itself: {ref.problems()}")
    figures: dict[str, object] = {"reference_s": round(t_full, 1), "chunks": len(ref.chunks)}
    figures.update(resume_share(root, env, idx, ref, t_full, tally))
    print(f"resume: rerun {figures['resume_share_pct']}% of a full run", flush=True)

    while tally.interrupts < args.interrupts:
        budget = min(MAX_CHAIN, args.interrupts - tally.interrupts)
        chain(root, env, idx, ref, t_full, t_overhead, budget, False, rng, tally)
    kills_before = tally.kills
    while tally.kills - kills_before < args.kills:
        budget = min(4, args.kills - (tally.kills - kills_before))
        chain(root, env, idx, ref, t_full, t_overhead, budget, True, rng, tally)
    if args.real:
        figures.update(real_model_chain(root / "utils", work, args.real, rng, tally))
    rm(ref_dir)

    lat = sorted(tally.latencies)
    figures.update(
        {
            "exit_after_signal_p50_s": round(statistics.median(lat), 2) if lat else None,
            "exit_after_signal_max_s": round(lat[-1], 2) if lat else None,
            "hard_stops": tally.hard_stops,
            "completed_before_signal": tally.completed_before_signal,
            "chains": f"{tally.chains_converged}/{tally.chains}",
            "wall_min": round((time.monotonic() - t_start) / 60, 1),
        }
    )
    headline = (
        f"{tally.interrupts_clean}/{tally.interrupts} interrupts clean,"
        f" {tally.kills_converged}/{tally.kills} kills converged, {tally.tracebacks} tracebacks"
    )
    print(headline)
    for key, value in figures.items():
        print(f"  {key}: {value}")
    for failure in tally.failures:
        print(f"  failure: {failure}")
    ENGINE.close()
    if not args.no_write:
        write_report(seed, root, headline, figures, tally, args.store)
    return 0 if not tally.failures else 1


def write_report(
    seed: int, root: Path, headline: str, figures: dict[str, object], tally: Tally, store: str
) -> None:
    from report import append_section

    body = "\n".join(
        [
            f"**{headline}**",
            "",
            f"Seed {seed}. Corpus: `{root.name}/` of the Django 5.0.6 sdist; the chains use"
            " the fake model (same pipeline), the real-model chain all-MiniLM-L6-v2 on"
            " django/utils, interrupted and then killed while it embeds.",
            *(f"- failure: {f}" for f in tally.failures),
        ]
    )
    on = "" if store == "lancedb" else f" on {store}"
    append_section(f"Chaos{on} — signals and kills during `index`", body, figures)


if __name__ == "__main__":
    sys.exit(main())
