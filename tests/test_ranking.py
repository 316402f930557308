import pytest

from mcp_vector_search import ranking
from mcp_vector_search.store import LexicalHit, StoredChunk


def chunk(
    i: int,
    path: str = "src/a.py",
    symbol: str | None = None,
    kind: str = "function",
    language: str = "python",
    start: int | None = None,
) -> StoredChunk:
    s = start if start is not None else i * 10 + 1
    return StoredChunk(f"id{i}", path, s, s + 5, symbol or f"f{i}", kind, language, f"h{i}")


def _rank(lex, vec, identifier_weight=0.5, **params):  # type: ignore[no-untyped-def]
    return ranking.rank(
        lex,
        vec,
        query="q",
        terms=["q"],
        identifier_weight=identifier_weight,
        params=ranking.Params(**params),
    )


@pytest.mark.parametrize("fusion", ["cc", "rrf"])
def test_fusion_rewards_agreement(fusion: str) -> None:
    a, b, c = chunk(1), chunk(2), chunk(3)
    lex = [LexicalHit(a, 5.0), LexicalHit(b, 4.0), LexicalHit(c, 0.5)]
    vec = [(b, 0.9), (c, 0.8), (a, 0.1)]
    fused = _rank(lex, vec, fusion=fusion, file_weight=0.0, lex_slope=0, vec_slope=0, vec_base=0.6)
    assert fused[0].chunk.id == "id2"
    assert {s.chunk.id for s in fused} == {"id1", "id2", "id3"}


@pytest.mark.parametrize("fusion", ["cc", "rrf"])
def test_identifier_queries_lean_lexical(fusion: str) -> None:
    a, b = chunk(1), chunk(2)
    lex, vec = [LexicalHit(a, 1.0), LexicalHit(b, 0.2)], [(b, 0.9), (a, 0.3)]
    assert _rank(lex, vec, 1.0, fusion=fusion)[0].chunk.id == "id1"
    assert _rank(lex, vec, 0.0, fusion=fusion)[0].chunk.id == "id2"


def test_definition_of_named_symbol_beats_mentions() -> None:
    mention = ranking.Scored(chunk(1, symbol="caller"), 1.0)
    definition = ranking.Scored(chunk(2, symbol="Client.send_request"), 0.8)
    out = ranking.apply_boosts(
        [mention, definition], "send_request", ["send_request", "send", "request"]
    )
    assert max(out, key=lambda s: s.score).chunk.id == "id2"


def test_docs_and_tests_step_back_unless_asked() -> None:
    code = ranking.Scored(chunk(1), 1.0)
    doc = ranking.Scored(chunk(2, path="docs/guide.md", kind="section", language="markdown"), 1.0)
    test = ranking.Scored(chunk(3, path="tests/test_a.py"), 1.0)
    out = {
        s.chunk.id: s.score
        for s in ranking.apply_boosts([code, doc, test], "retry upload", ["retry", "upload"])
    }
    assert out["id1"] > out["id2"] and out["id1"] > out["id3"]
    asked = {
        s.chunk.id: s.score
        for s in ranking.apply_boosts([code, doc], "retry docs", ["retry", "docs"])
    }
    assert asked["id2"] == asked["id1"]


def test_file_coherence_lifts_files_with_several_hits() -> None:
    lone = ranking.Scored(chunk(1, path="a.py"), 1.0)
    team = [ranking.Scored(chunk(i, path="b.py"), 0.95) for i in range(2, 5)]
    out = ranking.file_coherence([lone, *team])
    assert max(out, key=lambda s: s.score).chunk.path == "b.py"


def test_dedupe_keeps_one_result_per_span_and_per_split_definition() -> None:
    a = chunk(1, symbol="big", start=1)
    a2 = StoredChunk("id1b", a.path, 30, 60, "big", "function", "python", "x")
    dup = StoredChunk("id1c", a.path, a.start_line, a.end_line, "other", "function", "python", "y")
    out = ranking.dedupe(
        [ranking.Scored(a, 1.0), ranking.Scored(a2, 0.9), ranking.Scored(dup, 0.5)]
    )
    assert [s.chunk.id for s in out] == ["id1"]


