"""The MCP server as a process: stdio claimed, logs on stderr, one shutdown path.

Order matters for the first answer: the MCP SDK is imported first, alone, and the
handshake answered; only then do the tools load the model and open the engine (its
import takes seconds) in their own threads, answering from the writer's engine-free
copy of the index meanwhile (agent_tools). Imported side by side, the two held
`initialize` and `tools/list` back for seconds. The protocol gets private copies of stdin and
stdout, and fds 0/1 point at /dev/null and stderr, so nothing a library prints can
corrupt the stream. Serving ends on stdin EOF or on SIGINT/SIGTERM (through the
session's stop token); closing the session then stops and joins every worker. The exit
code is 0 after EOF and 128 + n after signal n, as for every command; errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .agent_tools import open_tools
from .config import Config
from .embedding import Embedder
from .errors import MVSError
from .lifecycle import signals_to

log = logging.getLogger("mcp_vector_search.serve")


def claim_stdio() -> tuple[int, int]:
    """Private copies of fds 0 and 1 for the protocol; 0 -> /dev/null, 1 -> stderr."""
    import fcntl

    proto_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    proto_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return proto_in, proto_out


class OneLine(logging.Formatter):
    """Log records as single lines: an exception becomes its type and message."""

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        text = super().format(record)
        if exc and exc[1] is not None:
            text += f" ({type(exc[1]).__name__}: {exc[1]})"
        return text.replace("\n", " | ")


def configure_logging() -> None:
    """WARNING and up on stderr; MVS_LOG_LEVEL=INFO adds startup and indexing milestones
    stamped with milliseconds since the process started."""
    level = os.environ.get("MVS_LOG_LEVEL", "").strip().upper()
    level = level if level in logging.getLevelNamesMapping() else "WARNING"
    stamp = "" if level in ("WARNING", "ERROR", "CRITICAL") else "%(relativeCreated)6.0fms "
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLine(f"mcp-vector-search: {stamp}%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def serve_stdio(
    root: Path,
    config: Config,
    *,
    embedder_factory: Callable[[], Embedder] | None = None,
    index: bool = True,
    watch: bool = True,
) -> None:
    """Serve MCP on stdin/stdout until EOF (returns) or a signal (raises Interrupted).

    Failures are raised as our errors, for the CLI's one-line report and exit code.
    """
    configure_logging()
    proto_in, proto_out = claim_stdio()
    tools = open_tools(
        root, config, embedder_factory=embedder_factory, index=index, watch=watch, start=False
    )
    stop = tools.session.stop
    failure: MVSError | None = None
    with signals_to(stop):
        try:
            # The SDK first, with nothing else running: the tools start loading the
            # engine and the model only after the handshake (mcp_server._after_handshake).
            from .mcp_server import run_stdio

            log.info("MCP SDK loaded; serving %s", root)

            run_stdio(tools, proto_in, proto_out)
        except MVSError as exc:
            failure = exc
        except Exception as exc:
            # The client went away mid-write, or a bug: one line, never a traceback.
            leaves = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            if all(isinstance(e, BrokenPipeError | ConnectionError) for e in leaves):
                log.info("client went away")
            else:
                what = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
                failure = MVSError(f"the MCP server stopped: {what}")
        finally:
            tools.close()
    if stop.signum:
        # The project's convention: a signal always shows in the exit code (128 + n).
        raise stop.interrupted("MCP server stopped; the index keeps its last committed state.")
    if failure is not None:
        raise failure
