"""index, status, reset."""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import IndexLockedError, Interrupted, UsageError
from ..lock import CATCH_UP, indexing
from .common import load, require_index, resolve_root

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from ..config import Config
    from ..lifecycle import Session


def register(cli: click.Group) -> None:
    cli.add_command(index_cmd)
    cli.add_command(status_cmd)
    cli.add_command(reset_cmd)
    cli.add_command(finish_cmd)


class _Reporter:
    """Progress on stderr: a live rich display on a terminal, sparse plain lines otherwise."""

    def __init__(self, quiet: bool, index_dir: Path) -> None:
        from ..status import ProgressFile

        self.quiet = quiet
        self.index_dir = index_dir
        self._file = ProgressFile(index_dir, "index")
        self.tty = sys.stderr.isatty()
        self._last_plain = 0.0
        self._last_phase = ""
        self._live: RichProgress | None = None
        self._task: TaskID | None = None

    def __call__(self, p: object) -> None:
        from ..indexer import Progress

        assert isinstance(p, Progress)
        now = time.monotonic()
        self._file.update(p, force=p.phase == "done")
        if self.quiet:
            return
        if self.tty:
            self._rich(p)
            return
        if p.phase != self._last_phase or now - self._last_plain > 10:
            self._last_phase, self._last_plain = p.phase, now
            click.echo(self._describe(p), err=True)

    @staticmethod
    def _describe(p: object) -> str:
        from ..indexer import Progress

        assert isinstance(p, Progress)
        if p.phase == "lexical":
            return f"reading: {p.files_done}/{p.files_total} files, {p.chunks_written} chunks"
        if p.phase == "embed":
            eta = f", ETA {p.eta_seconds:.0f}s" if p.eta_seconds else ""
            return f"embedding: {p.embed_done}/{p.embed_total} chunks, {p.rate:.1f}/s{eta}"
        return {"scan": "scanning files", "optimize": "compacting", "done": "done"}.get(
            p.phase, p.phase
        )

    def _rich(self, p: object) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from ..indexer import Progress as P

        assert isinstance(p, P)
        if self._live is None:
            self._live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[extra]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._live.start()
            self._task = self._live.add_task("scanning", total=None, extra="")
        live, task = self._live, self._task
        assert task is not None
        if p.phase == "lexical":
            live.update(
                task,
                description="reading",
                total=p.files_total,
                completed=p.files_done,
                extra=f"{p.chunks_written} chunks",
            )
        elif p.phase == "embed":
            live.update(
                task,
                description="embedding",
                total=p.embed_total,
                completed=p.embed_done,
                extra=f"{p.rate:.1f} chunks/s",
            )
        elif p.phase == "done":
            self.close()
        else:
            live.update(task, description=self._describe(p), extra="")

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


@click.command("index")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild every file (and switch models).")
@click.option("--wait", is_flag=True, help="Wait for another writer instead of failing.")
@click.option("--no-embed", is_flag=True, help="Lexical index only; vectors come later.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--model", default=None, help="Embedding model (minilm, fake).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON on stdout.")
@click.pass_context
def index_cmd(
    ctx: click.Context,
    path: Path | None,
    force: bool,
    wait: bool,
    no_embed: bool,
    quiet: bool,
    model: str | None,
    as_json: bool,
) -> None:
    """Index PATH (default: this project) and bring an existing index up to date."""
    from ..store import index_is_local

    root = resolve_root(ctx, path, must_exist=False)
    config = load(root, model=model)

    if not force and index_is_local(config):
        from ..embedding import model_id_for
        from ..snapshot import unchanged
        from ..store.meta import read_meta

        # No meta.json, no index, whatever an old snapshot says (a run killed while it
        # created or rebuilt the index leaves the tables without it). An index of another
        # recipe under the same model name (an upgrade changed int8's) takes the full path,
        # which says it must be rebuilt.
        meta = read_meta(config.index_path(root))
        expected = model_id_for(config.model)
        same = meta is not None and expected in (None, meta.get("model_id"))
        summary = unchanged(root, config) if same else None
        if summary is not None:
            # Nothing changed since a complete run: no engine, no model, no lock needed.
            if as_json:
                import json

                click.echo(json.dumps({**summary, "files_changed": 0, "up_to_date": True}))
            if not quiet:
                click.echo(
                    f"Up to date: {summary['files_total']} files, {summary['chunks_total']}"
                    " chunks, all embedded",
                    err=True,
                )
            return
    reporter = _Reporter(quiet, config.index_path(root))
    try:
        report = _index(root, config, reporter, force=force, wait=wait, no_embed=no_embed)
    except Interrupted as exc:
        if exc.exit_code == 128 + signal.SIGINT and index_is_local(config):
            # Ctrl+C, not a supervisor's SIGTERM (which wants the whole tree gone). After
            # the session let go of the lock: the finisher takes it.
            _start_finisher(root, config.model)
        raise
    from ..indexer import IndexReport

    assert isinstance(report, IndexReport)
    if as_json:
        from ..wire import to_json

        click.echo(to_json(report))
    if not quiet:
        skipped = sum(report.skipped.values())
        click.echo(
            f"Indexed {report.files_total} files: {report.files_changed} changed,"
            f" {report.files_deleted} removed, {skipped} skipped; {report.chunks_total} chunks,"
            f" {report.embedded_total} embedded ({report.vectors_added} new) in"
            f" {report.seconds:.1f}s",
            err=True,
        )
    if report.missing_model and not as_json:
        click.echo(f"note: {report.missing_model}", err=True)


