"""Find the files of a project worth indexing, and read them safely.

walk() decides from names and one stat per file; read_source() decides from content.
Neither raises for a problem with a single file: the problem becomes a Skipped record
with one of the SKIP_REASONS, so the index can show why a file is missing.

Names are handled as bytes throughout, as git does, so ignore rules agree with
`git ls-files` for every name, and names that are not UTF-8 can be reported.

How a path is decided, first match wins:
  1. never: .git/.hg/.svn/.bzr, our index dir, a directory holding pyvenv.cfg;
  2. ignore files, with git's precedence (a deeper directory beats a shallower one,
     the last matching line in a file wins): the repository's info/exclude, then per
     directory its .gitignore and, above that, its .mcpvsignore (same syntax). When the
     root is inside a repository, the .gitignore files above it count as well;
  3. built-in excludes (node_modules, build, lock files, ...) unless a .mcpvsignore
     line re-included the path; a .gitignore negation does not, so the common
     `*` + `!*/` whitelist idiom cannot drag node_modules in;
  4. secrets (.env, keys) unless index_secrets; then the `exclude` setting, which wins
     over `include`; then `include`, where the nearest matching level (the file or
     one of its directories) decides.
A file inside a pruned directory can never come back, as in git; pruned directories
are not descended into at all.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import heapq
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import INDEX_DIR_NAME, Config
from .errors import UsageError
from .ignore import SOURCE_GIT, SOURCE_MVS, PatternSet, Rule, match_rules, parse_rules

BINARY = "binary"
TOO_LARGE = "too_large"
UNREADABLE = "unreadable"
MINIFIED = "minified"
GENERATED = "generated"
VANISHED = "vanished"
SYMLINK_OUTSIDE = "symlink_outside"
SYMLINK_LOOP = "symlink_loop"
UNDECODABLE = "undecodable"
SKIP_REASONS: tuple[str, ...] = (
    BINARY,
    TOO_LARGE,
    UNREADABLE,
    MINIFIED,
    GENERATED,
    VANISHED,
    SYMLINK_OUTSIDE,
    SYMLINK_LOOP,
    UNDECODABLE,
)

MVS_IGNORE_NAME = ".mcpvsignore"

# Verdict for paths walk() does not mention at all (ignore rules, built-in excludes).
_IGNORE = "ignore"


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


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    text: str
    file_hash: str
    size: int
    mtime_ns: int


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# --- built-in name rules -----------------------------------------------------------
# File names are compared lower-cased (Cargo.lock, ID_RSA, LOGO.PNG), directory names
# exactly. Bytes, because the walk is in bytes.

# Never indexed, never re-includable: version control internals and our own index.
_HARD_DIRS = frozenset({b".git", b".hg", b".svn", b".bzr", INDEX_DIR_NAME.encode()})

# Excluded by default; a `!name/` line in a .mcpvsignore brings one back.
_BUILTIN_DIRS = frozenset(
    {
        b"node_modules",
        b"bower_components",
        b"jspm_packages",
        b".venv",
        b"venv",
        b"site-packages",
        b"__pypackages__",
        b"build",
        b"dist",
        b"target",
        b"out",
        b".next",
        b".nuxt",
        b".svelte-kit",
        b".turbo",
        b".parcel-cache",
        b".vercel",
        b".gradle",
        b".terraform",
        b".eggs",
        b"__pycache__",
        b".pytest_cache",
        b".mypy_cache",
        b".ruff_cache",
        b".pytype",
        b".hypothesis",
        b".tox",
        b".nox",
        b".cache",
        b".ipynb_checkpoints",
        b"htmlcov",
    }
)
_BUILTIN_DIR_SUFFIXES = (b".egg-info", b".dist-info")

_LOCK_FILES = frozenset(
    {
        b"package-lock.json",
        b"npm-shrinkwrap.json",
        b"yarn.lock",
        b"pnpm-lock.yaml",
        b"bun.lockb",
        b"poetry.lock",
        b"pdm.lock",
        b"pipfile.lock",
        b"cargo.lock",
        b"uv.lock",
        b"composer.lock",
        b"gemfile.lock",
        b"go.sum",
        b"flake.lock",
        b"podfile.lock",
        b"packages.lock.json",
    }
)
_JUNK_FILES = frozenset({b".ds_store", b"thumbs.db", b"desktop.ini"})

_SECRET_NAMES = frozenset(
    {b".env", b"credentials.json", b".npmrc", b".pypirc", b".netrc", b"_netrc", b".htpasswd"}
)
_SECRET_EXTS = frozenset({b"pem", b"key", b"p12", b"pfx", b"keystore", b"jks"})
_SECRET_PREFIXES = (b".env.", b"id_rsa", b"id_dsa", b"id_ecdsa", b"id_ed25519")

_MINIFIED_SUFFIXES = (b".min.js", b".min.mjs", b".min.css", b".map")
_GENERATED_SUFFIXES = (
    b"_pb2.py",
    b"_pb2.pyi",
    b"_pb2_grpc.py",
    b".pb.go",
    b".pb.cc",
    b".pb.h",
    b".pb.swift",
)

# Extensions that are binary often enough that reading them to find out is waste.
_BINARY_EXTS = frozenset(
    b"""
    png jpg jpeg gif bmp ico icns webp tif tiff psd xcf heic avif
    zip tar gz tgz bz2 xz lz lzma zst 7z rar jar war ear whl egg apk deb rpm dmg iso
    so dylib dll exe o a lib obj pyc pyo pyd class wasm node
    pdf doc docx xls xlsx ppt pptx odt ods odp
    woff woff2 ttf otf eot
    mp3 mp4 m4a wav ogg oga flac aac avi mov mkv webm wmv
    sqlite sqlite3 db mdb
    npy npz pkl pickle onnx safetensors pt pth ckpt h5 hdf5 tflite pb parquet arrow feather
    bin
    """.split()
)

# Content checks.
_MINIFIED_MAX_LINE = 5_000
_MINIFIED_MAX_AVG_LINE = 500
_MINIFIED_MIN_SIZE = 4_096
_GENERATED_HEAD_LINES = 5
_GENERATED_MARKERS = (
    "do not edit",
    "do not modify",
    "not be edited",
    "not be modified",
    "not be changed by hand",
)
# Control bytes that do not occur in text (tab, LF, FF, CR and ESC do).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))
_CONTROL_MAX_FRACTION = 0.10
_SNIFF_BYTES = 8192


# Name categories besides the skip reasons: silently ignored by default but
# re-includable from a .mcpvsignore, and secrets (only index_secrets brings them in).
_DEFAULT_IGNORED = "default_ignored"
_SECRET = "secret"
_CHECK_MINIFIED = "check_minified"
_CHECK_GENERATED = "check_generated"

_NAME_CATEGORY: dict[bytes, str] = {
    **dict.fromkeys(_LOCK_FILES | _JUNK_FILES, _DEFAULT_IGNORED),
    **dict.fromkeys(_SECRET_NAMES, _SECRET),
}
# One dict lookup on the extension settles most names; the few extensions that need a
# longer suffix check (app.min.js, api_pb2.py) are routed to it.
_EXT_CATEGORY: dict[bytes, str] = {
    **dict.fromkeys(_BINARY_EXTS, BINARY),
    **dict.fromkeys((s.rpartition(b".")[2] for s in _MINIFIED_SUFFIXES), _CHECK_MINIFIED),
    **dict.fromkeys((s.rpartition(b".")[2] for s in _GENERATED_SUFFIXES), _CHECK_GENERATED),
    **dict.fromkeys(_SECRET_EXTS, _SECRET),
}
_EXT_CATEGORY[b"map"] = MINIFIED


def _name_category(low: bytes) -> str | None:
    """Classify a lower-cased file name: a skip reason, _DEFAULT_IGNORED, _SECRET or None."""
    category = _NAME_CATEGORY.get(low)
    if category is not None:
        return category
    if low.startswith(_SECRET_PREFIXES):
        return _SECRET
    dot = low.rfind(b".")
    if dot < 0:
        return None
    category = _EXT_CATEGORY.get(low[dot + 1 :])
    if category is _CHECK_MINIFIED:
        return MINIFIED if low.endswith(_MINIFIED_SUFFIXES) else None
    if category is _CHECK_GENERATED:
        return GENERATED if low.endswith(_GENERATED_SUFFIXES) else None
    return category


# --- per-directory rule loading ----------------------------------------------------


def _read_small(path: bytes) -> bytes | None:
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
    data = _read_small(dot_git)
    if not data or not data.startswith(b"gitdir:"):
        return None
    gitdir = data[len(b"gitdir:") :].strip()
    if not os.path.isabs(gitdir):
        gitdir = os.path.join(os.path.dirname(dot_git), gitdir)
    common = _read_small(os.path.join(gitdir, b"commondir"))
    if common:
        common = common.strip()
        gitdir = common if os.path.isabs(common) else os.path.join(gitdir, common)
    return os.path.normpath(gitdir)


def _info_exclude_rules(dot_git: bytes, base_len: int) -> tuple[Rule, ...]:
    gitdir = _git_dir(dot_git)
    if gitdir is None:
        return ()
    data = _read_small(os.path.join(gitdir, b"info", b"exclude"))
    return _parse_cached(data, base_len=base_len, source=SOURCE_GIT) if data else ()


class _Filter:
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
        # exact path is pruned (any directory named INDEX_DIR_NAME is, by _HARD_DIRS).
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
            data = _read_small(os.path.join(top, rel, b".gitignore"))
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
                data = _read_small(os.path.join(abs_dir, b".gitignore"))
                if data:
                    new += _parse_cached(data, base_len=base_len, source=SOURCE_GIT)
        if MVS_IGNORE_BYTES in has:
            data = _read_small(os.path.join(abs_dir, MVS_IGNORE_BYTES))
            if data:
                new += _parse_cached(data, base_len=base_len, source=SOURCE_MVS)
        if not new:
            return parent
        return (*reversed(new), *parent)

    def hidden_target(self, real: bytes, is_dir: bool) -> bool:
        """Whether a symlink target inside the root is somewhere we never index."""
        rel = real[len(self.real_root) + 1 :]
        parts = rel.split(b"/") if rel else []
        if any(part in _HARD_DIRS for part in parts):
            return True
        if self.index_rel is not None and _is_within(rel, self.index_rel):
            return True
        if is_dir or not parts or self.index_secrets:
            return False
        return _name_category(parts[-1].lower()) is _SECRET

    def dir_verdict(
        self, rules: tuple[Rule, ...], rel: bytes, name: bytes, include: bool | None
    ) -> tuple[bool, bool, bool | None]:
        """For a directory: (pruned, re-included by a .mcpvsignore, include state inside)."""
        if name in _HARD_DIRS or rel == self.index_rel:
            return True, False, include
        forced = False
        if rules:
            rule = match_rules(rules, self.prefix + rel if self.prefix else rel, name, True)
            if rule is not None:
                if not rule.negated:
                    return True, False, include
                forced = rule.source == SOURCE_MVS
        if not forced and (name in _BUILTIN_DIRS or name.endswith(_BUILTIN_DIR_SUFFIXES)):
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
        """For a file: _IGNORE, a skip reason decided by name, or None to go on."""
        if name == b".git":
            return _IGNORE
        forced = False
        if rules:
            rule = match_rules(rules, self.prefix + rel if self.prefix else rel, name, False)
            if rule is not None:
                if not rule.negated:
                    return _IGNORE
                forced = rule.source == SOURCE_MVS
        category = _name_category(name.lower())
        if category is _SECRET:
            if not self.index_secrets:
                return _IGNORE
            category = None
        elif category is _DEFAULT_IGNORED:
            if not forced:
                return _IGNORE
            category = None  # lock files are a default, not a safety rule
        if self.exclude:
            rule = self.exclude.decide(rel, False)
            if rule is not None and not rule.negated:
                return _IGNORE
        if self.include:
            rule = self.include.decide(rel, False)
            if rule is not None:
                include = not rule.negated
            if not include:
                return _IGNORE
        return category


MVS_IGNORE_BYTES = MVS_IGNORE_NAME.encode()
_INTERESTING = frozenset({b".git", b".gitignore", MVS_IGNORE_BYTES, b"pyvenv.cfg"})


def _display(rel: bytes) -> str:
    return rel.decode("utf-8", "backslashreplace")


def _is_within(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")


_make_child: Callable[[Path, str], Path] | None = getattr(Path, "_make_child_relpath", None)


def _child_path(parent: Path, name: str) -> Path:
    # Path(str) re-parses the whole path (a third of walk time on a big tree); pathlib's
    # own child constructor skips that. It is private, so fall back when it is gone.
    if _make_child is not None:
        return _make_child(parent, name)
    return parent / name


@dataclass(slots=True)
class _Dir:
    rel: bytes  # root-relative with a trailing slash; b"" for the root
    abs: bytes  # the path used to open it (may go through a followed symlink)
    real: bytes  # its real path, for loop and duplicate detection
    rules: tuple[Rule, ...]
    include: bool | None
    forced: bool  # re-included by .mcpvsignore: skip the virtualenv check
    path: Path  # abs path as the caller sees it (through followed links, unresolved)


# A symlinked directory waiting for the real tree to be done: (rel, abs, real, rules,
# include state). Ordered by rel so the outcome does not depend on listing order.
_Pending = tuple[bytes, bytes, bytes, tuple[Rule, ...], bool | None]


class _Walker:
    def __init__(self, root: Path, config: Config) -> None:
        self.flt = _Filter(root, config)
        self.max_size = config.max_file_size
        self.root_prefix = self.flt.root_str.rstrip("/") + "/"
        self.files: list[Candidate] = []
        self.skipped: list[Skipped] = []
        self.visited: set[bytes] = set()
        self.pending: list[_Pending] = []

    def run(self) -> WalkResult:
        flt = self.flt
        root_path = Path(flt.root_str)
        stack = [_Dir(b"", flt.root, flt.real_root, flt.root_rules, None, False, root_path)]
        self.visited.add(flt.real_root)
        while stack or self.pending:
            if not stack:
                rel, abs_link, real, rules, include = heapq.heappop(self.pending)
                if real in self.visited:
                    continue  # already indexed under its real path or an earlier link
                self.visited.add(real)
                path = Path(self.root_prefix + rel.decode())
                stack.append(_Dir(rel + b"/", abs_link, real, rules, include, False, path))
            self._scan(stack.pop(), stack)
        self.files.sort(key=lambda c: c.path)
        self.skipped.sort(key=lambda s: s.path)
        return WalkResult(self.files, self.skipped)

    def _skip(self, rel: bytes, reason: str) -> None:
        self.skipped.append(Skipped(_display(rel), reason))

    def _add_file(self, d: _Dir, rel: bytes, st: os.stat_result) -> None:
        path = rel.decode()
        if st.st_size > self.max_size:
            self.skipped.append(Skipped(path, TOO_LARGE))
        else:
            abs_path = _child_path(d.path, rel[len(d.rel) :].decode())
            self.files.append(Candidate(path, abs_path, st.st_size, st.st_mtime_ns))

    def _scan(self, d: _Dir, stack: list[_Dir]) -> None:
        flt = self.flt
        try:
            with os.scandir(d.abs) as it:
                entries = list(it)
        except OSError as exc:
            if not d.rel:
                # An empty result would read as "every file was deleted" to the indexer.
                raise UsageError(f"{self.flt.root_str}: cannot list: {exc.strerror}") from None
            if not isinstance(exc, FileNotFoundError):  # removed while we walked: gone
                self._skip(d.rel.rstrip(b"/"), UNREADABLE)
            return
        has = {e.name for e in entries if e.name in _INTERESTING}
        if d.rel and not d.forced and b"pyvenv.cfg" in has:
            return  # a virtualenv, whatever its name
        rules = flt.dir_rules(d.rules, d.abs, d.rel, has)
        for entry in entries:
            name = entry.name
            rel = d.rel + name
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
                is_file = not is_link and not is_dir and entry.is_file(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and lstat
            if is_link:
                self._link(d, name, rel, rules)
            elif is_dir:
                pruned, forced, include = flt.dir_verdict(rules, rel, name, d.include)
                if pruned:
                    continue
                if not _decodes(name):
                    self._skip(rel, UNDECODABLE)
                    continue
                real = d.real + b"/" + name
                if real in self.visited:
                    continue  # reached before through a followed symlink
                self.visited.add(real)
                path = _child_path(d.path, name.decode())
                abs_dir = d.abs + b"/" + name
                stack.append(_Dir(rel + b"/", abs_dir, real, rules, include, forced, path))
            else:
                self._file(d, entry, rel, rules, is_file)

    def _file(
        self, d: _Dir, entry: os.DirEntry[bytes], rel: bytes, rules: tuple[Rule, ...], is_file: bool
    ) -> None:
        verdict = self.flt.file_verdict(rules, rel, entry.name, d.include)
        if verdict == _IGNORE:
            return
        if not _decodes(entry.name):
            self._skip(rel, UNDECODABLE)
        elif verdict is not None:
            self._skip(rel, verdict)
        elif not is_file:
            # FIFOs, sockets, devices: opening one can block or have side effects.
            self._skip(rel, UNREADABLE)
        else:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                return
            except OSError:
                self._skip(rel, UNREADABLE)
                return
            self._add_file(d, rel, st)

    def _link(self, d: _Dir, name: bytes, rel: bytes, rules: tuple[Rule, ...]) -> None:
        flt = self.flt
        abs_link = d.abs + b"/" + name
        kind = "missing"
        st: os.stat_result | None = None
        try:
            st = os.stat(abs_link)
            mode = st.st_mode
            kind = "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                kind = "loop"
        # Ignore rules see the link's own path, as git does; a link is a directory
        # for them only when we would follow it as one.
        include: bool | None = None
        verdict: str | None = None
        if kind == "dir":
            pruned, _forced, include = flt.dir_verdict(rules, rel, name, d.include)
            if pruned:
                return
        else:
            verdict = flt.file_verdict(rules, rel, name, d.include)
            if verdict == _IGNORE:
                return
        if not _decodes(name):
            self._skip(rel, UNDECODABLE)
            return
        if kind == "loop":
            self._skip(rel, SYMLINK_LOOP)
            return
        real = os.path.realpath(abs_link)
        if not _is_within(real, flt.real_root):
            self._skip(rel, SYMLINK_OUTSIDE)
            return
        if flt.hidden_target(real, kind == "dir"):
            return  # e.g. notes.txt -> .env, or -> .git/config: never through a side door
        if kind == "dir":
            if _is_within(d.real, real):
                self._skip(rel, SYMLINK_LOOP)  # it points at an ancestor
            else:
                heapq.heappush(self.pending, (rel, abs_link, real, rules, include))
        elif verdict is not None:
            self._skip(rel, verdict)
        elif kind != "file" or st is None:
            self._skip(rel, UNREADABLE)  # dangling, or a FIFO/device behind the link
        else:
            self._add_file(d, rel, st)


def walk(root: Path, config: Config) -> WalkResult:
    """All indexable files under `root` (sorted by path), and the skipped ones with why.

    Ignored files (gitignore, built-in excludes, settings) appear in neither list.
    Symlinked directories inside the root are followed once per real directory, after
    the real tree, so the path a directory is indexed under does not depend on the
    order the file system lists entries in.
    """
    return _Walker(root, config).run()


def _decodes(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- single-path check for the watcher ------------------------------------------------


_FILTER_TTL_S = 2.0
_filters: dict[tuple[str, Config], tuple[float, _Filter]] = {}


def _filter_for(root: Path, config: Config) -> _Filter:
    """A _Filter reused for a couple of seconds.

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
    flt = _Filter(root, config)
    if len(_filters) > 16:
        _filters.clear()
    _filters[key] = (now, flt)
    return flt


