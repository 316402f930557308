"""Pattern semantics of ignore.py, checked against git itself wherever git is the spec."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcp_vector_search.ignore import PatternSet, compile_rule, match_rules, parse_rules
from tests.walker.helpers import git_env, git_files, needs_git, walk_paths


def git_init(repo: Path, home: Path) -> None:
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=git_env(home))


# Names chosen to stress the pattern language; none collides with a built-in exclude.
TREE = [
    "a.py",
    "a.txt",
    "b.py",
    "ab.py",
    ".hidden",
    "foo.py",
    "foo/bar.py",
    "foo/baz/qux.py",
    "foo/baz/foo",
    "foox/bar/qux.py",
    "sub/foo/x.py",
    "sub/a.py",
    "sub/deep/er/a.py",
    "sub/deep/er/b.txt",
    "a/b/c.txt",
    "a/x/b/c.txt",
    "a/x/y/b/c.txt",
    "a/bb.txt",
    "doc/README.md",
    "doc/api/index.md",
    "doc/api/v1/ref.md",
    "sp ace.txt",
    "tr ailing ",
    "#hash.txt",
    "!bang.txt",
    "star*.txt",
    "q?.txt",
    "[br].txt",
    "back\\slash.txt",
    "é.txt",
    "日本.txt",
    "x.txt",
    "abc/f",
    "abd/f",
    "aXc/f",
    "a1c/f",
    "a-c/f",
    "a]c/f",
    "a^c/f",
    "tab\t.txt",
]

PATTERNS = [
    "*.py",
    "/a.py",
    "a.py",
    "foo",
    "foo/",
    "/foo",
    "/foo/",
    "foo/*",
    "foo/**",
    "foo/**\n!foo/bar.py",
    "foo/\n!foo/bar.py",
    "foo/*\n!foo/baz/",
    "**/foo",
    "**/foo/",
    "**/foo/*.py",
    "a/**/c.txt",
    "a/**/b/",
    "a/***/c.txt",
    "***/c.txt",
    "a/b/",
    "b/",
    "x/b",
    "sub/**/b.txt",
    "deep/",
    "er/a.py",
    "sub/deep",
    "foo**/qux.py",
    "fo**/qux.py",
    "**",
    "*",
    "*/",
    "*\n!*/\n!*.py",
    "*.py\n!a.py",
    "*.py\n!/a.py",
    "!a.py\n*.py",
    "?.py",
    "??.py",
    "?.txt",
    "??.txt",
    "[ab].py",
    "[!a].py",
    "[^a].py",
    "[a-c]*",
    "[c-a]*",
    "a[!b]c/",
    "a[]]c/",
    "a[-]c/",
    "a[x-]c/",
    "a[[:digit:]]c/",
    "a[[:upper:]]c/",
    "a[[:alpha:][:digit:]]c/",
    "a[[:bogus:]]c/",
    "a[[:alpha]c/",
    "a[\\^]c/",
    "[[:space:]]*",
    "\\#hash.txt",
    "#hash.txt",
    "\\!bang.txt",
    "!bang.txt",
    "sp ace.txt",
    "sp?ace.txt",
    "tr ailing\\ ",
    "tr ailing ",
    "tr ailing",
    "star\\*.txt",
    "star*",
    "q\\?.txt",
    "\\[br\\].txt",
    "[br].txt",
    "back\\\\slash.txt",
    "back\\slash.txt",
    "x.txt\\",
    "[abc",
    "doc/api",
    "doc/*.md",
    "doc/**/*.md",
    "doc/**",
    "/doc/**/",
    "doc/*/",
    "*.md\n!doc/api/*.md",
    "**/api/**",
    "tab\t.txt",
    "tab?.txt",
    ".*",
    "/",
    "!",
    "   ",
    "a.txt\n!a.txt\na.txt",
    "foo/baz\n!foo/baz/qux.py",
    "*.txt\n!*/\n!sub/**",
]


@pytest.fixture(scope="module")
def pattern_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("patterns")
    home = base / "home"
    home.mkdir()
    repo = base / "repo"
    repo.mkdir()
    git_init(repo, home)
    for rel in TREE:
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x\n")
    return repo, home


@needs_git
@pytest.mark.parametrize("pattern", PATTERNS)
def test_single_gitignore_matches_git(pattern_repo: tuple[Path, Path], pattern: str) -> None:
    repo, home = pattern_repo
    (repo / ".gitignore").write_text(pattern + "\n")
    assert walk_paths(repo) == git_files(repo, home)


@needs_git
@pytest.mark.parametrize("pattern", ["*.py", "foo/\n!foo/bar.py", "[a-c]*", "doc/**/*.md"])
def test_subdirectory_gitignore_matches_git(pattern_repo: tuple[Path, Path], pattern: str) -> None:
    # The same patterns, relative to a subdirectory's .gitignore.
    repo, home = pattern_repo
    (repo / ".gitignore").write_text("")
    try:
        (repo / "sub" / ".gitignore").write_text(pattern + "\n")
        assert walk_paths(repo) == git_files(repo, home)
    finally:
        (repo / "sub" / ".gitignore").unlink()


def test_crlf_bom_and_trailing_spaces_are_read_like_git() -> None:
    rules = parse_rules(b"\xef\xbb\xbf*.bak\r\n# c\r\nkeep \r\n\r\nsp\\ \n")
    assert [r.pattern for r in rules] == ["*.bak", "keep", "sp\\ "]


def test_rule_kinds_and_noops() -> None:
    assert compile_rule("") is None
    assert compile_rule("# comment") is None
    assert compile_rule("!") is None
    assert compile_rule("/") is None
    assert compile_rule("[abc") is None  # unclosed class: git never matches it
    assert compile_rule("x\\") is None  # trailing backslash: never matches either
    rule = compile_rule("!build/")
    assert rule is not None and rule.negated and rule.dir_only


def test_match_rules_last_line_wins() -> None:
    rules = list(reversed(parse_rules(b"*.log\n!keep.log\n")))
    assert match_rules(rules, b"a.log", b"a.log", False).negated is False  # type: ignore[union-attr]
    assert match_rules(rules, b"keep.log", b"keep.log", False).negated is True  # type: ignore[union-attr]
    assert match_rules(rules, b"a.py", b"a.py", False) is None


def test_dir_only_rule_needs_a_directory() -> None:
    rules = parse_rules(b"out/\n")
    assert match_rules(rules, b"out", b"out", True) is not None
    assert match_rules(rules, b"out", b"out", False) is None


def test_question_mark_matches_one_byte_like_git() -> None:
    # "é" is two bytes in UTF-8; git's wildmatch works on bytes.
    assert match_rules(parse_rules([b"??.txt"]), "é.txt".encode(), "é.txt".encode(), False)
    assert not match_rules(parse_rules([b"?.txt"]), "é.txt".encode(), "é.txt".encode(), False)


def test_pattern_set_parent_directory_semantics() -> None:
    spec = PatternSet(["tests/", "!tests/keep.py"])
    assert spec.ignores("tests/a.py")
    assert spec.ignores("tests/keep.py")  # inside an excluded directory: no way back
    assert not spec.ignores("src/tests.py")
    only_contents = PatternSet(["tests/**", "!tests/keep.py"])
    assert only_contents.ignores("tests/a.py")
    assert not only_contents.ignores("tests/keep.py")
    assert not PatternSet([])


def test_pattern_set_decide_reports_the_rule() -> None:
    spec = PatternSet(["*.py", "!setup.py"])
    rule = spec.decide(b"pkg/setup.py", False)
    assert rule is not None and rule.negated and rule.pattern == "!setup.py"
