"""Hostile input: every file is indexed or skipped with a counted reason, never an
exception; broken config and odd queries get one clear line.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.crashkit import CLI, bad_markers, cli_env, run_cli

MARKERS = {
    "ok.py": "plain_marker",
    "latin1.py": "latin_marker",
    "utf16.py": "utf16_marker",
    "name with spaces.py": "spaced_marker",
    "new\nline.py": "newline_marker",
    "naïve_café_日本.py": "unicode_marker",
    "quote's.py": "quote_marker",
    "/".join(f"level{i}" for i in range(20)) + "/deep.py": "deep_marker",
}


def hostile_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, marker in MARKERS.items():
        if name not in ("latin1.py", "utf16.py"):
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"def {marker}():\n    return 'found {marker}'\n", encoding="utf-8")
    (root / "latin1.py").write_bytes(b"# caf\xe9\ndef latin_marker():\n    return '\xe8\xff'\n")
    (root / "utf16.py").write_bytes(
        b"\xff\xfe" + "def utf16_marker():\n    return 'sixteen'\n".encode("utf-16-le")
    )
    # Binary, by extension and by content; NUL bytes inside a .py.
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    (root / "blob.dat").write_bytes(bytes((i * 7919) % 256 for i in range(20_000)))
    (root / "nul.py").write_bytes(b"def nul_marker():\n    return '\x00'\n")
    # Too large: a 50 MB file and a 5 MB one-line bundle; minified: a 600 KB one.
    line = b"value = 'padding padding padding padding padding padding padding'\n"
    (root / "huge.py").write_bytes(line * (50 * 1024 * 1024 // len(line)))
    (root / "bundle.js").write_text("var a=" + ";".join(f"f{i}=()=>{i}" for i in range(500_000)))
    (root / "small.js").write_text("var b=" + ";".join(f"g{i}=()=>{i}" for i in range(60_000)))
    # Unreadable: a FIFO (never opened) and a chmod 000 file (root reads it anyway,
    # unless the process runs without CAP_DAC_OVERRIDE, as below).
    os.mkfifo(root / "pipe.py")
    (root / "locked.py").write_text("def locked_marker():\n    return 0\n")
    (root / "locked.py").chmod(0)
    # Symlinks: a loop, a loop through a directory, and two pointing outside the root.
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to("..")
    (root / "outside.txt").symlink_to("/etc/hostname")
    (root / "outside_dir").symlink_to(Path(os.__file__).parent)
    # A name that is not UTF-8, and empty files.
    (root / os.fsdecode(b"bad\xffname.py")).write_text("def badname_marker():\n    pass\n")
    (root / "empty.py").write_text("")
    (root / "empty.md").write_text("")
    (root / "blank.py").write_text("\n\n\n")
    return root


def without_dac_override() -> list[str]:
    """A prefix that runs a command as root but without the capability that lets root
    read any file, so chmod 000 means unreadable here too."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_hostile_corpus_is_indexed_or_skipped_with_reasons(tmp_path: Path) -> None:
    import subprocess

    root = hostile_corpus(tmp_path / "proj")
    env = cli_env(tmp_path / "idx", home=tmp_path)
    prefix = without_dac_override()
    proc = subprocess.run(
        [*prefix, *CLI, "index", str(root), "--quiet", "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not bad_markers(proc.stderr) and not proc.stderr.strip(), proc.stderr
    report = json.loads(proc.stdout)

    unreadable = 2 if prefix else 1  # the FIFO, and locked.py without the capability
    assert report["skipped"] == {
        "binary": 3,  # image.png, blob.dat, nul.py
        "too_large": 2,  # huge.py, bundle.js
        "minified": 1,  # small.js
        "unreadable": unreadable,
        "symlink_loop": 3,  # loop_a, loop_b, sub/up
        "symlink_outside": 2,
        "undecodable": 1,  # bad\xffname.py
    }
    # The markers' files, locked.py when root could read it, and the three empty files.
    assert report["files_total"] == len(MARKERS) + (0 if prefix else 1) + 3
    assert report["embedded_total"] == report["chunks_total"] >= len(MARKERS)

    status = run_cli(env, "--project", str(root), "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["skipped"] == report["skipped"]

    # Every odd name is found under its own path.
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"id": path, "query": m}) + "\n" for path, m in MARKERS.items())
    )
    found = run_cli(
        env, "--project", str(root), "search", "--queries-file", str(queries), "--limit", "1"
    )
    assert found.returncode == 0 and not bad_markers(found.stderr), found.stderr
    answers = [json.loads(line) for line in found.stdout.splitlines()]
    assert {a["id"]: a["results"][0]["path"] for a in answers} == {p: p for p in MARKERS}

    # An empty query is a usage error in one line; a 10,000-character one is answered.
    empty = run_cli(env, "--project", str(root), "search", "  ")
    assert empty.returncode == 2 and not bad_markers(empty.stderr)
    assert empty.stderr.startswith("error: the query is empty")
    long = run_cli(env, "--project", str(root), "search", "unicode_marker " * 700, "--json")
    assert long.returncode == 0 and not bad_markers(long.stderr), long.stderr
    assert json.loads(long.stdout)["results"][0]["path"] == "naïve_café_日本.py"


def test_a_file_that_vanishes_or_changes_between_walk_and_read(
    tmp_path: Path, fake_env: None
) -> None:
    """The walker's list goes stale while the indexer reads; each file still ends up
    indexed as it is now, or skipped as vanished, and the next run agrees."""
    from mcp_vector_search.config import load_config
    from mcp_vector_search.indexer import Indexer, Progress
    from mcp_vector_search.lifecycle import Session

    root = tmp_path / "proj"
    root.mkdir()
    (root / "a_first.py").write_text("def first():\n    return 1\n")
    (root / "z_gone.py").write_text("def gone_marker():\n    return 2\n")
    (root / "z_rewritten.py").write_text("def old_marker():\n    return 3\n")
    config = load_config(root, overrides={"model": "fake"})
    changed: list[bool] = []

    def meddle(p: Progress) -> None:
        # The walk is over and the first file read: now change the rest under it.
        if p.phase == "lexical" and not changed:
            changed.append(True)
            (root / "z_gone.py").unlink()
            (root / "z_rewritten.py").write_text("def new_marker():\n    return 'longer now'\n")

    with Session(root, config) as session:
        session.acquire_writer()
        store = session.store(writable=True)
        report = Indexer(root, config, store, session.embedder, progress=meddle).run()
        assert changed
        assert report.skipped == {"vanished": 1}
        symbols = {c.symbol for c in store.chunk_catalog()}
        assert "new_marker" in symbols and "old_marker" not in symbols
        assert "gone_marker" not in symbols

        again = Indexer(root, config, store, session.embedder).run()
        assert again.files_changed == 0  # what was read is what is recorded
        assert again.files_deleted == 1 and again.skipped == {}


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b'model = "fake"\nmax_file_size = [\n', "invalid TOML"),
        (b'modle = "fake"\n', "unknown key 'modle'"),
        (b'max_file_size = "huge"\n', "max_file_size"),
        (b"\xff\xfe broken", "not UTF-8"),
    ],
)
def test_a_broken_config_file_is_one_line_naming_it(
    tmp_path: Path, content: bytes, complaint: str
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    config = root / ".mcp-vector-search.toml"
    config.write_bytes(content)
    proc = run_cli(cli_env(tmp_path / "idx", home=tmp_path), "index", str(root), timeout=120)
    assert proc.returncode == 2
    assert not bad_markers(proc.stderr)
    first = proc.stderr.splitlines()[0]
    assert str(config) in first and complaint in first, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the error and at most a hint
