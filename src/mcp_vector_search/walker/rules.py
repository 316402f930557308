"""The rule stack: ignore files with git's precedence, built-in excludes, settings.

A `Filter` holds everything about one (root, config) pair that does not change during a
walk; `dir_rules` stacks a directory's own ignore files on its parent's, and
`dir_verdict` / `file_verdict` decide one entry from its name and that stack.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from ..config import Config
from ..errors import UsageError
from ..ignore import SOURCE_GIT, SOURCE_MVS, PatternSet, Rule, match_rules, parse_rules
from .names import (
    BUILTIN_DIR_SUFFIXES,
    BUILTIN_DIRS,
    DEFAULT_IGNORED,
    HARD_DIRS,
    MVS_IGNORE_BYTES,
    SECRET,
    is_within,
    name_category,
)

# file_verdict's answer for a path walk() does not mention at all.
IGNORE = "ignore"


def read_small(path: bytes) -> bytes | None:
    """Read an ignore file; never follow a symlink (git refuses in-tree ones too)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


@functools.lru_cache(maxsize=1024)
def _parse_cached(data: bytes, *, base_len: int, source: int) -> tuple[Rule, ...]:
    # Keyed by content, so an edited file is simply a new key. is_ignored() runs once
    # per watcher event and would otherwise recompile the same files every time.
    return tuple(parse_rules(data, base_len=base_len, source=source))


def _git_dir(dot_git: bytes) -> bytes | None:
    """Resolve a `.git` entry (a directory, or a `gitdir:` file in worktrees/submodules)
    to the directory holding info/exclude (the common dir for linked worktrees)."""
    if os.path.isdir(dot_git):
        return dot_git
    data = read_small(dot_git)
    if not data or not data.startswith(b"gitdir:"):
        return None
    gitdir = data[len(b"gitdir:") :].strip()
    if not os.path.isabs(gitdir):
        gitdir = os.path.join(os.path.dirname(dot_git), gitdir)
    common = read_small(os.path.join(gitdir, b"commondir"))
    if common:
        common = common.strip()
        gitdir = common if os.path.isabs(common) else os.path.join(gitdir, common)
    return os.path.normpath(gitdir)


def _info_exclude_rules(dot_git: bytes, base_len: int) -> tuple[Rule, ...]:
    gitdir = _git_dir(dot_git)
    if gitdir is None:
        return ()
    data = read_small(os.path.join(gitdir, b"info", b"exclude"))
    return _parse_cached(data, base_len=base_len, source=SOURCE_GIT) if data else ()


