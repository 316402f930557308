"""The walk, and the same decision for one path: `judge` decides every entry for both.

walk() lists each directory once and asks `judge` about every entry in it; the
single-path checks (`is_ignored`, `candidate_for`, for the watcher and the agent tools)
go down the path from the root and ask `judge` about each component, with the listing
replaced by a few lstat calls. Because there is one decision, the two cannot disagree
on what a path is, only on which of two symlinked aliases of a directory is followed
(walk follows each real directory once).
"""

from __future__ import annotations

import errno
import heapq
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from ..config import Config
from ..errors import UsageError
from ..ignore import Rule
from .names import (
    INTERESTING,
    SYMLINK_LOOP,
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    UNDECODABLE,
    UNREADABLE,
    decodes,
    display,
    is_within,
)
from .rules import IGNORE, Filter


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str  # posix, relative to the root
    abs_path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(slots=True)
class WalkResult:
    files: list[Candidate]
    skipped: list[Skipped]


@dataclass(slots=True)
class Dir:
    """A directory to look into, and what its entries inherit from the way down."""

    rel: bytes  # root-relative with a trailing slash; b"" for the root
    abs: bytes  # the path used to open it (may go through a followed symlink)
    real: bytes  # its real path, for loop and duplicate detection
    rules: tuple[Rule, ...]  # the stack from above; its own ignore files are added on entry
    include: bool | None
    forced: bool  # re-included by .mcpvsignore: skip the virtualenv check
    path: Path  # abs path as the caller sees it (through followed links, unresolved)
    link: bool = False  # reached through a symlink (walk follows those after the real tree)


class _Gone:
    """The entry disappeared between being named and being looked at."""


GONE: Final = _Gone()
# What judge() says about one entry: a file to read, a skip with its reason, a directory
# to look into, GONE, or None when walk() does not mention it at all.
Verdict = Candidate | Skipped | Dir | _Gone | None


class Entry(Protocol):
    """The part of os.DirEntry judge() reads; `_PathEntry` gives it for a bare path."""

    @property
    def name(self) -> bytes: ...
    def is_symlink(self) -> bool: ...
    def is_dir(self, *, follow_symlinks: bool = True) -> bool: ...
    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result: ...


_make_child: Callable[[Path, str], Path] | None = getattr(Path, "_make_child_relpath", None)


def _child_path(parent: Path, name: str) -> Path:
    # Path(str) re-parses the whole path (a third of walk time on a big tree); pathlib's
    # own child constructor skips that. It is private, so fall back when it is gone.
    if _make_child is not None:
        return _make_child(parent, name)
    return parent / name


def enter(flt: Filter, d: Dir, has: set[bytes]) -> tuple[Rule, ...] | None:
    """The rules inside `d`, given which INTERESTING names it holds; None when nothing
    inside counts (a virtualenv, whatever its name)."""
    if d.rel and not d.forced and b"pyvenv.cfg" in has:
        return None
    return flt.dir_rules(d.rules, d.abs, d.rel, has)


def judge(flt: Filter, d: Dir, rules: tuple[Rule, ...], entry: Entry) -> Verdict:
    """walk()'s decision for one entry of `d` (`rules`: the stack inside `d`)."""
    name = entry.name
    rel = d.rel + name
    try:
        if entry.is_symlink():
            return _judge_link(flt, d, rules, name, rel)
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        return GONE  # vanished between listing and lstat
    if is_dir:
        pruned, forced, include = flt.dir_verdict(rules, rel, name, d.include)
        if pruned:
            return None
        if not decodes(name):
            return Skipped(display(rel), UNDECODABLE)
        path = _child_path(d.path, name.decode())
        return Dir(
            rel + b"/", d.abs + b"/" + name, d.real + b"/" + name, rules, include, forced, path
        )
    verdict = flt.file_verdict(rules, rel, name, d.include)
    if verdict == IGNORE:
        return None
    if not decodes(name):
        return Skipped(display(rel), UNDECODABLE)
    if verdict is not None:
        return Skipped(display(rel), verdict)
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return GONE
    except OSError:
        return Skipped(display(rel), UNREADABLE)
    return _regular(flt, d, rel, st)


def _regular(flt: Filter, d: Dir, rel: bytes, st: os.stat_result) -> Candidate | Skipped:
    path = rel.decode()
    if not stat.S_ISREG(st.st_mode):
        # FIFOs, sockets, devices: opening one can block or have side effects.
        return Skipped(path, UNREADABLE)
    if st.st_size > flt.config.max_file_size:
        return Skipped(path, TOO_LARGE)
    abs_path = _child_path(d.path, rel[len(d.rel) :].decode())
    return Candidate(path, abs_path, st.st_size, st.st_mtime_ns)


