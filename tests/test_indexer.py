from pathlib import Path

import pytest

from mcp_vector_search.cancel import StopToken
from mcp_vector_search.config import load_config
from mcp_vector_search.embedding.fake import FakeEmbedder
from mcp_vector_search.errors import Interrupted
from mcp_vector_search.indexer import Indexer
from mcp_vector_search.store.lancedb import open_store


def make(root: Path, stop: StopToken | None = None, index_dir: Path | None = None):  # type: ignore[no-untyped-def]
    config = load_config(root, env={}, user_config=root / "no-user-config.toml")
    embedder = FakeEmbedder()
    store = open_store(
        index_dir or config.index_path(root),
        model_id=embedder.model_id,
        dimensions=embedder.dimensions,
        writable=True,
    )
    return Indexer(root, config, store, lambda: embedder, stop=stop), store


def snapshot(store) -> set[tuple[str, int, int, str]]:  # type: ignore[no-untyped-def]
    return {(c.path, c.start_line, c.end_line, c.embed_hash) for c in store.chunk_catalog()}


def test_first_run_indexes_code_and_honours_gitignore(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    report = indexer.run()
    paths = {c.path for c in store.chunk_catalog()}
    assert "src/app/uploads.py" in paths and "web/cart.js" in paths
    assert "build/gen.py" not in paths and "debug.log" not in paths
    assert report.chunks_total == report.embedded_total > 0
    symbols = {c.symbol for c in store.chunk_catalog()}
    assert "Uploader.upload_with_retry" in symbols


def test_noop_rerun_touches_nothing(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    indexer.run()
    before = store.version()
    report = indexer.run()
    assert report.files_changed == 0 and report.chunks_written == 0 and report.vectors_added == 0
    assert store.version()[:2] == before[:2]


def test_edit_reembeds_only_changed_chunks(sample_project: Path) -> None:
    indexer, _store = make(sample_project)
    first = indexer.run()
    target = sample_project / "src/app/uploads.py"
    target.write_text(target.read_text().replace("Remove a stored file.", "Delete a stored file."))
    report = indexer.run()
    assert report.files_changed == 1
    assert 0 < report.vectors_added < first.vectors_added
    assert report.embedded_total == report.chunks_total


def test_deleted_file_leaves_no_chunks(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    indexer.run()
    (sample_project / "web/cart.js").unlink()
    report = indexer.run()
    assert report.files_deleted == 1
    assert all(c.path != "web/cart.js" for c in store.chunk_catalog())


def test_lexical_first_then_vectors(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    report = indexer.run(embed=False)
    assert report.chunks_total > 0 and report.embedded_total == 0
    assert store.lexical_search(["upload"], 5)
    indexer.embed_pending()
    assert store.counts()[2] == store.counts()[1]


def test_interrupted_run_commits_and_rerun_converges(sample_project: Path, tmp_path: Path) -> None:
    stop = StopToken()
    stop.request(2)
    indexer, _store = make(sample_project, stop)
    with pytest.raises(Interrupted) as info:
        indexer.run()
    assert info.value.exit_code == 130
    resumed, store2 = make(sample_project)
    resumed.run()
    clean, clean_store = make(sample_project, index_dir=tmp_path / "clean")
    clean.run()
    assert snapshot(store2) == snapshot(clean_store)
    assert store2.counts() == clean_store.counts()


def test_update_paths_handles_edit_create_delete(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    indexer.run()
    (sample_project / "src/app/new_mod.py").write_text("def brand_new_helper():\n    return 42\n")
    (sample_project / "web/cart.js").unlink()
    indexer.update_paths(["src/app/new_mod.py", "web/cart.js", "debug.log"])
    paths = {c.path for c in store.chunk_catalog()}
    assert "src/app/new_mod.py" in paths and "web/cart.js" not in paths
    assert "debug.log" not in paths


def test_update_paths_takes_directories_whole(sample_project: Path) -> None:
    indexer, store = make(sample_project)
    indexer.run()
    # A directory moved in: its files predate any event, and its ignored parts stay out.
    moved = sample_project / "src/moved"
    (moved / "node_modules").mkdir(parents=True)
    (moved / "a.py").write_text("def moved_in_helper():\n    return 1\n")
    (moved / "node_modules" / "dep.js").write_text("function dep() {}\n")
    report = indexer.update_paths(["src/moved"], totals=False)
    paths = {c.path for c in store.chunk_catalog()}
    assert "src/moved/a.py" in paths and "src/moved/node_modules/dep.js" not in paths
    assert report.files_changed == 1 and report.files_total == 0  # no full-table counts
    # A removed directory reports only itself: what was indexed below it goes too.
    (moved / "a.py").unlink()
    (moved / "node_modules" / "dep.js").unlink()
    (moved / "node_modules").rmdir()
    moved.rmdir()
    report = indexer.update_paths(["src/moved"])
    assert report.files_deleted == 1 and report.files_total > 0
    assert not any(c.path.startswith("src/moved/") for c in store.chunk_catalog())


def test_noop_rerun_does_not_reread_skipped_binaries(sample_project: Path) -> None:
    (sample_project / "blob.dat").write_bytes(b"\x00\x01binary" * 100)
    indexer, _store = make(sample_project)
    first = indexer.run()
    assert first.skipped.get("binary") == 1
    again = indexer.run()
    assert again.files_skipped == 0 and again.skipped.get("binary") == 1
    (sample_project / "blob.dat").write_text("now it is text about uploads\n")
    third = indexer.run()
    assert third.files_changed == 1 and "binary" not in third.skipped