@pytest.mark.parametrize("fusion", ["cc", "rrf"])
def test_file_evidence_credits_a_file_that_each_list_ranks_first_through_another_chunk(
    fusion: str,
) -> None:
    # The pattern seen on outside benchmarks: the target file is first in both lists, via
    # its module chunk lexically and a method semantically, while a test file's chunk
    # sits second in both lists. Per-chunk fusion lets the test chunk win.
    module = chunk(1, path="src/retry.py", kind="module", symbol=None)
    method = chunk(2, path="src/retry.py", symbol="Retry.backoff")
    test = chunk(3, path="tests/test_retry.py", symbol="test_backoff")
    other = chunk(4, path="src/other.py")
    lex = [LexicalHit(module, 9.0), LexicalHit(test, 5.0), LexicalHit(other, 1.0)]
    vec = [(method, 0.8), (test, 0.6), (other, 0.1)]
    common = {"fusion": fusion, "file_k": 5, "test_penalty": 1.0, "coherence": 0.0}
    args = {"query": "backoff between tries", "terms": ["backoff", "tries"]}
    flat = ranking.rank(
        lex, vec, identifier_weight=0.0, params=ranking.Params(file_weight=0.0, **common), **args
    )
    assert flat[0].chunk.path == "tests/test_retry.py"
    fused = ranking.rank(
        lex, vec, identifier_weight=0.0, params=ranking.Params(file_weight=1.0, **common), **args
    )
    assert fused[0].chunk.path == "src/retry.py"


def test_file_evidence_counts_each_list_once_per_file() -> None:
    a1, a2, b = chunk(1, path="a.py"), chunk(2, path="a.py"), chunk(3, path="b.py")
    lists = [([(a1, 1.0), (a2, 0.9), (b, 0.5)], [0.3, 0.2, 0.1])]
    assert ranking.file_evidence(lists) == {"a.py": 0.3, "b.py": 0.1}


def test_the_test_penalty_holds_against_accumulated_evidence() -> None:
    code = chunk(1, path="src/a.py")
    tests = [chunk(i, path="tests/test_a.py") for i in range(2, 6)]
    filler = chunk(9, path="src/z.py")
    lex = [LexicalHit(c, 9.0 - i) for i, c in enumerate([*tests, code, filler])]
    vec = [(c, 0.9 - i / 100) for i, c in enumerate([*tests, code, filler])]
    vec[-1] = (filler, 0.1)
    lex[-1] = LexicalHit(filler, 0.1)
    params = ranking.Params(file_weight=1.0, test_penalty=0.3)
    out = ranking.rank(
        lex, vec, query="parse a", terms=["parse"], identifier_weight=0.0, params=params
    )
    assert out[0].chunk.path == "src/a.py"
    asked = ranking.rank(
        lex,
        vec,
        query="tests that parse a",
        terms=["tests", "parse"],
        identifier_weight=0.0,
        params=params,
    )
    assert asked[0].chunk.path == "tests/test_a.py"


def test_the_signal_list_lifts_what_it_ranks() -> None:
    a, b = chunk(1, path="a.py"), chunk(2, path="b.py")
    lex = [LexicalHit(a, 5.0), LexicalHit(b, 4.9)]
    args = {"query": "q", "terms": ["q"], "identifier_weight": 0.5}
    base = ranking.rank(lex, [], **args, params=ranking.Params(signal_weight=1.0))
    assert base[0].chunk.id == "id1"
    lifted = ranking.rank(
        lex, [], **args, signal=[LexicalHit(b, 3.0)], params=ranking.Params(signal_weight=1.0)
    )
    assert lifted[0].chunk.id == "id2"


def test_convex_combination_follows_score_gaps() -> None:
    a, b, c = chunk(1), chunk(2), chunk(3)
    # Lexically a is far ahead; semantically b is barely ahead of a.
    lex = [LexicalHit(a, 10.0), LexicalHit(b, 1.0), LexicalHit(c, 0.9)]
    vec = [(b, 0.61), (a, 0.60), (c, 0.2)]
    params = ranking.Params(fusion="cc", file_weight=0.0, coherence=0.0)
    out = ranking.rank(
        lex, vec, query="x y", terms=["x", "y"], identifier_weight=0.0, params=params
    )
    assert out[0].chunk.id == "id1"


def test_examples_and_generated_code_step_back() -> None:
    code = chunk(1, path="src/a.py")
    example = chunk(2, path="examples/a.py")
    generated = chunk(3, path="src/a_pb2.py")
    lex = [
        LexicalHit(example, 3.0),
        LexicalHit(generated, 2.9),
        LexicalHit(code, 2.8),
        LexicalHit(chunk(4, path="src/z.py"), 0.1),
    ]
    params = ranking.Params(example_penalty=0.5, generated_penalty=0.5)
    out = ranking.rank(lex, [], query="a b", terms=["a", "b"], identifier_weight=0.5, params=params)
    assert out[0].chunk.path == "src/a.py"
    asked = ranking.rank(
        lex, [], query="an example of a", terms=["example"], identifier_weight=0.5, params=params
    )
    assert asked[0].chunk.path == "examples/a.py"