def _judge_link(flt: Filter, d: Dir, rules: tuple[Rule, ...], name: bytes, rel: bytes) -> Verdict:
    abs_link = d.abs + b"/" + name
    kind = "missing"
    st: os.stat_result | None = None
    try:
        st = os.stat(abs_link)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            kind = "loop"
    # Ignore rules see the link's own path, as git does; a link is a directory for them
    # only when we would follow it as one.
    include: bool | None = None
    verdict: str | None = None
    if kind == "dir":
        pruned, _forced, include = flt.dir_verdict(rules, rel, name, d.include)
        if pruned:
            return None
    else:
        verdict = flt.file_verdict(rules, rel, name, d.include)
        if verdict == IGNORE:
            return None
    if not decodes(name):
        return Skipped(display(rel), UNDECODABLE)
    path = rel.decode()
    if kind == "loop":
        return Skipped(path, SYMLINK_LOOP)
    real = os.path.realpath(abs_link)
    if not is_within(real, flt.real_root):
        return Skipped(path, SYMLINK_OUTSIDE)
    if flt.hidden_target(real, kind == "dir"):
        return None  # e.g. notes.txt -> .env, or -> .git/config: never through a side door
    if kind == "dir":
        if is_within(d.real, real):
            return Skipped(path, SYMLINK_LOOP)  # it points at an ancestor
        link_path = Path(flt.root_str.rstrip("/") + "/" + path)
        return Dir(rel + b"/", abs_link, real, rules, include, False, link_path, link=True)
    if verdict is not None:
        return Skipped(path, verdict)
    if st is None:
        return Skipped(path, UNREADABLE)  # dangling
    return _regular(flt, d, rel, st)


def _root_dir(flt: Filter) -> Dir:
    return Dir(b"", flt.root, flt.real_root, flt.root_rules, None, False, Path(flt.root_str))


class _Walker:
    def __init__(self, flt: Filter) -> None:
        self.flt = flt
        self.files: list[Candidate] = []
        self.skipped: list[Skipped] = []
        self.visited: set[bytes] = set()
        # Symlinked directories wait for the real tree to be done, ordered by path so
        # the outcome does not depend on listing order.
        self.pending: list[tuple[bytes, Dir]] = []

    def run(self, start: Dir) -> WalkResult:
        stack = [start]
        self.visited.add(start.real)
        while stack or self.pending:
            if not stack:
                _, linked = heapq.heappop(self.pending)
                if linked.real in self.visited:
                    continue  # already indexed under its real path or an earlier link
                self.visited.add(linked.real)
                stack.append(linked)
            self._scan(stack.pop(), stack)
        self.files.sort(key=lambda c: c.path)
        self.skipped.sort(key=lambda s: s.path)
        return WalkResult(self.files, self.skipped)

    def _scan(self, d: Dir, stack: list[Dir]) -> None:
        flt = self.flt
        try:
            with os.scandir(d.abs) as it:
                entries = list(it)
        except OSError as exc:
            if not d.rel:
                # An empty result would read as "every file was deleted" to the indexer.
                raise UsageError(f"{flt.root_str}: cannot list: {exc.strerror}") from None
            if not isinstance(exc, FileNotFoundError):  # removed while we walked: gone
                self.skipped.append(Skipped(display(d.rel.rstrip(b"/")), UNREADABLE))
            return
        rules = enter(flt, d, {e.name for e in entries if e.name in INTERESTING})
        if rules is None:
            return
        files, skipped, visited = self.files, self.skipped, self.visited
        for entry in entries:
            verdict = judge(flt, d, rules, entry)
            if type(verdict) is Candidate:
                files.append(verdict)
            elif type(verdict) is Skipped:
                skipped.append(verdict)
            elif type(verdict) is Dir:
                if verdict.link:
                    heapq.heappush(self.pending, (verdict.rel, verdict))
                elif verdict.real not in visited:  # else reached through a followed link
                    visited.add(verdict.real)
                    stack.append(verdict)


def walk(root: Path, config: Config) -> WalkResult:
    """All indexable files under `root` (sorted by path), and the skipped ones with why.

    Ignored files (gitignore, built-in excludes, settings) appear in neither list.
    Symlinked directories inside the root are followed once per real directory, after
    the real tree, so the path a directory is indexed under does not depend on the
    order the file system lists entries in.
    """
    flt = Filter(root, config)
    return _Walker(flt).run(_root_dir(flt))