def _start_finisher(root: Path, model: str) -> None:
    """Start `finish-index` detached (best effort): the text index and the read copy
    catch up with what the interrupted run committed, after this process has left."""
    import os
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-m", "mcp_vector_search", "--project", str(root), "finish-index"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's next Ctrl+C is not for it
            env={**os.environ, "MVS_MODEL": model},  # `index --model` included
            close_fds=True,
        )
    except OSError:
        pass  # the next run catches up instead


def _acquire(session: Session, *, wait: bool) -> None:
    try:
        session.acquire_writer(wait=wait)
    except IndexLockedError:
        if session.stop.requested:  # a signal ended the --wait
            raise session.stop.interrupted(
                "Interrupted while waiting for the writer lock; nothing was changed"
            ) from None
        if indexing(session.writer_lock.holder()):
            raise
        # An interrupted run's catch-up (or a holder gone since): seconds of work at most,
        # worth waiting for rather than failing a run started right after the interrupt.
        _acquire(session, wait=True)


def _index(
    root: Path, config: Config, reporter: _Reporter, *, force: bool, wait: bool, no_embed: bool
) -> object:
    from ..indexer import Indexer
    from ..lifecycle import Session, signals_to

    with Session(root, config) as session, signals_to(session.stop):
        _acquire(session, wait=wait)

        started = threading.Event()

        def work() -> object:
            # Opening the store imports the engine and the first batch loads the model:
            # seconds on a busy machine, with nothing to commit. Done here, in the worker,
            # they leave the main thread free to end the process at once on a signal.
            from ..snapshot import invalidate

            # Before the store is opened: opening may rebuild it (another model), and a
            # kill right after must not leave the old snapshot vouching for the new index.
            invalidate(config.index_path(root))
            store = session.store(writable=True, rebuild=force)
            embedder = session.embedder()
            embedder.count_tokens(["warm"])
            started.set()
            indexer = Indexer(
                root, config, store, session.embedder, stop=session.stop, progress=reporter
            )
            return indexer.run(force=force, embed=not no_embed)

        try:
            report = session.run_in_worker(work, name="mvs-index", started=started)
        finally:
            reporter.close()
        if session.stop.requested:
            # The signal came after the last commit; the exit code still says it came,
            # so a calling script stops as it would at any other moment.
            raise session.stop.interrupted("Interrupted; the index is complete")
        return report


@click.command("finish-index", hidden=True)
@click.pass_context
def finish_cmd(ctx: click.Context) -> None:
    """Bring the text index and the read copy up to an interrupted run's last commit."""
    from ..indexer import Indexer
    from ..lifecycle import Session, signals_to
    from ..store import snapshot_summary

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    require_index(config, root)
    with Session(root, config) as session, signals_to(session.stop):
        embedder = session.embedder()
        summary = snapshot_summary(
            config, root, model_id=embedder.model_id, dimensions=embedder.dimensions
        )
        if summary is not None:
            return  # the copy matches the store: the run was interrupted after publishing
        try:
            session.acquire_writer(command=CATCH_UP)
        except IndexLockedError:
            return  # a writer runs, and publishes when its stage ends

        def work() -> None:
            store = session.store(writable=True)
            Indexer(root, config, store, session.embedder, stop=session.stop).catch_up()

        session.run_in_worker(work, name="mvs-finish")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Files, chunks, vectors by model and precision, skipped files, size, staleness.

    Chunks without a vector (found by their words alone) are counted with the reason:
    embedding pending or in progress, or the model's weights not installed."""
    from ..render import status_text
    from ..status import collect_status
    from ..wire import to_json

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    require_index(config, root)
    status = collect_status(root, config)
    click.echo(to_json(status) if as_json else status_text(status))


@click.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_context
def reset_cmd(ctx: click.Context, yes: bool) -> None:
    """Delete this project's index."""
    from ..store import delete_index, index_is_local, index_meta, writer_lock

    root = resolve_root(ctx, must_exist=True)
    config = load(root)
    index_dir = config.index_path(root)
    local = index_is_local(config)
    if local and not index_dir.exists():
        raise UsageError(f"no index at {index_dir}")
    if not local and index_meta(config, root) is None and not index_dir.exists():
        raise UsageError(f"no index for {root} in the database")
    what = index_dir if local else f"this project's index in the database and {index_dir}"
    if not yes and not click.confirm(f"Delete {what}?", default=False):
        raise click.exceptions.Abort()
    lock = writer_lock(config, root)
    lock.acquire()
    try:
        gone = delete_index(config, root)
        if index_dir.exists():
            for child in index_dir.iterdir():
                if child.name in ("writer.lock",):
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    finally:
        lock.release()
    shutil.rmtree(index_dir, ignore_errors=True)
    click.echo(f"Deleted {gone}", err=True)