class Filter:
    """Everything about one (root, config) pair that does not change during a walk."""

    def __init__(self, root: Path, config: Config) -> None:
        self.config = config
        self.root_str = os.path.abspath(root)
        self.root = os.fsencode(self.root_str)
        self.real_root = os.path.realpath(self.root)
        if not os.path.isdir(self.root):
            raise UsageError(f"{root}: not a directory")
        self.respect_gitignore = config.respect_gitignore
        self.index_secrets = config.index_secrets
        self.exclude = PatternSet(config.exclude)
        self.include = PatternSet(config.include)
        # The index dir may be configured anywhere; when it is inside the root, that
        # exact path is pruned (any directory named INDEX_DIR_NAME is, by HARD_DIRS).
        index = os.fsencode(str(config.index_path(Path(self.root_str))))
        self.index_rel: bytes | None = None
        if index.startswith(self.real_root + b"/"):
            self.index_rel = index[len(self.real_root) + 1 :]
        # Git matches rules against paths relative to the repository top, which may be
        # above the root: `prefix` turns a root-relative path into a top-relative one.
        self.prefix = b""
        self.root_rules: tuple[Rule, ...] = ()
        if self.respect_gitignore:
            self._load_parent_repo_rules()

    def _load_parent_repo_rules(self) -> None:
        top = None
        here = self.real_root
        while True:
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
            if os.path.lexists(os.path.join(here, b".git")):
                top = here
                break
        if top is None or os.path.lexists(os.path.join(self.real_root, b".git")):
            return
        self.prefix = os.path.relpath(self.real_root, top) + b"/"
        ordered = _info_exclude_rules(os.path.join(top, b".git"), 0)
        parts = self.prefix.rstrip(b"/").split(b"/")
        for depth in range(len(parts)):  # the top itself and each dir above the root
            rel = b"/".join(parts[:depth])
            base = rel + b"/" if rel else b""
            data = read_small(os.path.join(top, rel, b".gitignore"))
            if data:
                ordered += _parse_cached(data, base_len=len(base), source=SOURCE_GIT)
        self.root_rules = tuple(reversed(ordered))

    def dir_rules(
        self, parent: tuple[Rule, ...], abs_dir: bytes, rel_dir: bytes, has: set[bytes]
    ) -> tuple[Rule, ...]:
        """The rule stack inside a directory: its own ignore files on top of its parent's.

        `has` holds the names present in the directory among the ones we care about.
        """
        base_len = len(self.prefix) + len(rel_dir)
        new: list[Rule] = []
        if self.respect_gitignore:
            if b".git" in has:
                new += _info_exclude_rules(os.path.join(abs_dir, b".git"), base_len)
            if b".gitignore" in has:
                data = read_small(os.path.join(abs_dir, b".gitignore"))
                if data:
                    new += _parse_cached(data, base_len=base_len, source=SOURCE_GIT)
        if MVS_IGNORE_BYTES in has:
            data = read_small(os.path.join(abs_dir, MVS_IGNORE_BYTES))
            if data:
                new += _parse_cached(data, base_len=base_len, source=SOURCE_MVS)
        if not new:
            return parent
        return (*reversed(new), *parent)

    def hidden_target(self, real: bytes, is_dir: bool) -> bool:
        """Whether a symlink target inside the root is somewhere we never index."""
        rel = real[len(self.real_root) + 1 :]
        parts = rel.split(b"/") if rel else []
        if any(part in HARD_DIRS for part in parts):
            return True
        if self.index_rel is not None and is_within(rel, self.index_rel):
            return True
        if is_dir or not parts or self.index_secrets:
            return False
        return name_category(parts[-1].lower()) is SECRET

    def dir_verdict(
        self, rules: tuple[Rule, ...], rel: bytes, name: bytes, include: bool | None
    ) -> tuple[bool, bool, bool | None]:
        """For a directory: (pruned, re-included by a .mcpvsignore, include state inside)."""
        if name in HARD_DIRS or rel == self.index_rel:
            return True, False, include
        forced = False
        if rules:
            rule = match_rules(rules, self.prefix + rel if self.prefix else rel, name, True)
            if rule is not None:
                if not rule.negated:
                    return True, False, include
                forced = rule.source == SOURCE_MVS
        if not forced and (name in BUILTIN_DIRS or name.endswith(BUILTIN_DIR_SUFFIXES)):
            return True, False, include
        if self.exclude:
            rule = self.exclude.decide(rel, True)
            if rule is not None and not rule.negated:
                return True, False, include
        if self.include:
            rule = self.include.decide(rel, True)
            if rule is not None:
                include = not rule.negated
        return False, forced, include

    def file_verdict(
        self, rules: tuple[Rule, ...], rel: bytes, name: bytes, include: bool | None
    ) -> str | None:
        """For a file: IGNORE, a skip reason decided by name, or None to go on."""
        if name == b".git":
            return IGNORE
        forced = False
        if rules:
            rule = match_rules(rules, self.prefix + rel if self.prefix else rel, name, False)
            if rule is not None:
                if not rule.negated:
                    return IGNORE
                forced = rule.source == SOURCE_MVS
        category = name_category(name.lower())
        if category is SECRET:
            if not self.index_secrets:
                return IGNORE
            category = None
        elif category is DEFAULT_IGNORED:
            if not forced:
                return IGNORE
            category = None  # lock files are a default, not a safety rule
        if self.exclude:
            rule = self.exclude.decide(rel, False)
            if rule is not None and not rule.negated:
                return IGNORE
        if self.include:
            rule = self.include.decide(rel, False)
            if rule is not None:
                include = not rule.negated
            if not include:
                return IGNORE
        return category
