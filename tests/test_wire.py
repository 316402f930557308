"""wire: records to JSON and back, and errors that keep their type across a socket."""

from __future__ import annotations

import json

import pytest

from mcp_vector_search.answers import SearchAnswer
from mcp_vector_search.errors import (
    IndexNotFoundError,
    Interrupted,
    MVSError,
    StoreError,
    UsageError,
)
from mcp_vector_search.records import Hit, IndexCounts, IndexStatus, SearchResult
from mcp_vector_search.wire import error_data, error_from_data, from_data, to_data, to_json


def sample() -> SearchResult:
    hits = [
        Hit("src/a.py", 3, 9, "Client.send", "method", "python", 0.5, "def send(self):"),
        Hit("web/ü.js", 1, 2, None, "window", "javascript", 1.0, "x"),
    ]
    return SearchResult("send", hits, IndexCounts(10, 7), "hybrid", ["a note"])


def test_search_result_json_is_the_stable_interface() -> None:
    data = json.loads(to_json(sample()))
    assert list(data) == ["query", "results", "index", "mode", "notes"]
    # The hit fields themselves are pinned by test_cli's stable-interface test.
    assert data["results"][0]["symbol"] == "Client.send"
    assert data["index"] == {"chunks": 10, "embedded": 7}
    assert "ü" in to_json(sample())  # UTF-8 as is, not \\u escapes


def test_round_trip_rebuilds_equal_records() -> None:
    result = sample()
    assert from_data(SearchResult, json.loads(to_json(result))) == result
    status = IndexStatus("/p", "/p/.idx", 3, 9, 9, {"binary": 2}, "m", 384, 10, None, 0, 1)
    assert from_data(IndexStatus, to_data(status)) == status
    # An integral float written as an int still reads back as a float.
    data = to_data(result)
    data["results"][1]["score"] = 1
    again = from_data(SearchResult, data)
    assert again.results[1].score == 1.0 and isinstance(again.results[1].score, float)


def test_wrong_shapes_are_value_errors() -> None:
    data = to_data(sample())
    with pytest.raises(ValueError):
        from_data(SearchResult, {**data, "results": {}})
    with pytest.raises(ValueError):
        from_data(SearchResult, {k: v for k, v in data.items() if k != "index"})
    bad_hit = {**data["results"][0], "start_line": "3"}
    with pytest.raises(ValueError):
        from_data(SearchResult, {**data, "results": [bad_hit]})


def test_answers_nest_the_same_hit_record() -> None:
    result = sample()
    answer = SearchAnswer(result.query, result.mode, result.results, _coverage())
    assert to_data(answer)["results"] == to_data(result)["results"]


def _coverage():  # type: ignore[no-untyped-def]
    from mcp_vector_search.answers import Coverage

    return Coverage(10, 7, False, "embed 70%")


@pytest.mark.parametrize(
    "exc",
    [
        UsageError("the query is empty"),
        IndexNotFoundError("no index for /p"),
        StoreError("table gone", hint="run index --force"),
        Interrupted("stopped", signum=15),
    ],
)
def test_errors_keep_type_message_hint_and_exit_code(exc: MVSError) -> None:
    back = error_from_data(json.loads(json.dumps(error_data(exc))))
    assert type(back) is type(exc)
    assert (str(back), back.hint, back.exit_code) == (str(exc), exc.hint, exc.exit_code)


def test_foreign_and_unknown_errors_become_internal_errors() -> None:
    back = error_from_data(error_data(KeyError("op")))
    assert type(back) is MVSError and back.exit_code == 1 and "KeyError" in str(back)
    unknown = error_from_data({"type": "NoSuchError", "message": "m", "exit_code": 9})
    assert type(unknown) is MVSError and unknown.exit_code == 9
