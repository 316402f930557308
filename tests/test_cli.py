"""The CLI in-process (fake model via configuration) and, for exit codes, as a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_vector_search.cli import run


@pytest.fixture
def indexed(sample_project: Path, fake_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert run(["index", str(sample_project), "--quiet"]) == 0
    monkeypatch.chdir(sample_project / "src" / "app")  # commands find the index upward
    return sample_project


def test_search_json_is_the_stable_interface(
    indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert run(["search", "retry failed upload", "--json", "--limit", "3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["query"] == "retry failed upload"
    assert set(payload["index"]) >= {"chunks", "embedded"}
    assert 0 < len(payload["results"]) <= 3
    first = payload["results"][0]
    assert set(first) >= {
        "path",
        "start_line",
        "end_line",
        "symbol",
        "kind",
        "language",
        "score",
        "snippet",
    }
    assert first["path"] == "src/app/uploads.py"
    assert isinstance(first["start_line"], int) and isinstance(first["score"], float)


def test_options_before_or_after_query(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["search", "--limit", "2", "cart total", "--language", "javascript"]) == 0
    out = capsys.readouterr().out
    assert "web/cart.js:" in out
    assert run(["search", "cart total", "-l"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(".js")


def test_status_json_fields(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    for key in ("files", "chunks", "embedded"):
        assert isinstance(status[key], int)
    assert status["chunks"] == status["embedded"] > 0
    assert status["stale_files"] == 0


def test_symbol_and_similar(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["symbol", "load_settings", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert res[0]["path"] == "src/app/config.py" and res[0]["match"] == "exact"
    assert run(["similar", "uploads.py", "--json"]) == 2  # relative to the project root, not cwd
    capsys.readouterr()
    assert run(["similar", "src/app/uploads.py", "--line", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]
    assert run(["similar", "../../../etc/passwd"]) == 2


def test_reset(indexed: Path) -> None:
    assert run(["reset", "--yes"]) == 0
    assert not (indexed / ".mcp-vector-search").exists()
    assert run(["status"]) == 3


def test_expected_failures_are_one_line(tmp_path: Path, fake_env: None) -> None:
    env = {**os.environ, "MVS_MODEL": "fake"}
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_vector_search", "search", "anything"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: no index")
    bad = tmp_path / "p"
    bad.mkdir()
    (bad / ".mcp-vector-search.toml").write_text("max_file_size = 'big'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mcp_vector_search", "index", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ".mcp-vector-search.toml" in proc.stderr and "max_file_size" in proc.stderr


def test_help_is_light() -> None:
    code = (
        "import sys; from mcp_vector_search.cli import run; run(['--help']); "
        "mods = ('onnxruntime', 'lancedb', 'torch', 'tree_sitter', 'mcp'); "
        "heavy = [m for m in mods if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    assert "HEAVY []" in out


def test_empty_query_is_a_usage_error(indexed: Path) -> None:
    assert run(["search", ""]) == 2