def _normalise(flt: _Filter, rel_path: str | os.PathLike[str]) -> bytes | None:
    """Root-relative bytes path without dots; None when it points outside the root."""
    raw = os.fsencode(rel_path)
    if os.path.isabs(raw):
        raw = os.path.abspath(raw)
        if not _is_within(raw, flt.root):
            return None
        raw = raw[len(flt.root) :]
    raw = os.path.normpath(raw.lstrip(b"/") or b".")
    if raw.startswith(b"../") or raw == b"..":
        return None
    return b"" if raw == b"." else raw


def _path_verdict(flt: _Filter, raw: bytes) -> str | None:
    """walk()'s decision for one root-relative path, from its name and its parents:
    _IGNORE, a skip reason decided by name, or None (go on to stat and read)."""
    parts = raw.split(b"/")
    rules = flt.root_rules
    include: bool | None = None
    forced = True  # the root itself is never treated as a virtualenv
    abs_dir = flt.root
    rel_dir = b""
    for i, name in enumerate(parts):
        has = {n for n in _INTERESTING if os.path.lexists(os.path.join(abs_dir, n))}
        if not forced and b"pyvenv.cfg" in has:
            return _IGNORE
        rules = flt.dir_rules(rules, abs_dir, rel_dir, has)
        rel = rel_dir + name
        abs_path = abs_dir + b"/" + name
        last = i == len(parts) - 1
        if not last and not _decodes(name):
            return _IGNORE  # walk reports the directory as undecodable, not its contents
        is_dir = not last or os.path.isdir(abs_path)
        if is_dir:
            pruned, forced, include = flt.dir_verdict(rules, rel, name, include)
            if pruned:
                return _IGNORE
        else:
            verdict = flt.file_verdict(rules, rel, name, include)
            if verdict == _IGNORE:
                return _IGNORE
        if os.path.islink(abs_path):
            real = os.path.realpath(abs_path)
            if _is_within(real, flt.real_root) and flt.hidden_target(real, is_dir):
                return _IGNORE  # e.g. notes.txt -> .env
            if not last and (
                not _is_within(real, flt.real_root) or _is_within(os.path.realpath(abs_dir), real)
            ):
                return _IGNORE  # walk reports the link itself and never goes through it
        abs_dir = abs_path
        rel_dir = rel + b"/"
    return None if is_dir else verdict


