from pathlib import Path

import pytest

from mcp_vector_search.errors import UsageError
from mcp_vector_search.search import Searcher, find_symbol, path_matches
from tests.test_indexer import make


@pytest.fixture
def searcher(sample_project: Path) -> Searcher:
    indexer, store = make(sample_project)
    indexer.run()
    return Searcher(store, indexer._embedder)


def test_hybrid_finds_the_definition(searcher: Searcher) -> None:
    result = searcher.search("retry a failed upload with backoff")
    assert result.results[0].symbol == "Uploader.upload_with_retry"
    assert result.results[0].path == "src/app/uploads.py"
    assert result.index.embedded == result.index.chunks > 0


def test_identifier_query_finds_exact_definition(searcher: Searcher) -> None:
    for mode in ("hybrid", "lexical"):
        top = searcher.search("parse_http_response", mode=mode).results[0]
        assert top.symbol == "parse_http_response"


def test_filters(searcher: Searcher) -> None:
    js = searcher.search("total price", language="javascript").results
    assert js and all(h.language == "javascript" for h in js)
    docs = searcher.search("uploads retried", path_glob="docs/*").results
    assert docs and all(h.path.startswith("docs/") for h in docs)
    assert searcher.search("uploads", path_glob="nowhere/**").results == []


def test_no_two_results_for_one_span(searcher: Searcher) -> None:
    hits = searcher.search("upload", limit=50).results
    spans = [(h.path, h.start_line, h.end_line) for h in hits]
    assert len(spans) == len(set(spans))


def test_bad_queries_get_clear_answers(searcher: Searcher) -> None:
    with pytest.raises(UsageError):
        searcher.search("   ")
    with pytest.raises(UsageError):
        searcher.search("upload", mode="psychic")
    long = searcher.search("upload " * 2000)
    assert long.results and any("truncated" in n for n in long.notes)


def test_find_symbol_exact_then_close(searcher: Searcher) -> None:
    catalog = searcher._store.chunk_catalog()
    exact = find_symbol(catalog, "upload_with_retry")
    assert exact[0][0].symbol == "Uploader.upload_with_retry" and exact[0][1] == "exact"
    close = find_symbol(catalog, "upload_with_retri")
    assert close and close[0][0].symbol == "Uploader.upload_with_retry"
    assert find_symbol(catalog, "Uploader", kind="class")[0][0].kind == "class"


def test_path_matches() -> None:
    assert path_matches("src/app/x.py", "src/**")
    assert path_matches("src/app/x.py", "*.py")
    assert path_matches("src/app/x.py", "src/app")
    assert not path_matches("src/app/x.py", "web/*")


def test_a_long_bug_report_keeps_its_identifiers(searcher: Searcher) -> None:
    # Sixty words of prose push the one identifier past the lexical term budget; it
    # must still reach the lexical query (signal terms go first when a query is cut).
    prose = " ".join(f"word{i}" for i in range(60))
    report = f"Crash on startup. {prose} and then parse_http_response raised ValueError."
    top = searcher.search(report, mode="lexical").results
    assert top and top[0].symbol == "parse_http_response"


def test_a_hit_on_a_later_piece_shows_its_definitions_signature(searcher: Searcher) -> None:
    hits = searcher.search("upload", limit=50).results
    assert hits
    for h in hits:
        if h.symbol and h.kind not in ("module", "section", "window"):
            first = h.snippet.splitlines()[0]
            name = h.symbol.replace("::", ".").rsplit(".", 1)[-1]
            assert name in first or first.lstrip().startswith(("@", "#", "//")), h
