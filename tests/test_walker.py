"""walk / read_source / is_ignored: git as the oracle for ignore rules, one test per skip reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from mcp_vector_search import walker
from mcp_vector_search.config import INDEX_DIR_NAME, Config
from mcp_vector_search.errors import UsageError
from mcp_vector_search.walker import (
    BINARY,
    GENERATED,
    MINIFIED,
    SKIP_REASONS,
    SYMLINK_LOOP,
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    UNDECODABLE,
    UNREADABLE,
    VANISHED,
    Candidate,
    Skipped,
    Source,
    candidate_for,
    hash_bytes,
    is_ignored,
    read_source,
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


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def rich_repo(tmp_path: Path, home: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(tmp_path, home, "init", "-q", str(repo))
    build_rich_tree(repo)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("info-excluded.txt\n")
    return repo


@needs_git
def test_rich_repo_matches_git_ls_files(rich_repo: Path, home: Path) -> None:
    expected = git_files(rich_repo, home)
    assert walk_paths(rich_repo) == expected
    # Sanity: the fixture really does exercise every kind of rule.
    for kept in ("keep.log", "src/nested/important.log", "onlycontents/keep.py", "trail"):
        assert kept in expected
    for dropped in ("app.log", "excluded-parent/child.py", "trail ", "info-excluded.txt"):
        assert dropped not in expected


@needs_git
def test_rich_repo_after_git_add_matches_cached_listing(rich_repo: Path, home: Path) -> None:
    git(rich_repo, home, "add", "-A")
    assert walk_paths(rich_repo) == git_files(rich_repo, home)


@needs_git
def test_mcpvsignore_has_gitignore_semantics(tmp_path: Path, home: Path) -> None:
    oracle = tmp_path / "oracle"
    oracle.mkdir()
    git(tmp_path, home, "init", "-q", str(oracle))
    build_rich_tree(oracle, ".gitignore")
    ours = tmp_path / "ours"
    build_rich_tree(ours, ".mcpvsignore")
    expected = {p.replace(".gitignore", ".mcpvsignore") for p in git_files(oracle, home)}
    # info/exclude is git-only; the oracle has none here, so the sets must be equal.
    assert walk_paths(ours, Config(respect_gitignore=False)) == expected


@needs_git
def test_project_inside_a_repo_uses_parent_gitignores(tmp_path: Path, home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(tmp_path, home, "init", "-q", str(repo))
    write(repo, ".gitignore", "*.log\n/pkg/anchored.py\npkg/sub/\n")
    (repo / ".git" / "info" / "exclude").write_text("excluded.py\n")
    for rel in ("pkg/a.py", "pkg/a.log", "pkg/anchored.py", "pkg/excluded.py", "pkg/sub/x.py"):
        write(repo, rel)
    expected = {p.removeprefix("pkg/") for p in git_files(repo, home) if p.startswith("pkg/")}
    assert walk_paths(repo / "pkg") == expected == {"a.py"}


@needs_git
def test_project_two_levels_below_the_repo_top(tmp_path: Path, home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(tmp_path, home, "init", "-q", str(repo))
    write(repo, ".gitignore", "*.tmp\n")
    write(repo, "a/.gitignore", "/b/anchored.py\n**/deep.py\n!keep.tmp\n")
    for rel in ("a/b/x.py", "a/b/anchored.py", "a/b/c/deep.py", "a/b/y.tmp", "a/b/keep.tmp"):
        write(repo, rel)
    expected = {p.removeprefix("a/b/") for p in git_files(repo, home) if p.startswith("a/b/")}
    assert walk_paths(repo / "a" / "b") == expected == {"x.py", "keep.tmp"}


@needs_git
def test_linked_worktree_reads_the_common_info_exclude(tmp_path: Path, home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(tmp_path, home, "init", "-q", str(repo))
    write(repo, "a.py")
    git(repo, home, "add", "-A")
    git(repo, home, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    git(repo, home, "worktree", "add", "-q", str(tmp_path / "wt"))
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("local-only.py\n")
    wt = tmp_path / "wt"
    write(wt, "local-only.py")
    write(wt, "new.py")
    assert (wt / ".git").is_file()
    assert walk_paths(wt) == git_files(wt, home) == {"a.py", "new.py"}


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    write(tmp_path, "real/a.py")
    (tmp_path / "real" / "inner").symlink_to(tmp_path / "real" / "sub", target_is_directory=True)
    write(tmp_path, "real/sub/b.py")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    result = walk(tmp_path / "alias", Config())
    assert [c.path for c in result.files] == ["a.py", "sub/b.py"]
    assert result.files[0].abs_path == tmp_path / "alias" / "a.py"
    assert isinstance(read_source(result.files[1], Config()), Source)


def test_respect_gitignore_false_ignores_gitignore(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.py\n")
    write(tmp_path, "a.py")
    assert "a.py" in walk_paths(tmp_path, Config(respect_gitignore=False))
    assert "a.py" not in walk_paths(tmp_path)


def test_gitignore_honoured_without_a_git_repo(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "ignored/\n")
    write(tmp_path, "ignored/a.py")
    write(tmp_path, "b.py")
    assert walk_paths(tmp_path) == {".gitignore", "b.py"}


def test_symlinked_gitignore_is_not_read(tmp_path: Path) -> None:
    # git refuses in-tree .gitignore symlinks; so do we.
    write(tmp_path, "rules.txt", "*.py\n")
    (tmp_path / ".gitignore").symlink_to("rules.txt")
    write(tmp_path, "a.py")
    assert "a.py" in walk_paths(tmp_path)


def test_single_path_functions_agree_with_walk(rich_repo: Path) -> None:
    check_single_path_parity(rich_repo)
    config = Config()
    assert is_ignored(rich_repo, str(rich_repo / "tmp" / "a.py"), config)
    assert not is_ignored(rich_repo, str(rich_repo / "main.py"), config)
    assert is_ignored(rich_repo, "/elsewhere/main.py", config)
    assert is_ignored(rich_repo, "../elsewhere/main.py", config)
    assert is_ignored(rich_repo, ".git/config", config)
    assert is_ignored(rich_repo / "missing-root", "a.py", config)
    assert candidate_for(rich_repo, "src", config) is None  # directories are not files
    assert candidate_for(rich_repo, "gone.py", config) is None


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


def test_builtin_excludes(tmp_path: Path) -> None:
    for rel in BUILTIN_IGNORED:
        write(tmp_path, rel)
    for rel in BUILTIN_SKIPPED:
        write(tmp_path, rel)
    write(tmp_path, "src/main.py")
    write(tmp_path, "environment.py")
    write(tmp_path, "env.py")
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == ["env.py", "environment.py", "src/main.py"]
    assert skips(result) == BUILTIN_SKIPPED
    check_single_path_parity(tmp_path)


def test_mcpvsignore_negation_reincludes_builtin_dir_but_gitignore_does_not(
    tmp_path: Path,
) -> None:
    write(tmp_path, "build/x.py")
    write(tmp_path, "node_modules/y.js")
    write(tmp_path, "uv.lock")
    write(tmp_path, ".env")
    # A whitelist .gitignore re-includes every directory; node_modules must stay out.
    write(tmp_path, ".gitignore", "*\n!*/\n!*.py\n!*.js\n!.gitignore\n")
    assert walk_paths(tmp_path) == {".gitignore"}
    write(tmp_path, ".mcpvsignore", "!build/\n!uv.lock\n!.env\n")
    # .env stays out: secrets only come in through index_secrets.
    assert walk_paths(tmp_path) == {".gitignore", "build/x.py", "uv.lock"}
    check_single_path_parity(tmp_path)


def test_index_secrets_includes_secret_files(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TOKEN=1\n")
    write(tmp_path, "id_rsa", "key\n")
    assert walk_paths(tmp_path) == set()
    assert walk_paths(tmp_path, Config(index_secrets=True)) == {".env", "id_rsa"}
    check_single_path_parity(tmp_path)
    check_single_path_parity(tmp_path, Config(index_secrets=True))


def test_custom_index_dir_inside_root_is_pruned(tmp_path: Path) -> None:
    write(tmp_path, "idx/data.txt")
    write(tmp_path, "a.py")
    assert walk_paths(tmp_path, Config(index_dir="idx")) == {"a.py"}
    assert walk_paths(tmp_path, Config(index_dir=str(tmp_path / "idx"))) == {"a.py"}
    assert "idx/data.txt" in walk_paths(tmp_path)
    check_single_path_parity(tmp_path, Config(index_dir="idx"))


def test_virtualenv_detected_by_pyvenv_cfg_only_below_root(tmp_path: Path) -> None:
    write(tmp_path, "pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "a.py")
    assert walk_paths(tmp_path) == {"pyvenv.cfg", "a.py"}


# --- include / exclude settings -----------------------------------------------------


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    for rel in (
        "src/a.py",
        "src/b.js",
        "src/vendor/v.py",
        "tests/test_a.py",
        "tests/fixtures/f.py",
        "README.md",
        "setup.py",
    ):
        write(tmp_path, rel)
    return tmp_path


def test_include_only_matching_files_count(small_tree: Path) -> None:
    assert walk_paths(small_tree, Config(include=("*.py",))) == {
        "src/a.py",
        "src/vendor/v.py",
        "tests/test_a.py",
        "tests/fixtures/f.py",
        "setup.py",
    }
    assert walk_paths(small_tree, Config(include=("src/",))) == {
        "src/a.py",
        "src/b.js",
        "src/vendor/v.py",
    }
    # The nearest matching level decides, so an include can carve out a subdirectory.
    assert walk_paths(small_tree, Config(include=("src/", "!src/vendor/"))) == {
        "src/a.py",
        "src/b.js",
    }


def test_exclude_prunes_and_wins_over_include(small_tree: Path) -> None:
    assert walk_paths(small_tree, Config(exclude=("tests/", "*.md"))) == {
        "src/a.py",
        "src/b.js",
        "src/vendor/v.py",
        "setup.py",
    }
    assert walk_paths(small_tree, Config(include=("*.py",), exclude=("tests/", "/setup.py"))) == {
        "src/a.py",
        "src/vendor/v.py",
    }
    # git semantics: a file inside an excluded directory cannot come back.
    assert "tests/fixtures/f.py" not in walk_paths(
        small_tree, Config(exclude=("tests/", "!tests/fixtures/"))
    )
    assert is_ignored(small_tree, "tests/test_a.py", Config(exclude=("tests/",)))
    assert is_ignored(small_tree, "README.md", Config(include=("*.py",)))
    for config in (
        Config(include=("*.py",), exclude=("tests/", "/setup.py")),
        Config(include=("src/", "!src/vendor/")),
        Config(exclude=("tests/", "!tests/fixtures/", "*.md")),
    ):
        check_single_path_parity(small_tree, config)


# --- skip reasons in walk ----------------------------------------------------------------


def test_too_large_is_decided_by_stat_in_walk(tmp_path: Path) -> None:
    write(tmp_path, "big.py", "x" * 101)
    write(tmp_path, "ok.py", "x" * 100)
    result = walk(tmp_path, Config(max_file_size=100))
    assert [c.path for c in result.files] == ["ok.py"]
    assert skips(result) == {"big.py": TOO_LARGE}
    check_single_path_parity(tmp_path, Config(max_file_size=100))


def test_fifo_and_socket_are_skipped_unopened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock_path: Path | None = tmp_path / "sock"
    try:
        sock.bind(str(tmp_path / "sock"))
    except OSError:  # path too long for AF_UNIX on some systems
        sock_path = None
    try:
        result = walk(tmp_path, Config())  # would hang if it opened the FIFO
        expected = {"pipe": UNREADABLE}
        if sock_path is not None:
            expected["sock"] = UNREADABLE
        assert skips(result) == expected
        fifo = Candidate("pipe", tmp_path / "pipe", 0, 0)
        assert read_source(fifo, Config()) == Skipped("pipe", UNREADABLE)
        check_single_path_parity(tmp_path)
    finally:
        sock.close()


def test_undecodable_names_are_reported(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xff.py"
    with open(raw, "wb") as f:
        f.write(b"x = 1\n")
    os.mkdir(os.fsencode(tmp_path) + b"/dir\xfe")
    with open(os.fsencode(tmp_path) + b"/dir\xfe/inner.py", "wb") as f:
        f.write(b"x\n")
    write(tmp_path, "good.py")
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == ["good.py"]
    assert skips(result) == {"bad\\xff.py": UNDECODABLE, "dir\\xfe": UNDECODABLE}
    check_single_path_parity(tmp_path)


def test_unreadable_directory_is_reported(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads through chmod 000; the OSError path is covered by monkeypatch")
    locked = tmp_path / "locked"
    write(tmp_path, "locked/a.py")
    locked.chmod(0)
    try:
        assert skips(walk(tmp_path, Config())) == {"locked": UNREADABLE}
    finally:
        locked.chmod(0o755)


def test_unreadable_directory_via_oserror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "locked/a.py")
    write(tmp_path, "open.py")
    real_scandir = os.scandir

    def scandir(path: bytes) -> object:
        if path.endswith(b"/locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == ["open.py"]
    assert skips(result) == {"locked": UNREADABLE}


def test_walk_rejects_a_missing_root(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        walk(tmp_path / "missing", Config())


def test_unlistable_root_raises_instead_of_looking_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "a.py")

    def scandir(path: bytes) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UsageError, match="cannot list"):
        walk(tmp_path, Config())


# --- symlinks ------------------------------------------------------------------------


def test_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.py")
    root = tmp_path / "root"
    write(root, "real/a.py")
    write(root, "ignored/b.py")
    write(root, ".gitignore", "ignored/\n")
    write(root, ".env", "TOKEN=1\n")
    (root / "to_outside_file.py").symlink_to(outside / "secret.py")
    (root / "to_outside_dir").symlink_to(outside, target_is_directory=True)
    (root / "alias").symlink_to("real", target_is_directory=True)  # duplicate of real/
    (root / "via_link").symlink_to("ignored", target_is_directory=True)  # target pruned
    (root / "real" / "up").symlink_to("..", target_is_directory=True)  # ancestor
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")
    (root / "dangling.py").symlink_to("nowhere.py")
    (root / "file_link.py").symlink_to("real/a.py")
    (root / "notes.txt").symlink_to(".env")  # a secret through a side door
    (root / "gitconf").symlink_to(".git/config")
    result = walk(root, Config())
    assert [c.path for c in result.files] == [
        ".gitignore",
        "file_link.py",
        "real/a.py",
        "via_link/b.py",
    ]
    assert skips(result) == {
        "dangling.py": UNREADABLE,
        "loop_a": SYMLINK_LOOP,
        "loop_b": SYMLINK_LOOP,
        "real/up": SYMLINK_LOOP,
        "to_outside_dir": SYMLINK_OUTSIDE,
        "to_outside_file.py": SYMLINK_OUTSIDE,
    }
    link = next(c for c in result.files if c.path == "file_link.py")
    assert link.abs_path == root / "file_link.py"
    source = read_source(link, Config())
    assert isinstance(source, Source) and source.text == "x = 1\n"
    check_single_path_parity(root)


def test_symlinked_directories_followed_once_whatever_the_order(tmp_path: Path) -> None:
    # Two links to one directory that the walk does not reach on its own.
    write(tmp_path, ".gitignore", "store/\n")
    write(tmp_path, "store/s.py")
    (tmp_path / "b_link").symlink_to("store", target_is_directory=True)
    (tmp_path / "a_link").symlink_to("store", target_is_directory=True)
    (tmp_path / "c_link").symlink_to("a_link", target_is_directory=True)
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == [".gitignore", "a_link/s.py"]
    assert result.skipped == []
    check_single_path_parity(tmp_path)


def test_symlink_loop_through_nested_links_terminates(tmp_path: Path) -> None:
    write(tmp_path, "a/x.py")
    (tmp_path / "a" / "b").symlink_to(tmp_path / "c", target_is_directory=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "back").symlink_to(tmp_path / "a", target_is_directory=True)
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == ["a/x.py"]
    check_single_path_parity(tmp_path)


def test_read_source_rejects_link_retargeted_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "inside.py")
    write(tmp_path, "outside.py", "secret\n")
    (root / "link.py").symlink_to("inside.py")
    cand = next(c for c in walk(root, Config()).files if c.path == "link.py")
    (root / "link.py").unlink()
    (root / "link.py").symlink_to(tmp_path / "outside.py")
    assert read_source(cand, Config()) == Skipped("link.py", SYMLINK_OUTSIDE)


# --- read_source -------------------------------------------------------------------------


def candidate(root: Path, rel: str) -> Candidate:
    (cand,) = [c for c in walk(root, Config()).files if c.path == rel]
    return cand


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", BINARY),
        (b"def f():\n    return 1\n\x00\n", BINARY),  # NUL inside a .py file
        (b"x = 1\n" * 2000 + b"\x00", BINARY),  # NUL past the first 8 KiB
        (bytes(range(1, 9)) * 50, BINARY),  # control bytes, no NUL
        (b"var a=" + b"1," * 3000 + b"2;\n", MINIFIED),  # one 6,000-char line
        ((b"x" * 600 + b"\n") * 10, MINIFIED),  # average line length > 500
        (b"// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n", GENERATED),
        (
            b"# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.\n"
            b"# source: a.proto\n# Do not edit!\nimport x\n",
            GENERATED,
        ),
    ],
)
def test_read_source_skip_reasons(tmp_path: Path, data: bytes, reason: str) -> None:
    write(tmp_path, "f.py", data)
    assert read_source(candidate(tmp_path, "f.py"), Config()) == Skipped("f.py", reason)


def test_generated_marker_must_be_in_the_first_lines(tmp_path: Path) -> None:
    write(tmp_path, "f.py", "x = 1\n" * 10 + "# generated, do not edit\n")
    assert isinstance(read_source(candidate(tmp_path, "f.py"), Config()), Source)


def test_long_but_normal_file_is_not_minified(tmp_path: Path) -> None:
    write(tmp_path, "f.py", "x = 1  # " + "y" * 100 + "\n" * 1)
    write(tmp_path, "g.py", ("a = 1\n" * 5000))
    assert isinstance(read_source(candidate(tmp_path, "f.py"), Config()), Source)
    assert isinstance(read_source(candidate(tmp_path, "g.py"), Config()), Source)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"x = '\xff\xfe caf\xe9'\n", "x = '\ufffd\ufffd caf\ufffd'\n"),  # invalid UTF-8 kept
        ("x = 'é'\n".encode("utf-16"), "x = 'é'\n"),  # UTF-16 with BOM
        ("x = 'é'\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "x = 'é'\n"),
        (b"\xef\xbb\xbfx = '\xc3\xa9'\n", "x = 'é'\n"),  # UTF-8 BOM stripped
        ("x = '😀'\n".encode("utf-32"), "x = '😀'\n"),
        (b"", ""),
    ],
)
def test_read_source_decoding(tmp_path: Path, data: bytes, text: str) -> None:
    write(tmp_path, "f.py", data)
    source = read_source(candidate(tmp_path, "f.py"), Config())
    assert isinstance(source, Source)
    assert source.text == text
    assert source.file_hash == hash_bytes(data)
    assert source.size == len(data)
    assert source.path == "f.py"


def test_read_source_vanished(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    write(tmp_path, "b.py")
    write(tmp_path, "c.py")
    files = {c.path: c for c in walk(tmp_path, Config()).files}
    (tmp_path / "a.py").unlink()
    (tmp_path / "b.py").unlink()
    (tmp_path / "b.py").symlink_to("gone.py")  # replaced by a dangling symlink
    (tmp_path / "c.py").unlink()
    (tmp_path / "c.py").mkdir()  # replaced by a directory
    for rel in ("a.py", "b.py", "c.py"):
        assert read_source(files[rel], Config()) == Skipped(rel, VANISHED)


def test_read_source_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    cand = candidate(tmp_path, "a.py")
    (tmp_path / "a.py").unlink()
    (tmp_path / "a.py").symlink_to("a.py")
    assert read_source(cand, Config()) == Skipped("a.py", SYMLINK_LOOP)


def test_read_source_grew_past_the_limit(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x" * 10)
    cand = candidate(tmp_path, "a.py")
    write(tmp_path, "a.py", "x" * 200)
    assert read_source(cand, Config(max_file_size=100)) == Skipped("a.py", TOO_LARGE)


def test_read_source_unreadable_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads through chmod 000; the OSError path is covered below")
    p = write(tmp_path, "a.py")
    cand = candidate(tmp_path, "a.py")
    p.chmod(0)
    try:
        assert read_source(cand, Config()) == Skipped("a.py", UNREADABLE)
    finally:
        p.chmod(0o644)


@pytest.mark.parametrize("where", ["open", "read"])
def test_read_source_unreadable_oserror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    write(tmp_path, "a.py")
    cand = candidate(tmp_path, "a.py")

    def fail(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied") if where == "open" else OSError(5, "EIO")

    monkeypatch.setattr(os, where, fail)
    assert read_source(cand, Config()) == Skipped("a.py", UNREADABLE)


def test_read_source_never_raises_on_odd_candidates(tmp_path: Path) -> None:
    cands = [
        Candidate("nope.py", tmp_path / "nope.py", 0, 0),
        Candidate("dev", Path("/dev/null"), 0, 0),
        Candidate("x", tmp_path, 0, 0),
    ]
    results = [read_source(c, Config()) for c in cands]
    assert all(isinstance(r, Skipped) and r.reason in SKIP_REASONS for r in results)


# --- names, depth, determinism ------------------------------------------------------------


def test_odd_names_and_deep_trees(tmp_path: Path) -> None:
    names = ["name with spaces.py", "new\nline.py", "ünïcode.py", "日本語/ファイル.py"]
    deep = "/".join(f"level{i}" for i in range(20)) + "/leaf.py"
    for rel in [*names, deep]:
        write(tmp_path, rel, f"# {rel}\n")
    result = walk(tmp_path, Config())
    assert [c.path for c in result.files] == sorted([*names, deep])
    for cand in result.files:
        source = read_source(cand, Config())
        assert isinstance(source, Source) and source.text == f"# {cand.path}\n"
        assert cand.abs_path == tmp_path / cand.path


def test_candidates_carry_stat_data_and_walk_is_deterministic(tmp_path: Path) -> None:
    for i in range(30):
        write(tmp_path, f"d{i % 3}/f{i}.py", "y" * i)
    first = walk(tmp_path, Config())
    second = walk(tmp_path, Config())
    assert first == second
    assert [c.path for c in first.files] == sorted(c.path for c in first.files)
    for cand in first.files:
        st = cand.abs_path.stat()
        assert (cand.size, cand.mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_skip_reason_constants() -> None:
    assert set(SKIP_REASONS) == {
        "binary",
        "too_large",
        "unreadable",
        "minified",
        "generated",
        "vanished",
        "symlink_outside",
        "symlink_loop",
        "undecodable",
    }
    assert hash_bytes(b"abc") == hash_bytes(b"abc") != hash_bytes(b"abd")
    assert len(hash_bytes(b"")) == 32
    assert INDEX_DIR_NAME == ".mcp-vector-search"


def test_long_line_probe_agrees_with_splitting() -> None:
    import random

    rng = random.Random(7)
    for _ in range(5000):
        alphabet = rng.choice(["ab\n", "aaaaaab\n", "a\n\n"])
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        limit = rng.randint(1, 15)
        expected = max(map(len, text.split("\n"))) > limit
        assert walker._has_line_longer_than(text, limit) == expected, (text, limit)
