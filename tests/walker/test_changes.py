"""diff(): what a walk means for the index, the one answer indexer, snapshot and status use."""

from __future__ import annotations

from pathlib import Path

from mcp_vector_search.config import Config
from mcp_vector_search.records import INDEXED, FileState
from mcp_vector_search.walker import BINARY, UNREADABLE, diff, walk
from tests.walker.helpers import write


def recorded(root: Path, config: Config) -> dict[str, FileState]:
    """States as a clean run leaves them: every walked file indexed, every skip recorded."""
    walked = walk(root, config)
    states = {c.path: FileState(c.path, "h", c.size, c.mtime_ns, INDEXED) for c in walked.files}
    states.update({s.path: FileState(s.path, "", 0, 0, s.reason) for s in walked.skipped})
    return states


def test_nothing_changed_after_a_clean_run(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    write(tmp_path, "logo.png", b"\x89PNG")
    config = Config()
    changes = diff(recorded(tmp_path, config), walk(tmp_path, config))
    assert changes.count == 0
    assert diff(recorded(tmp_path, config), walk(tmp_path, config), force=True).count == 1


def test_new_moved_skipped_and_deleted(tmp_path: Path) -> None:
    config = Config()
    write(tmp_path, "same.py")
    edited = write(tmp_path, "edited.py")
    write(tmp_path, "gone.py")
    write(tmp_path, "flip.dat")
    states = recorded(tmp_path, config)
    edited.write_text("x = 2  # longer\n")
    (tmp_path / "gone.py").unlink()
    write(tmp_path, "new.py")
    (tmp_path / "flip.dat").unlink()
    write(tmp_path, "flip.png", b"\x89PNG")  # a new path skipped by its name
    changes = diff(states, walk(tmp_path, config))
    assert sorted(c.path for c in changes.changed) == ["edited.py", "new.py"]
    assert [(s.path, s.reason) for s in changes.skipped] == [("flip.png", BINARY)]
    assert sorted(changes.deleted) == [
        "flip.dat",
        "gone.py",
    ]
    assert changes.count == 5


def test_transient_skips_are_read_again_and_content_skips_are_not(tmp_path: Path) -> None:
    config = Config()
    a = write(tmp_path, "a.py")
    b = write(tmp_path, "b.min.js.txt")
    st_a, st_b = a.stat(), b.stat()
    states = {
        # Unreadable last time: retried although nothing moved.
        "a.py": FileState("a.py", "", st_a.st_size, st_a.st_mtime_ns, UNREADABLE),
        # Binary last time (by content): stays skipped until it changes.
        "b.min.js.txt": FileState("b.min.js.txt", "", st_b.st_size, st_b.st_mtime_ns, BINARY),
    }
    changes = diff(states, walk(tmp_path, config))
    assert [c.path for c in changes.changed] == ["a.py"]
    assert changes.skipped == [] and changes.deleted == []
