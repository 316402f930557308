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


def test_rrf_rewards_agreement() -> None:
    a, b, c = chunk(1), chunk(2), chunk(3)
    lex = [LexicalHit(a, 5.0), LexicalHit(b, 4.0)]
    vec = [(b, 0.9), (c, 0.8)]
    fused = ranking.fuse(lex, vec, identifier_weight=0.5)
    assert next(s.chunk.id for s in fused) == "id2"
    assert {s.chunk.id for s in fused} == {"id1", "id2", "id3"}


def test_identifier_queries_lean_lexical() -> None:
    a, b = chunk(1), chunk(2)
    lex, vec = [LexicalHit(a, 1.0)], [(b, 0.9)]
    assert ranking.fuse(lex, vec, identifier_weight=1.0)[0].chunk.id == "id1"
    assert ranking.fuse(lex, vec, identifier_weight=0.0)[0].chunk.id == "id2"


def test_scores_are_not_rescaled_to_one() -> None:
    fused = ranking.fuse([LexicalHit(chunk(1), 3.0)], [], identifier_weight=0.5)
    assert fused[0].score < 1.0


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
