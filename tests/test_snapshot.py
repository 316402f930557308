import os
import subprocess
import sys
from pathlib import Path

from mcp_vector_search import snapshot
from mcp_vector_search.config import load_config
from tests.test_indexer import make


def test_clean_run_is_recognised_until_anything_changes(sample_project: Path) -> None:
    indexer, _store = make(sample_project)
    report = indexer.run()
    config = load_config(sample_project, env={}, user_config=sample_project / "none.toml")
    summary = snapshot.unchanged(sample_project, config)
    assert summary is not None and summary["chunks_total"] == report.chunks_total
    target = sample_project / "src/app/config.py"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert snapshot.unchanged(sample_project, config) is None
    indexer.run()
    assert snapshot.unchanged(sample_project, config) is not None
    (sample_project / "web/cart.js").unlink()
    assert snapshot.unchanged(sample_project, config) is None
    indexer.run()
    (sample_project / "new.py").write_text("def added():\n    pass\n")
    assert snapshot.unchanged(sample_project, config) is None


def test_an_unfinished_run_leaves_no_snapshot(sample_project: Path) -> None:
    indexer, _store = make(sample_project)
    indexer.run(embed=False)
    config = load_config(sample_project, env={}, user_config=sample_project / "none.toml")
    assert snapshot.unchanged(sample_project, config) is None
    indexer.run()
    assert snapshot.unchanged(sample_project, config) is not None
    indexer.update_paths(["src/app/config.py"])
    assert snapshot.unchanged(sample_project, config) is None


def test_noop_index_command_skips_the_engine(sample_project: Path, fake_env: None) -> None:
    env = {**os.environ}
    first = subprocess.run(
        [sys.executable, "-m", "mcp_vector_search", "index", str(sample_project), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    code = (
        "import sys; from mcp_vector_search.cli import run; "
        f"code = run(['index', {str(sample_project)!r}]); "
        "print('CODE', code, 'ENGINE', 'lancedb' in sys.modules)"
    )
    again = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "CODE 0 ENGINE False" in again.stdout, again.stderr
    assert "Up to date" in again.stderr
