"""walk() per skip reason and symlink case; the single-path checks agree with it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mcp_vector_search.config import Config
from mcp_vector_search.errors import UsageError
from mcp_vector_search.walker import (
    BINARY,
    SYMLINK_LOOP,
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    UNDECODABLE,
    UNREADABLE,
    Candidate,
    Skipped,
    Source,
    candidate_for,
    is_ignored,
    read_source,
    walk,
)
from tests.walker.helpers import (
    check_single_path_parity,
    skips,
    write,
)


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
    # Decided by its name before its target: the two old implementations disagreed here.
    (root / "logo.png").symlink_to("nowhere.png")
    result = walk(root, Config())
    assert [c.path for c in result.files] == [
        ".gitignore",
        "file_link.py",
        "real/a.py",
        "via_link/b.py",
    ]
    assert skips(result) == {
        "dangling.py": UNREADABLE,
        "logo.png": BINARY,
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