def is_ignored(root: Path, rel_path: str, config: Config) -> bool:
    """True when walk() would not mention `rel_path` at all (neither file nor skip).

    Applies the same rules as walk along the path: each parent directory is checked
    (a file inside a pruned directory is ignored), with the ignore files found there.
    Absolute paths are accepted when they are inside the root; outside ones are ignored.
    A path that does not exist is judged as a file (the watcher asks about deletions).
    """
    try:
        flt = _filter_for(root, config)
    except UsageError:
        return True  # the root itself is gone: nothing under it can be indexed
    raw = _normalise(flt, rel_path)
    if raw is None:
        return True
    return bool(raw) and _path_verdict(flt, raw) == _IGNORE


def candidate_for(root: Path, rel_path: str, config: Config) -> Candidate | Skipped | None:
    """What walk() would report for one path: a Candidate, a Skipped, or None when the
    path is ignored, gone, or a directory. For incremental updates from the watcher.

    One difference remains by design: walk() follows each real directory once, so a
    file reached through a second symlinked alias of a directory is not in walk() but
    is returned here.
    """
    try:
        flt = _filter_for(root, config)
    except UsageError:
        return None
    raw = _normalise(flt, rel_path)
    if not raw:
        return None
    verdict = _path_verdict(flt, raw)
    if verdict == _IGNORE:
        return None
    if not all(_decodes(part) for part in raw.split(b"/")):
        return Skipped(_display(raw), UNDECODABLE)
    path = raw.decode()
    abs_path = flt.root + b"/" + raw
    try:
        lst = os.lstat(abs_path)
    except OSError:
        return None
    if stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(abs_path)
        except OSError as exc:
            reason = SYMLINK_LOOP if exc.errno == errno.ELOOP else UNREADABLE
            real = os.path.realpath(abs_path)
            if reason == UNREADABLE and not _is_within(real, flt.real_root):
                reason = SYMLINK_OUTSIDE
            return Skipped(path, reason)
        real = os.path.realpath(abs_path)
        if not _is_within(real, flt.real_root):
            return Skipped(path, SYMLINK_OUTSIDE)
        if stat.S_ISDIR(st.st_mode) and _is_within(
            os.path.realpath(os.path.dirname(abs_path)), real
        ):
            return Skipped(path, SYMLINK_LOOP)
    else:
        st = lst
    if stat.S_ISDIR(st.st_mode):
        return None
    if verdict is not None:
        return Skipped(path, verdict)
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, UNREADABLE)
    if st.st_size > config.max_file_size:
        return Skipped(path, TOO_LARGE)
    return Candidate(path, Path(flt.root_str.rstrip("/") + "/" + path), st.st_size, st.st_mtime_ns)