def walk_under(root: Path, config: Config, start: Dir) -> WalkResult:
    """walk() of the tree below `start`, a directory path_verdict() gave: what walk()
    would report there, for a directory that appeared or moved in."""
    return _Walker(_filter_for(root, config)).run(start)


# --- one path at a time (the watcher, the agent tools) --------------------------------


class _PathEntry:
    """A DirEntry for a bare path. A path that is not there is judged by its name, as a
    directory when it is a parent (the watcher asks about deletions), else as a file."""

    __slots__ = ("_abs", "_lstat", "_missing_is_dir", "name")

    def __init__(self, abs_path: bytes, name: bytes, *, missing_is_dir: bool) -> None:
        self._abs = abs_path
        self.name = name
        self._missing_is_dir = missing_is_dir
        try:
            self._lstat: os.stat_result | None = os.lstat(abs_path)
        except OSError:
            self._lstat = None

    def is_symlink(self) -> bool:
        return self._lstat is not None and stat.S_ISLNK(self._lstat.st_mode)

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        if self._lstat is None:
            return self._missing_is_dir
        return stat.S_ISDIR(self._lstat.st_mode)

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        if self._lstat is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", os.fsdecode(self._abs))
        return self._lstat


def _judge_path(flt: Filter, raw: bytes) -> Verdict:
    """judge() for a root-relative path: every parent must be a directory walk() goes
    into, or walk() does not mention what is below it."""
    d = _root_dir(flt)
    parts = raw.split(b"/")
    for i, name in enumerate(parts):
        has = {n for n in INTERESTING if os.path.lexists(os.path.join(d.abs, n))}
        rules = enter(flt, d, has)
        if rules is None:
            return None
        last = i == len(parts) - 1
        verdict = judge(
            flt, d, rules, _PathEntry(d.abs + b"/" + name, name, missing_is_dir=not last)
        )
        if last:
            return verdict
        if not isinstance(verdict, Dir):
            return None  # walk reports the directory itself (or nothing), not its contents
        d = verdict
    raise AssertionError("unreachable: a path has at least one part")


_FILTER_TTL_S = 2.0
_filters: dict[tuple[str, Config], tuple[float, Filter]] = {}


def _filter_for(root: Path, config: Config) -> Filter:
    """A Filter reused for a couple of seconds.

    The watcher calls is_ignored once per event, often thousands in a burst (a branch
    switch); building a filter means resolving paths and reading the ignore files above
    the root, which would dominate. Ignore files inside the root are re-read per call,
    so edits to them apply at once; only changes above the root wait for the TTL.
    """
    key = (os.path.abspath(root), config)
    now = time.monotonic()
    hit = _filters.get(key)
    if hit is not None and now - hit[0] < _FILTER_TTL_S:
        return hit[1]
    flt = Filter(root, config)
    if len(_filters) > 16:
        _filters.clear()
    _filters[key] = (now, flt)
    return flt


def _normalise(flt: Filter, rel_path: str | os.PathLike[str]) -> bytes | None:
    """Root-relative bytes path without dots; None when it points outside the root."""
    raw = os.fsencode(rel_path)
    if os.path.isabs(raw):
        raw = os.path.abspath(raw)
        if not is_within(raw, flt.root):
            return None
        raw = raw[len(flt.root) :]
    raw = os.path.normpath(raw.lstrip(b"/") or b".")
    if raw.startswith(b"../") or raw == b"..":
        return None
    return b"" if raw == b"." else raw


def path_verdict(root: Path, rel_path: str | os.PathLike[str], config: Config) -> Verdict:
    """What walk() would say about one path (relative, or absolute inside the root):
    Candidate, Skipped, Dir, GONE, or None when it is not mentioned (ignored, outside
    the root, or the root is gone). Computed once, it answers both is_ignored and
    candidate_for."""
    try:
        flt = _filter_for(root, config)
    except UsageError:
        return None  # the root itself is gone: nothing under it can be indexed
    raw = _normalise(flt, rel_path)
    if raw is None:
        return None
    if not raw:
        return _root_dir(flt)
    return _judge_path(flt, raw)


def is_ignored(root: Path, rel_path: str, config: Config) -> bool:
    """True when walk() would not mention `rel_path` at all (neither file nor skip).

    A path that does not exist is judged by its name (the watcher asks about deletions).
    """
    return path_verdict(root, rel_path, config) is None


def candidate_for(root: Path, rel_path: str, config: Config) -> Candidate | Skipped | None:
    """What walk() would report for one path: a Candidate, a Skipped, or None when the
    path is ignored, gone, or a directory. For incremental updates from the watcher."""
    verdict = path_verdict(root, rel_path, config)
    return verdict if isinstance(verdict, Candidate | Skipped) else None
