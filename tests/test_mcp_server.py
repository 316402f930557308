"""The MCP tools through the SDK's in-process client, over a real index in tmp_path."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from mcp_vector_search.agent_tools import ProjectTools, open_tools
from mcp_vector_search.answers import encode_cursor
from mcp_vector_search.config import load_config
from mcp_vector_search.lock import WriterLock
from mcp_vector_search.mcp_server import build_server

T = TypeVar("T")
TOOLS = {"search_code", "find_symbol", "find_similar", "get_context", "index_status", "reindex"}


def talk(tools: ProjectTools, fn: Callable[[Client], Awaitable[T]]) -> T:
    server = build_server(tools)

    async def main() -> T:
        async with Client(server) as client:
            return await fn(client)

    return anyio.run(main)


def call(tools: ProjectTools, tool: str, /, **args: Any) -> CallToolResult:
    return talk(tools, lambda c: c.call_tool(tool, args))


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    # The text copy is the same answer, compact, for clients that read only text.
    assert json.loads(result.content[0].text) == data  # type: ignore[union-attr]
    return data


def fails(result: CallToolResult) -> str:
    assert result.is_error
    assert result.structured_content is None
    return result.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def tools(sample_project: Path, fake_env: None) -> Iterator[ProjectTools]:
    """A started server over the sample project, indexed (vectors too), not watching."""
    t = open_tools(sample_project, load_config(sample_project), watch=False)
    try:
        assert t.live is not None and t.live.wait_idle(60)
        yield t
    finally:
        t.close()


def test_tools_are_listed_with_schemas_and_guidance(tools: ProjectTools) -> None:
    listed = talk(tools, lambda c: c.list_tools()).tools
    by_name = {t.name: t for t in listed}
    assert set(by_name) == TOOLS
    for tool in listed:
        assert tool.description and "Use it" in tool.description
        if tool.name in ("search_code", "find_symbol", "find_similar"):
            assert "grep" in tool.description
        assert tool.output_schema is not None
    search = by_name["search_code"].input_schema
    assert search["required"] == ["query"]
    assert search["properties"]["mode"]["enum"] == ["hybrid", "semantic", "lexical"]
    assert {"limit", "language", "path_glob", "cursor", "max_chars"} <= set(search["properties"])
    assert "results" in by_name["search_code"].output_schema["properties"]  # type: ignore[index]
    assert by_name["get_context"].input_schema["required"] == ["path", "start_line", "end_line"]
    assert by_name["search_code"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert by_name["reindex"].annotations.read_only_hint is False  # type: ignore[union-attr]


def test_search_code_returns_located_hits(tools: ProjectTools) -> None:
    data = ok(call(tools, "search_code", query="retry a failed upload with backoff"))
    top = data["results"][0]
    assert top["path"] == "src/app/uploads.py"
    assert top["symbol"] == "Uploader.upload_with_retry"
    assert 1 <= top["start_line"] <= top["end_line"]
    assert "upload_with_retry" in top["snippet"]
    assert {"kind", "score", "language"} <= set(top)
    assert data["index"]["complete"] is True
    assert data["index"]["embedded"] == data["index"]["chunks"] > 0


def test_search_code_filters(tools: ProjectTools) -> None:
    js = ok(call(tools, "search_code", query="total price", language="javascript"))["results"]
    assert js and all(h["language"] == "javascript" for h in js)
    docs = ok(call(tools, "search_code", query="uploads", path_glob="docs/*"))["results"]
    assert docs and all(h["path"].startswith("docs/") for h in docs)


def test_search_code_pages_with_an_opaque_cursor(tools: ProjectTools) -> None:
    first = ok(call(tools, "search_code", query="upload", limit=2))
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = ok(call(tools, "search_code", query="upload", limit=2, cursor=first["next_cursor"]))

    def spans(d: dict[str, Any]) -> set[tuple[str, int]]:
        return {(h["path"], h["start_line"]) for h in d["results"]}

    assert second["results"] and not spans(first) & spans(second)
    everything = ok(call(tools, "search_code", query="upload", limit=4))
    assert spans(everything) == spans(first) | spans(second)


def test_search_code_answer_fits_its_budget(tools: ProjectTools) -> None:
    result = call(tools, "search_code", query="upload file storage", limit=50, max_chars=1_000)
    data = ok(result)
    assert len(result.content[0].text) <= 1_000  # type: ignore[union-attr]
    assert data["results"] and data["next_cursor"]
    more = ok(call(tools, "search_code", query="upload file storage", cursor=data["next_cursor"]))
    assert more["results"]


def test_search_code_errors_are_tool_errors(tools: ProjectTools) -> None:
    fails(call(tools, "search_code", query="   "))
    fails(call(tools, "search_code", query="upload", cursor="not-a-cursor"))
    fails(call(tools, "search_code", query="upload", limit=0))
    fails(call(tools, "search_code", query="upload", mode="psychic"))
    first = ok(call(tools, "search_code", query="upload", limit=1))
    fails(call(tools, "search_code", query="another query", cursor=first["next_cursor"]))
    forged = encode_cursor({"q": "upload", "o": -5, "n": 1, "m": "hybrid"})
    fails(call(tools, "search_code", query="upload", cursor=forged))


def test_find_symbol_exact_first_then_close(tools: ProjectTools) -> None:
    exact = ok(call(tools, "find_symbol", name="upload_with_retry"))["results"]
    assert exact[0]["symbol"] == "Uploader.upload_with_retry" and exact[0]["match"] == "exact"
    assert exact[0]["path"] == "src/app/uploads.py" and exact[0]["start_line"] >= 1
    close = ok(call(tools, "find_symbol", name="upload_with_retri"))["results"]
    assert close and close[0]["symbol"] == "Uploader.upload_with_retry"
    classes = ok(call(tools, "find_symbol", name="Uploader", kind="class"))["results"]
    assert classes and all(r["kind"] == "class" for r in classes)
    fails(call(tools, "find_symbol", name=" "))


def test_find_similar_by_location_and_by_code(tools: ProjectTools) -> None:
    target = ok(call(tools, "find_symbol", name="upload_with_retry"))["results"][0]
    near = ok(call(tools, "find_similar", path=target["path"], line=target["start_line"] + 1))
    assert near["results"]
    assert all(
        not (h["path"] == target["path"] and h["start_line"] == target["start_line"])
        for h in near["results"]
    )
    snippet = ok(call(tools, "find_similar", code="def upload_with_retry(self, path, data):"))
    assert snippet["results"]
    fails(call(tools, "find_similar"))
    fails(call(tools, "find_similar", path="src/app/uploads.py", code="x = 1"))
    fails(call(tools, "find_similar", path="../outside.py"))
    fails(call(tools, "find_similar", path="src/app/missing.py"))


def test_get_context_reads_a_bounded_span(tools: ProjectTools) -> None:
    data = ok(call(tools, "get_context", path="src/app/uploads.py", start_line=1, end_line=3))
    lines = (tools.root / "src/app/uploads.py").read_text().splitlines()
    assert data["code"] == "\n".join(lines[:3])
    assert (data["start_line"], data["end_line"], data["truncated"]) == (1, 3, False)
    assert data["total_lines"] == len(lines)
    big = tools.root / "src/app/big.py"
    big.write_text("".join(f"x_{i} = {i}\n" for i in range(2_000)))
    long = ok(call(tools, "get_context", path="src/app/big.py", start_line=10, end_line=2_000))
    assert long["truncated"] and long["next_start_line"] == long["end_line"] + 1
    assert long["code"].splitlines()[0] == "x_9 = 9"
    fails(call(tools, "get_context", path="src/app/uploads.py", start_line=5, end_line=2))
    fails(call(tools, "get_context", path="src/app/uploads.py", start_line=5_000, end_line=5_001))
    fails(call(tools, "get_context", path="src/app", start_line=1, end_line=2))


def test_paths_outside_the_project_are_refused(tools: ProjectTools, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside the project\n")
    (tools.root / "src/link.txt").symlink_to(outside)
    (tools.root / "src/dirlink").symlink_to(tmp_path)
    for path in (
        "../outside.txt",
        str(outside),
        "/etc/passwd",
        "src/link.txt",
        "src/dirlink/outside.txt",
        "src/../../outside.txt",
    ):
        message = fails(call(tools, "get_context", path=path, start_line=1, end_line=1))
        assert "outside" in message
        fails(call(tools, "find_similar", path=path))
        fails(call(tools, "reindex", paths=[path]))


def test_ignored_files_and_secrets_are_never_served(tools: ProjectTools) -> None:
    (tools.root / ".env").write_text("API_KEY=hunter2\n")
    (tools.root / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tools.root / "src/env_link").symlink_to(tools.root / ".env")
    for path in (".env", "id_rsa", "debug.log", "build/gen.py", "src/env_link"):
        text = fails(call(tools, "get_context", path=path, start_line=1, end_line=1))
        assert "hunter2" not in text
    ok(call(tools, "reindex"))
    found = ok(call(tools, "search_code", query="API_KEY hunter2", mode="lexical"))
    assert all(h["path"] not in (".env", "id_rsa") for h in found["results"])


def test_index_status_reports_counts(tools: ProjectTools) -> None:
    data = ok(call(tools, "index_status"))
    assert data["files"] > 0 and data["chunks"] >= data["files"]
    assert data["embedded"] == data["chunks"] and data["percent_embedded"] == 100.0
    assert data["stale_files"] == 0
    assert data["vectors"] == {
        "model": "fake",
        "model_id": data["model"],
        "with_vectors": data["chunks"],
        "lexical_only": 0,
        "reason": None,
        "hint": None,
    }
    assert data["indexing"] is None and data["root"] == str(tools.root)


def test_reindex_paths_and_force(tools: ProjectTools) -> None:
    target = tools.root / "src/app/config.py"
    target.write_text(target.read_text() + "\n\ndef walrus_gazette_flag():\n    return 7\n")
    data = ok(call(tools, "reindex", paths=["src/app/config.py"]))
    assert data["done"] and data["files_changed"] == 1 and data["chunks_written"] > 0
    hits = ok(call(tools, "find_symbol", name="walrus_gazette_flag"))["results"]
    assert hits and hits[0]["match"] == "exact"
    again = ok(call(tools, "reindex"))
    assert again["done"] and again["files_changed"] == 0
    forced = ok(call(tools, "reindex", force=True))
    assert forced["files_changed"] == forced["files_total"] > 0
    fails(call(tools, "reindex", paths=[]))
    fails(call(tools, "reindex", paths=["src/app/config.py"], force=True))


def test_read_only_server_answers_but_does_not_write(tools: ProjectTools) -> None:
    reader = open_tools(tools.root, tools.session.config, index=False)
    try:
        assert ok(call(reader, "search_code", query="upload"))["results"]
        fails(call(reader, "reindex"))
    finally:
        reader.close()


def test_without_the_writer_lock_it_serves_reads_and_takes_over_later(
    sample_project: Path, fake_env: None
) -> None:
    config = load_config(sample_project)
    other = WriterLock(config.index_path(sample_project))
    other.acquire(command="index")
    t = open_tools(sample_project, config, watch=False, lock_retry_seconds=0.2)
    try:
        first = ok(call(t, "search_code", query="upload"))
        assert first["results"] == [] and first["index"]["complete"] is False
        assert first["index"]["indexing"]
        assert "being written" in fails(call(t, "reindex"))
        other.release()
        assert t.live is not None and t.live.wait_idle(60)
        assert ok(call(t, "search_code", query="upload"))["results"]
    finally:
        other.release()
        t.close()


def test_first_call_answers_before_indexing_finishes(tmp_path: Path, fake_env: None) -> None:
    root = tmp_path / "many"
    for i in range(150):
        pkg = root / f"pkg{i % 10}"
        pkg.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def handler_{i}_{j}(request):\n    return request.value + {j}\n\n" for j in range(20)
        )
        (pkg / f"mod{i}.py").write_text(body)
    t = open_tools(root, load_config(root), watch=False)
    try:

        async def concurrently(client: Client) -> list[CallToolResult]:
            results: list[CallToolResult] = []

            async def one(n: int) -> None:
                results.append(await client.call_tool("search_code", {"query": f"handler {n}"}))

            async with anyio.create_task_group() as tg:
                for n in range(8):
                    tg.start_soon(one, n)
            return results

        answers = talk(t, concurrently)
        assert len(answers) == 8
        for answer in answers:
            data = ok(answer)
            assert {"chunks", "embedded", "complete", "indexing"} <= set(data["index"])
        assert t.live is not None and t.live.wait_idle(120)
        final = ok(call(t, "search_code", query="handler_7_3"))
        assert final["index"]["complete"] and final["results"][0]["symbol"] == "handler_7_3"
    finally:
        t.close()


def test_close_stops_background_work_promptly(tmp_path: Path, fake_env: None) -> None:
    root = tmp_path / "p"
    root.mkdir()
    for i in range(100):
        (root / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    t = open_tools(root, load_config(root))
    t.close()
    assert not [th.name for th in threading.enumerate() if th.name.startswith("mvs-")]
    assert not os.path.exists(t.session.index_dir / "writer.holder.json")


def test_cli_twins_give_the_same_answers(
    tools: ProjectTools, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcp_vector_search.cli import run

    root = str(tools.root)
    span = ok(call(tools, "get_context", path="src/app/uploads.py", start_line=2, end_line=9))
    capsys.readouterr()
    assert run(["--project", root, "context", "src/app/uploads.py", "2", "9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == span
    assert run(["--project", root, "context", ".env", "1"]) == 2
    tool = ok(call(tools, "search_code", query="retry a failed upload", limit=5))
    capsys.readouterr()
    assert run(["--project", root, "search", "retry a failed upload", "-n", "5", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [(h["path"], h["start_line"]) for h in cli["results"]] == [
        (h["path"], h["start_line"]) for h in tool["results"]
    ]


def test_a_saved_edit_shows_up_in_search(sample_project: Path, fake_env: None) -> None:
    t = open_tools(sample_project, load_config(sample_project))
    try:
        assert t.live is not None and t.live.wait_idle(60) and t.live.watching.wait(20)
        target = sample_project / "src/app/uploads.py"
        target.write_text(target.read_text() + "\n\ndef heron_dispatch_window():\n    pass\n")

        async def until_found(client: Client) -> dict[str, Any]:
            with anyio.fail_after(20):  # the promise is ~2 s; this bound is only a backstop
                while True:
                    found = ok(await client.call_tool("search_code", {"query": "heron_dispatch"}))
                    if found["results"] and found["results"][0]["symbol"] == (
                        "heron_dispatch_window"
                    ):
                        return found
                    await anyio.sleep(0.05)

        found = talk(t, until_found)
        assert found["results"][0]["path"] == "src/app/uploads.py"
    finally:
        t.close()
