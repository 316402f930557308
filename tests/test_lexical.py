from mcp_vector_search import lexical


def test_identifiers_split_in_every_spelling() -> None:
    for word in ("parseHttpResponse", "parse_http_response", "ParseHTTPResponse"):
        toks = lexical.tokens(word)
        assert toks[0] == word.lower()
        assert {"parse", "http", "response"} <= set(toks)


def test_acronyms_and_digits() -> None:
    assert lexical.split_identifier("HTTPServer") == ["http", "server"]
    assert lexical.split_identifier("v2Api") == ["v", "2", "api"]


def test_query_terms_drop_stop_words_and_duplicates() -> None:
    assert lexical.query_terms("where do we retry the failed uploads retry") == [
        "retry",
        "failed",
        "uploads",
    ]


def test_absurd_tokens_are_dropped() -> None:
    assert lexical.tokens("x" * 500) == []


def test_document_text_weights_symbol_and_path() -> None:
    doc = lexical.document_text("return 1", "Client.send_request", "src/http/client.py").split()
    assert doc.count("send_request") == 3
    assert "client" in doc and "http" in doc


def test_identifier_weight_separates_prose_from_code() -> None:
    assert lexical.identifier_weight("Limits max_keepalive_connections keepalive_expiry") > 0.6
    assert lexical.identifier_weight("where do we retry failed uploads") == 0.0
    assert lexical.identifier_weight("parseConfig") == 1.0
    assert lexical.identifier_weight("") == 0.0