# --- reading ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _real_root_of(root: str) -> str:
    return os.path.realpath(root)


def _root_of(cand: Candidate) -> str | None:
    full = str(cand.abs_path)
    suffix = "/" + cand.path
    if not full.endswith(suffix):
        return None
    return full[: -len(suffix)] or "/"


def _real_path_of_fd(fd: int, fallback: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


def read_source(cand: Candidate, config: Config) -> Source | Skipped:
    """Read and decode one candidate; any problem becomes a Skipped, never an exception."""
    path = cand.path
    try:
        return _read_source(cand, config)
    except MemoryError:
        return Skipped(path, TOO_LARGE)
    except OSError:
        return Skipped(path, UNREADABLE)


def _read_source(cand: Candidate, config: Config) -> Source | Skipped:
    path = cand.path
    abs_path = str(cand.abs_path)
    try:
        st = os.stat(abs_path)
    except (FileNotFoundError, NotADirectoryError):
        return Skipped(path, VANISHED)  # also a symlink whose target went away
    except OSError as exc:
        return Skipped(path, SYMLINK_LOOP if exc.errno == errno.ELOOP else UNREADABLE)
    if stat.S_ISDIR(st.st_mode):
        return Skipped(path, VANISHED)  # the file is gone; a directory took its name
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, UNREADABLE)  # never open FIFOs, sockets, devices
    if st.st_size > config.max_file_size:
        return Skipped(path, TOO_LARGE)
    try:
        # O_NONBLOCK: if a FIFO replaced the file since the stat, open must not hang.
        fd = os.open(abs_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (FileNotFoundError, NotADirectoryError):
        return Skipped(path, VANISHED)
    except OSError as exc:
        return Skipped(path, SYMLINK_LOOP if exc.errno == errno.ELOOP else UNREADABLE)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            return Skipped(path, UNREADABLE)
        root = _root_of(cand)
        if root is not None:
            # Checked on the open file, so a symlink retargeted after walk() cannot
            # smuggle a file from outside the root into the index.
            real = _real_path_of_fd(fd, abs_path)
            real_root = _real_root_of(root)
            if not (real.startswith(real_root.rstrip("/") + "/")):
                return Skipped(path, SYMLINK_OUTSIDE)
        limit = config.max_file_size
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            return Skipped(path, TOO_LARGE)  # it grew since the walk
        data = b"".join(chunks)
    finally:
        os.close(fd)
    text = _decode(data)
    if text is None:
        return Skipped(path, BINARY)
    reason = _content_skip_reason(text, len(data))
    if reason is not None:
        return Skipped(path, reason)
    return Source(path, text, hash_bytes(data), len(data), fst.st_mtime_ns)


def _decode(data: bytes) -> str | None:
    """Decode file bytes to text, or None when they look binary."""
    text: str | None = None
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        try:
            text = data.decode("utf-32")
        except UnicodeDecodeError:
            text = None  # more likely UTF-16 text starting with U+0000; try that
    if text is None and data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    if text is None and data.startswith(b"\xef\xbb\xbf"):
        text = data.decode("utf-8-sig", "replace")
    if text is not None:
        return None if "\x00" in text else text
    # NUL anywhere, not just in the first 8 KiB: the bytes are in memory anyway, and a
    # NUL in the middle of "text" means the chunker and tokenizer would see garbage.
    if b"\x00" in data:
        return None
    head = data[:_SNIFF_BYTES]
    if head:
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
        if controls / len(head) > _CONTROL_MAX_FRACTION:
            return None
    # Invalid UTF-8 (Latin-1 comments, a stray byte) is still text worth searching.
    return data.decode("utf-8", "replace")


def _content_skip_reason(text: str, size: int) -> str | None:
    head = text[:4096].split("\n", _GENERATED_HEAD_LINES)[:_GENERATED_HEAD_LINES]
    head_low = "\n".join(head).lower()
    if "generated" in head_low and any(m in head_low for m in _GENERATED_MARKERS):
        return GENERATED
    if size >= _MINIFIED_MIN_SIZE:
        lines = text.count("\n") + 1
        if len(text) / lines > _MINIFIED_MAX_AVG_LINE:
            return MINIFIED
        if _has_line_longer_than(text, _MINIFIED_MAX_LINE):
            return MINIFIED
    return None


def _has_line_longer_than(text: str, limit: int) -> bool:
    """Whether some line exceeds `limit` characters, without splitting the text.

    Probes blocks of limit//2 characters: a line longer than `limit` must contain a whole
    block wherever the blocks start, so only a newline-free block needs a closer look.
    That is a few dozen C-level finds for a large file instead of one string per line.
    """
    n = len(text)
    step = max(limit // 2, 1)
    k = 0
    while k + step <= n:
        if text.find("\n", k, k + step) != -1:
            k += step
            continue
        start = text.rfind("\n", 0, k) + 1
        end = text.find("\n", k + step)
        if end == -1:
            end = n
        if end - start > limit:
            return True
        k = end + 1
    return False
