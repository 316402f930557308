"""File events -> debounced batches of project-relative paths; nothing else.

watchfiles reports raw events; this keeps those the index could care about (not the
index itself, not .git, not what the walker's ignore rules leave out) and hands each
debounced batch to a callback, saying when a rule file changed (then only a walk of
the whole tree knows which files count). What to do with the paths is live.py's.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Protocol

from . import walker
from .lifecycle import Session

log = logging.getLogger("mcp_vector_search.watch")

# watchfiles yields once the tree has been quiet for STEP ms, or after MAX ms of a
# continuous stream of events; a save is applied well inside the 2 s promise.
DEBOUNCE_STEP_MS = 50
DEBOUNCE_MAX_MS = 500
# Changing these changes which files count at all: re-walk the tree instead of
# guessing which paths the new rules touch.
RULE_FILES = frozenset({".gitignore", walker.MVS_IGNORE_NAME, ".mcp-vector-search.toml"})


class Notify(Protocol):
    def __call__(self, paths: Iterable[str], *, full: bool = False) -> None: ...


def watch_tree(session: Session, notify: Notify, watching: threading.Event) -> None:
    """Watch the session's tree until its stop token is set; `watching` is set once the
    watches are in place."""
    import watchfiles

    root = session.root
    prefix = str(root).rstrip(os.sep) + os.sep
    index_dir = str(session.index_dir)
    # One save is several raw events for one path: each path is judged once per batch.
    judged: dict[str, bool] = {}

    def relevant(change: watchfiles.Change, path: str) -> bool:
        watching.set()  # called for every raw event: the watches are in place
        if path.startswith(index_dir) or not path.startswith(prefix):
            return False
        rel = path[len(prefix) :]
        if rel == ".git" or rel.startswith(".git/") or "/.git/" in rel:
            return False
        keep = judged.get(rel)
        if keep is None:
            keep = os.path.basename(rel) in RULE_FILES or not walker.is_ignored(
                root, rel, session.config
            )
            judged[rel] = keep
        return keep

    polling = False
    while not session.stop.requested:
        try:
            for changes in watchfiles.watch(
                root,
                watch_filter=relevant,
                debounce=DEBOUNCE_MAX_MS,
                step=DEBOUNCE_STEP_MS,
                stop_event=session.stop.event,
                # Short timeouts only tell us the watches are in place (watching).
                rust_timeout=200,
                yield_on_timeout=True,
                raise_interrupt=False,
                ignore_permission_denied=True,
                force_polling=polling or None,
            ):
                watching.set()
                judged.clear()
                if changes:
                    rels = sorted({path[len(prefix) :] for _change, path in changes})
                    full = any(os.path.basename(rel) in RULE_FILES for rel in rels)
                    notify(rels, full=full)
            return
        except (OSError, RuntimeError) as exc:
            # inotify watch limits on huge trees: polling is slower but still works.
            if polling:
                log.error("file watching stopped: %s", exc)
                return
            log.warning("file watching failed (%s); falling back to polling", exc)
            polling = True
