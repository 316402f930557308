"""Process entry point (`python -m mcp_vector_search` and the console scripts).

Signal handlers go in before anything heavy is imported: until a command installs its
own (lifecycle.signals_to), nothing has been written, so SIGINT or SIGTERM simply end
the process with the shell's 128+signal code and one line, never a KeyboardInterrupt
traceback from the middle of an import.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _leave(signum: int, frame: FrameType | None) -> None:
    try:
        sys.stderr.write("Interrupted.\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(128 + signum)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _leave)
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
