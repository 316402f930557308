from mcp_vector_search.snippets import SNIPPET_LINES, make_snippet, signature

DEF = '''@decorator
def send_request(self, method,
                 url, *, timeout=None):
    """Send it."""
    a = 1
    b = 2
    retries = self.retries
    for attempt in range(retries):
        c = 3
    return timeout
'''


def test_signature_skips_decorators_and_stops_at_the_header() -> None:
    assert signature(DEF) == [
        "def send_request(self, method,",
        "                 url, *, timeout=None):",
    ]
    assert signature("function f(a, b) {\n  return a;\n}") == ["function f(a, b) {"]


def test_matched_lines_follow_the_signature() -> None:
    out = make_snippet(DEF, ["retries", "attempt"]).splitlines()
    assert out[0].startswith("def send_request")
    assert "…" in out
    assert out[-2:] == ["    retries = self.retries", "    for attempt in range(retries):"]
    assert "    a = 1" not in out


def test_a_piece_of_a_split_definition_shows_the_definitions_signature() -> None:
    piece = "        x = 1\n        y = compute_timeout(url)\n        z = 3\n"
    out = make_snippet(piece, ["timeout"], head=DEF).splitlines()
    assert out[:2] == signature(DEF)
    assert out[2] == "…"
    assert out[3].strip() == "y = compute_timeout(url)"


def test_without_matches_the_first_lines_are_shown() -> None:
    out = make_snippet(DEF, ["nothing"]).splitlines()
    assert out[0].startswith("def send_request")
    assert len(out) == SNIPPET_LINES
    assert "…" not in out
