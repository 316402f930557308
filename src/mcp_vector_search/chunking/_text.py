"""Markdown by heading sections; any other text by line windows."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._plan import Segment

WINDOW_LINES = 50
HEADING_CHARS = 60

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_OR_QUOTE = re.compile(r"^ {0,3}(?:[-*+>]|\d+[.)])(?:\s|$)")
_SPACE = re.compile(r"\s+")


def plan_windows(lines: Sequence[str]) -> list[Segment]:
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = len(lines) - 1
    while end > start and not lines[end].strip():
        end -= 1
    if start > end:
        return []
    return [Segment(start, end, "window", None, max_lines=WINDOW_LINES)]


def _front_matter_end(lines: Sequence[str]) -> int:
    """Row after a leading YAML front matter block (its `---` would read as headings)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for r in range(1, min(len(lines), 500)):
        if lines[r].strip() in ("---", "..."):
            return r + 1
    return 0


def _headings(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """(row, level, title) of each heading outside code fences."""
    found: list[tuple[int, int, str]] = []
    fence: str | None = None
    prev_text = False  # previous line can be a setext heading's text
    for r in range(_front_matter_end(lines), len(lines)):
        line = lines[r]
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            prev_text = False
            continue
        if m:
            fence = m.group(1)
            prev_text = False
            continue
        atx = _ATX.match(line)
        if atx:
            found.append((r, len(atx.group(1)), atx.group(2) or ""))
            prev_text = False
            continue
        setext = _SETEXT.match(line)
        if setext and prev_text:
            level = 1 if setext.group(1)[0] == "=" else 2
            found.append((r - 1, level, lines[r - 1].strip()))
            prev_text = False
            continue
        stripped = line.strip()
        prev_text = (
            bool(stripped) and not line.startswith("    ") and not _LIST_OR_QUOTE.match(line)
        )
    return found


def _title(raw: str) -> str:
    title = _SPACE.sub(" ", raw).strip()
    return title if len(title) <= HEADING_CHARS else title[: HEADING_CHARS - 1] + "…"


def plan_markdown(lines: Sequence[str]) -> list[Segment]:
    heads = _headings(lines)
    # (start, end, level, symbol); level 0 is the preamble before the first heading.
    sections: list[tuple[int, int, int, str | None]] = []
    first = heads[0][0] if heads else len(lines)
    if first > 0:
        sections.append((0, first - 1, 0, None))
    path: list[tuple[int, str]] = []
    for i, (row, level, raw) in enumerate(heads):
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, _title(raw) or "#" * level))
        end = heads[i + 1][0] - 1 if i + 1 < len(heads) else len(lines) - 1
        sections.append((row, end, level, " > ".join(t for _, t in path)))

    out: list[Segment] = []
    carry: int | None = None  # start row of a heading-only section merged into the next
    for i, (start, end, level, symbol) in enumerate(sections):
        if carry is not None:
            start, carry = carry, None
        body = [r for r in range(start, end + 1) if lines[r].strip()]
        if not body:
            continue
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        heading_rows = 2 if level and start + 1 <= end and _SETEXT.match(lines[start + 1]) else 1
        heading_only = level > 0 and body[-1] < start + heading_rows
        if heading_only and nxt is not None and nxt[2] > level:
            # "## Install" directly followed by "### From source": one chunk, named by
            # the deeper heading, instead of a chunk holding a lone title.
            carry = start
            continue
        out.append(Segment(body[0], body[-1], "section", symbol))
    return out
