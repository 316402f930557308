"""Trees, git as the oracle, and the parity check the walker tests share."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mcp_vector_search import walker
from mcp_vector_search.config import Config
from mcp_vector_search.walker import (
    BINARY,
    GENERATED,
    MINIFIED,
    Candidate,
    Skipped,
    candidate_for,
    is_ignored,
    walk,
)

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git_env(home: Path) -> dict[str, str]:
    # The user's global excludesFile or config must not leak into the oracle.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    return env


def git(repo: Path, home: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, env=git_env(home), capture_output=True, check=True
    ).stdout


def git_files(repo: Path, home: Path) -> set[str]:
    out = git(repo, home, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {os.fsdecode(p) for p in out.split(b"\0") if p}


def walk_paths(root: Path, config: Config | None = None) -> set[str]:
    result = walk(root, config or Config())
    return {c.path for c in result.files} | {s.path for s in result.skipped}


def write(root: Path, rel: str, data: str | bytes = "x = 1\n") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def skips(result: walker.WalkResult) -> dict[str, str]:
    return {s.path: s.reason for s in result.skipped}


def every_path(root: Path) -> list[str]:
    """Every non-directory below root, plus symlinks to directories (not followed)."""
    broot = os.fsencode(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(broot):
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in [*filenames, *links]:
            out.append(os.fsdecode(os.path.relpath(os.path.join(dirpath, name), broot)))
    return sorted(out)


def check_single_path_parity(root: Path, config: Config | None = None) -> None:
    """candidate_for / is_ignored give, path by path, exactly what walk() reports."""
    config = config or Config()
    result = walk(root, config)
    entries: dict[str, Candidate | Skipped] = {c.path: c for c in result.files}
    entries.update({s.path: s for s in result.skipped})
    for rel in every_path(root):
        expected = entries.get(os.fsencode(rel).decode("utf-8", "backslashreplace"))
        assert candidate_for(root, rel, config) == expected, rel
        if expected is None and (root / rel).is_dir():
            continue  # a directory alias walk does not follow: not a file question
        assert is_ignored(root, rel, config) == (expected is None), rel


# --- the rich fixture: nested ignore files, negations, anchors, **, escapes ----------

ROOT_IGNORE = r"""# comment line
*.log
!keep.log
/gen-out/
tmp/
docs/**/*.draft.md
**/cache-dir/
\#literal.txt
\!bang.txt
TRAIL
secret-*.txt
!secret-ok.txt
a/b/
*.[oa]x
vendor/*
!vendor/keep/
excluded-parent/
!excluded-parent/child.py
onlycontents/**
!onlycontents/keep.py
"""
# An escaped trailing space is part of the pattern (written this way to survive editors).
ROOT_IGNORE = ROOT_IGNORE.replace("TRAIL", "trail\\ ")

SRC_IGNORE = """generated_*.py
!generated_keep.py
/local.cfg
lib/**/*.tmp
"""

NESTED_IGNORE = """!important.log
deeper/
"""

RICH_FILES = [
    "README.md",
    "main.py",
    "app.log",
    "keep.log",
    "gen-out/x.py",
    "sub/gen-out/x.py",
    "tmp/a.py",
    "src/tmp/a.py",
    "other/tmp",
    "docs/a.draft.md",
    "docs/x/y/b.draft.md",
    "docs/c.md",
    "x/cache-dir/f.py",
    "cache-dir/g.py",
    "#literal.txt",
    "!bang.txt",
    "trail ",
    "trail",
    "secret-a.txt",
    "secret-ok.txt",
    "a/b/c.txt",
    "z/a/b/c.txt",
    "o.ox",
    "o.ax",
    "o.bx",
    "vendor/lib.py",
    "vendor/keep/k.py",
    "vendor/keep2/k.py",
    "excluded-parent/child.py",
    "excluded-parent/other.py",
    "onlycontents/keep.py",
    "onlycontents/drop.py",
    "onlycontents/sub/drop.py",
    "src/app.py",
    "src/generated_x.py",
    "src/generated_keep.py",
    "src/local.cfg",
    "src/sub/local.cfg",
    "src/lib/a/b.tmp",
    "src/lib/b.tmp",
    "src/lib/c.py",
    "src/other/lib/d.tmp",
    "src/nested/important.log",
    "src/nested/other.log",
    "src/nested/deeper/x.py",
    "src/nested/kept.py",
    "info-excluded.txt",
    "src/info-excluded.txt",
    "crlf/a.bak",
    "crlf/x.bak",
    "crlf/y.txt",
    "name with spaces.py",
    "new\nline.py",
    "ünïcode.py",
    "日本語/ファイル.py",
    "dir with space/file.py",
    ".hidden/file.py",
    ".dotfile",
    "/".join(f"d{i}" for i in range(20)) + "/leaf.py",
]


def build_rich_tree(root: Path, ignore_name: str = ".gitignore") -> None:
    for rel in RICH_FILES:
        write(root, rel)
    write(root, ignore_name, ROOT_IGNORE)
    write(root, f"src/{ignore_name}", SRC_IGNORE)
    write(root, f"src/nested/{ignore_name}", NESTED_IGNORE)
    # A BOM and CRLF line ends, as Windows editors write them.
    write(root, f"crlf/{ignore_name}", b"\xef\xbb\xbf*.bak\r\n!x.bak\r\n")


# --- built-in excludes ------------------------------------------------------------------

BUILTIN_IGNORED = [
    ".git/config",
    ".hg/store",
    ".svn/entries",
    "node_modules/pkg/index.js",
    "web/node_modules/pkg/index.js",
    ".venv/lib/x.py",
    "venv/lib/x.py",
    "env/pyvenv.cfg",
    "env/lib/python3.11/site-packages/x.py",
    "other-venv/pyvenv.cfg",
    "other-venv/lib/x.py",
    "lib/site-packages/x.py",
    "build/x.py",
    "dist/x.py",
    "target/x.rs",
    "out/x.js",
    ".next/x.js",
    "__pycache__/x.cpython-311.pyc",
    ".pytest_cache/v/x",
    ".mypy_cache/x.json",
    ".ruff_cache/x",
    ".tox/py311/x.py",
    ".cache/x",
    "pkg.egg-info/PKG-INFO",
    ".mcp-vector-search/index.lance",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Cargo.lock",
    "uv.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
    ".env",
    ".env.local",
    "config/server.pem",
    "tls.key",
    "id_rsa",
    "id_rsa.pub",
    "id_ed25519",
    "cert.p12",
    "cert.pfx",
    "credentials.json",
    ".npmrc",
    ".pypirc",
    ".netrc",
    "release.keystore",
]

BUILTIN_SKIPPED = {
    "app.min.js": MINIFIED,
    "style.min.css": MINIFIED,
    "app.js.map": MINIFIED,
    "api_pb2.py": GENERATED,
    "api.pb.go": GENERATED,
    "logo.png": BINARY,
    "archive.tar.gz": BINARY,
    "lib.so": BINARY,
}
