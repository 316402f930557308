"""The MCP server: six tools over a live index. The only module that imports `mcp`.

`build_server` registers the tools (typed signatures, typed answers, our errors mapped
to tool errors); `run_stdio` serves them on the protocol's file descriptors until stdin
ends or the session's stop token is set. The process around it (stdio claimed, logging,
signals, shutdown) is `serve.py`.
"""

# No `from __future__ import annotations`: the SDK reads the tool signatures at run time.

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from . import __version__
from .agent_tools import DEFAULT_MAX_CHARS, MAX_PAGE, ProjectTools
from .answers import (
    ContextAnswer,
    ReindexAnswer,
    SearchAnswer,
    SimilarAnswer,
    StatusAnswer,
    SymbolAnswer,
)
from .errors import MVSError
from .wire import dumps, to_data

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger("mcp_vector_search.mcp")

INSTRUCTIONS = """\
Semantic and lexical search over this project's source code, kept fresh while you edit.
Start with search_code for questions about behaviour or concepts ("where are uploads
retried?"), find_symbol to jump to a definition by name, get_context to read around a hit,
find_similar for code like a given place or snippet. Use grep only to list every literal
occurrence of a string. Answers are bounded; follow next_cursor / next_start_line for more.
Each answer says how complete the index is (index.complete / index.indexing)."""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def _answer(call: "Callable[[], DataclassInstance]") -> CallToolResult:
    """Run a tool body: our errors become tool errors; answers go out as compact JSON.

    The SDK would indent the text copy of the structured result; compact JSON keeps the
    answer inside its character budget in the agent's context window.
    """
    try:
        answer = call()
    except MVSError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        raise ToolError(f"{exc}{hint}") from None
    except ToolError:
        raise
    except Exception as exc:
        # A bug, not a user error: one log line and a plain tool error, never a traceback.
        log.error("tool failed: %s: %s", type(exc).__name__, exc)
        raise ToolError(f"internal error ({type(exc).__name__}); see the server log") from None
    data = to_data(answer)
    text = dumps(data)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def build_server(tools: ProjectTools) -> MCPServer:
    server = MCPServer(
        "mcp-vector-search", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )

    @server.tool(
        description=(
            "Search this project's code by meaning and by words, ranked. Use it instead of"
            " grep when you don't know the exact text (a behaviour, a concept, an error you"
            " saw) or want the most relevant definitions first. Returns spans with path,"
            " start/end line, symbol, kind, score and a short snippet, within max_chars;"
            " pass next_cursor back (same query) for more. grep is still the tool for listing"
            " every literal occurrence."
        ),
        annotations=READ_ONLY,
    )
    def search_code(
        query: Annotated[str, Field(description="Words, a question, or identifiers.")],
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Results per page.")] = 10,
        language: Annotated[
            str | None, Field(description="Only this language: python, go, javascript, ...")
        ] = None,
        path_glob: Annotated[
            str | None, Field(description="Only paths matching this glob, e.g. 'src/**/*.py'.")
        ] = None,
        mode: Annotated[
            Literal["hybrid", "semantic", "lexical"],
            Field(description="hybrid (default) blends lexical and vector ranking."),
        ] = "hybrid",
        cursor: Annotated[
            str | None, Field(description="next_cursor from a previous answer: the next page.")
        ] = None,
        max_chars: Annotated[
            int, Field(ge=1_000, le=50_000, description="Character budget for the answer.")
        ] = DEFAULT_MAX_CHARS,
    ) -> Annotated[CallToolResult, SearchAnswer]:
        return _answer(
            lambda: tools.search_code(
                query,
                limit=limit,
                language=language,
                path_glob=path_glob,
                mode=mode,
                cursor=cursor,
                max_chars=max_chars,
            )
        )

    @server.tool(
        description=(
            "Find where a function, class, method or type is defined, by name: exact matches"
            " first, then qualified, case-insensitive, prefix and fuzzy ones. Use it instead"
            " of grepping for 'def X' or 'class X': you get definitions with their line"
            " spans, not every call site and comment."
        ),
        annotations=READ_ONLY,
    )
    def find_symbol(
        name: Annotated[str, Field(description="A name like 'send' or 'Client.send'.")],
        kind: Annotated[
            str | None, Field(description="Only this kind: function, class, method, ...")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Most definitions to return.")] = 20,
    ) -> Annotated[CallToolResult, SymbolAnswer]:
        return _answer(lambda: tools.find_symbol(name, kind=kind, limit=limit))

    @server.tool(
        description=(
            "Find code similar to a place in the project (path, and optionally a line inside"
            " a definition) or to a snippet passed as code. Use it to find duplicates, other"
            " implementations of a pattern, or examples to follow: grep cannot match code by"
            " shape or meaning."
        ),
        annotations=READ_ONLY,
    )
    def find_similar(
        path: Annotated[
            str | None, Field(description="Project-relative file path (or give code instead).")
        ] = None,
        line: Annotated[
            int | None, Field(ge=1, description="A line inside the definition to compare.")
        ] = None,
        code: Annotated[str | None, Field(description="A code snippet to compare.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Most results to return.")] = 10,
    ) -> Annotated[CallToolResult, SimilarAnswer]:
        return _answer(lambda: tools.find_similar(path, line=line, code=code, limit=limit))

    @server.tool(
        description=(
            "Read lines start_line..end_line of a project file, to expand a search hit."
            " Use it instead of cat/sed: bounded (400 lines, 20,000 characters; continue at"
            " next_start_line), and only files inside the project that are not ignored or"
            " likely secrets."
        ),
        annotations=READ_ONLY,
    )
    def get_context(
        path: Annotated[str, Field(description="Project-relative file path.")],
        start_line: Annotated[int, Field(ge=1, description="First line, from 1.")],
        end_line: Annotated[int, Field(ge=1, description="Last line, inclusive.")],
    ) -> Annotated[CallToolResult, ContextAnswer]:
        return _answer(lambda: tools.get_context(path, start_line, end_line))

    @server.tool(
        description=(
            "How complete and fresh the index is: files, chunks, chunks with vectors (which"
            " model and precision, and why any chunks are lexical-only), stale files, skipped"
            " files, and any indexing in progress with its percentage. Use it when answers"
            " look incomplete or after large changes."
        ),
        annotations=READ_ONLY,
    )
    def index_status() -> Annotated[CallToolResult, StatusAnswer]:
        return _answer(tools.index_status)

    @server.tool(
        description=(
            "Bring the index up to date now. The server already watches files, so this is"
            " rarely needed. Use it after changes the watcher could not see, passing paths"
            " to refresh just those files. force=true re-reads every file from scratch; give it"
            " only when explicitly asked."
        ),
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    def reindex(
        paths: Annotated[
            list[str] | None, Field(description="Project-relative files to refresh.")
        ] = None,
        force: Annotated[bool, Field(description="Re-read every file (slow).")] = False,
    ) -> Annotated[CallToolResult, ReindexAnswer]:
        return _answer(lambda: tools.reindex(paths, force=force))

    return server


# ---------------------------------------------------------------------------- stdio
class _StdinLines:
    """Protocol lines from stdin; a blocked read is abandoned on cancellation.

    The SDK's own reader can't be cancelled while it waits for a line, so a stop request
    would wait for the client to speak. An abandoned read is harmless: the process exits
    without finalizing the interpreter.
    """

    def __init__(self, fd: int) -> None:
        self._file = open(fd, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        self.lines = 0

    def __aiter__(self) -> "_StdinLines":
        return self

    async def __anext__(self) -> str:
        line = await anyio.to_thread.run_sync(self._file.readline, abandon_on_cancel=True)
        if not line:
            raise StopAsyncIteration
        self.lines += 1
        return line


async def _after_handshake(stdin: _StdinLines, start: Callable[[], None]) -> None:
    """Call `start` once the client has had its `initialize` answer: its next line (the
    `initialized` notification) has come, or half a second has passed since the first.

    Loading the engine and the model before that would compete with the handshake and
    `tools/list` for the one interpreter lock, and agents call both at once.
    """
    while stdin.lines < 1:
        await anyio.sleep(0.01)
    with anyio.move_on_after(0.5):
        while stdin.lines < 2:
            await anyio.sleep(0.01)
    log.info("handshake done: loading the model and the index")
    start()


async def _serve(server: MCPServer, tools: ProjectTools, proto_in: int, proto_out: int) -> None:
    stop = tools.session.stop
    stdin = _StdinLines(proto_in)
    stdout = anyio.wrap_file(open(proto_out, "w", encoding="utf-8", closefd=False))  # noqa: SIM115
    lowlevel = server._lowlevel_server  # the SDK's public runner insists on the real stdin
    async with anyio.create_task_group() as tg:

        async def cancel_on_stop() -> None:
            while not stop.requested:
                await anyio.sleep(0.1)
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_on_stop)
        tg.start_soon(_after_handshake, stdin, tools.start)
        # The SDK only iterates its stdin: our reader stands in for its AsyncFile.
        lines: Any = stdin
        async with stdio_server(lines, stdout) as (read_stream, write_stream):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        tg.cancel_scope.cancel()  # stdin reached EOF


def run_stdio(tools: ProjectTools, proto_in: int, proto_out: int) -> None:
    """Serve the tools on these protocol fds until EOF or the session's stop token."""
    anyio.run(_serve, build_server(tools), tools, proto_in, proto_out)


def tool_reference() -> str:
    """The MCP tools as Markdown, from the schemas the server publishes (for the README)."""

    def kind(schema: dict[str, Any]) -> str:
        if "anyOf" in schema:
            return " or ".join(kind(s) for s in schema["anyOf"] if s.get("type") != "null")
        if "enum" in schema:
            return " \\| ".join(f"`{v}`" for v in schema["enum"])
        if schema.get("type") == "array":
            return f"array of {kind(schema.get('items', {}))}"
        return str(schema.get("type", "any"))

    # Listing never calls a tool, so there is no project behind this server.
    server = build_server(None)  # type: ignore[arg-type]
    parts = ["### MCP tools\n"]
    for tool in anyio.run(server.list_tools):
        parts.append(f"#### `{tool.name}`\n\n{tool.description}\n")
        props = tool.input_schema.get("properties", {})
        required = set(tool.input_schema.get("required", []))
        if props:
            rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
            for name, schema in props.items():
                default = (
                    "required" if name in required else f"`{json.dumps(schema.get('default'))}`"
                )
                rows.append(
                    f"| `{name}` | {kind(schema)} | {default} | {schema.get('description', '')} |"
                )
            parts.append("\n".join(rows) + "\n")
        fields = list((tool.output_schema or {}).get("properties", {}))
        parts.append("Returns: " + ", ".join(f"`{f}`" for f in fields) + ".\n")
    return "\n".join(parts)
