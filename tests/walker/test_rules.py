"""Which paths count: git as the oracle for ignore rules; built-in excludes; settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_vector_search.config import Config
from mcp_vector_search.walker import (
    Source,
    is_ignored,
    read_source,
    walk,
)
from tests.walker.helpers import (
    BUILTIN_IGNORED,
    BUILTIN_SKIPPED,
    build_rich_tree,
    check_single_path_parity,
    git,
    git_files,
    needs_git,
    skips,
    walk_paths,
    write,
)


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
