"""Snippets that explain a hit: the definition's signature, then the lines that matched.

A piece of a split definition starts wherever the splitter cut it, often in the middle of
an argument list; showing its first lines says little about why it matched. The reader
wants what the thing is (its signature) and where the query's words are.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import lexical

SNIPPET_LINES = 6
SNIPPET_CHARS = 400
_SIGNATURE_LINES = 3
_GAP = "…"


def signature(content: str) -> list[str]:
    """The first lines of a definition, up to the end of its header (`:` or `{`)."""
    out: list[str] = []
    for line in content.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(("@", "#[", "//", "#", "/*", "*")) and not out:
            continue  # decorators, attributes and comments come before the header
        out.append(line.rstrip())
        if stripped.endswith((":", "{", "=>", "->")) or len(out) >= _SIGNATURE_LINES:
            break
        if stripped.endswith((")", ";", "}")) and "(" in "".join(out):
            break
    return out


def _cut(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _signature_end(lines: Sequence[str], sig: Sequence[str]) -> int:
    """Index of the first line after the signature within `lines`."""
    if sig:
        for i, line in enumerate(lines):
            if line.rstrip() == sig[-1]:
                return i + 1
    return 0


def make_snippet(content: str, terms: Sequence[str] = (), *, head: str | None = None) -> str:
    """A few lines of `content`: the signature (of `head`, the definition's first piece,
    when `content` is a later piece), then the lines with the most query terms, in
    file order, with `…` where lines were left out.

    With no line that matches, the lines that follow the signature.
    """
    lines = content.splitlines()
    if head is not None:
        sig, start = signature(head), 0
    else:
        sig = signature(content)
        start = _signature_end(lines, sig)
    room = max(1, SNIPPET_LINES - len(sig))
    wanted = set(terms)
    scored = [
        (len(wanted.intersection(lexical.tokens(lines[i]))), i)
        for i in range(start, len(lines))
        if wanted and lines[i].strip()
    ]
    best = sorted(i for hits, i in sorted(scored, key=lambda x: (-x[0], x[1]))[:room] if hits)
    if not best:
        best = [i for i in range(start, len(lines)) if lines[i].strip()][:room]
    out = [ln.rstrip() for ln in sig]
    prev = start - 1
    for i in best:
        if i > prev + 1 or (head is not None and prev < 0):
            out.append(_GAP)
        out.append(lines[i].rstrip())
        prev = i
    return _cut("\n".join(out))
