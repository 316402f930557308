"""Source code -> segments: one per definition, its own lines only, plus module code.

A definition's chunk holds the lines that are not inside a child definition: a class
keeps its header, docstring and fields while each method is a chunk of its own, so no
code is embedded twice. Leftover runs of lines are placed so that no non-blank line is
lost: closing braces join the definition above, comments and access specifiers the one
below, anything else becomes a continuation chunk of the enclosing definition (or a
"module" chunk at top level).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from tree_sitter import Language, Node, Parser, Query, QueryCursor
from tree_sitter_language_pack import SupportedLanguage, get_language

from ._plan import Segment
from ._specs import (
    BODY_TYPES,
    CLASS_LIKE,
    LEADING_TYPES,
    NON_QUALIFYING,
    SPECS,
    Spec,
    node_text,
    query_source,
)

# Nested definitions inside a function shorter than this stay inline: a one-line lambda
# or callback is part of the function's story, not worth a chunk (and a hole) of its own.
MIN_NESTED_ROWS = 3
# Comment-only runs up to this many lines join the definition below them; longer ones
# (license headers, commented-out code) are chunks of their own.
MAX_LEADING_RUN = 6
MAX_LEADING_NODES = 200
SIGNATURE_BYTES = 600
# Context repeated on every later piece of a long definition: kept to ~10-40 tokens so
# the code, not the header, fills the window.
SIGNATURE_CHARS = 80
DOC_CHARS = 60
MEMBERS_CHARS = 100

_CLOSER = re.compile(
    r"""^\s*(?:
        [\]\)\}]+[;,\)\]]*                 # } ); }; ]
      | end[;,.]? | fi | done | esac       # Ruby, shell
      | \#\s*(?:endif|else|endregion)\b.*  # preprocessor / region closers
      | \#pragma\s+endregion.*
    )\s*(?:(?://|/\*|\#|--).*)?$""",
    re.X,
)
_LEADING = re.compile(
    r"""^\s*(?:
        (?://|/\*|\*|--|;;).*                         # C-family, SQL, Lisp comments
      | \#(?:[\s\#!].*)?                              # shell, Python, Ruby comments
      | \#\s*(?:if|ifdef|ifndef|elif|region)\b.*      # preprocessor openers
      | \#pragma\s+(?:region|mark)\b.*
      | (?:public|private|protected|internal|signals|(?:public|private|protected)\s+slots)\s*:
      | @[\w.]+(?:\(.*\))?                            # annotations on their own lines
    )\s*$""",
    re.X,
)
_SPACE = re.compile(r"\s+")
_OPEN_SPACE = re.compile(r"([(\[{]) ")
_CLOSE_SPACE = re.compile(r" ([)\]}])")
_DOC_MARK = re.compile(r"^(?:/\*\*?|\*/|///?!?|\*|#+|--|;+)\s?")

_lock = threading.Lock()
_languages: dict[str, Language] = {}
_queries: dict[str, Query] = {}
_local = threading.local()


def _query(spec: Spec) -> tuple[Language, Query]:
    with _lock:
        lang = _languages.get(spec.grammar)
        if lang is None:
            # Grammar names come from our own table (_specs), which a test loads in full.
            lang = get_language(cast(SupportedLanguage, spec.grammar))
            _languages[spec.grammar] = lang
        query = _queries.get(spec.grammar)
        if query is None:
            # Queries are immutable once built and may be shared between threads; building
            # one costs milliseconds, so it happens once per language and process.
            query = Query(lang, query_source(spec))
            _queries[spec.grammar] = query
        return lang, query


def _parser(spec: Spec, lang: Language) -> Parser:
    # A Parser is stateful and not thread-safe: each thread keeps its own per language.
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = {}
        _local.parsers = parsers
    parser = parsers.get(spec.grammar)
    if parser is None:
        parser = Parser(lang)
        parsers[spec.grammar] = parser
    return parser


@dataclass(slots=True, eq=False)
class _Def:
    kind: str
    name: str | None
    start: int  # first row, leading comments and decorators included
    end: int  # last row
    core: int  # row where the definition node itself starts
    start_byte: int
    end_byte: int
    sig: str = ""
    doc: str = ""
    children: list[_Def] = field(default_factory=list)
    qual: str | None = None


def end_row(node: Node) -> int:
    """Last row holding text of `node` (a node ending with its newline ends at column 0)."""
    row, col = node.end_point
    return row - 1 if col == 0 and row > node.start_point.row else row


def _starts_line(node: Node, src: bytes) -> bool:
    """True when only whitespace precedes `node` on its line."""
    column = node.start_point.column
    start = node.start_byte
    # Bounded look-back: a deep column (minified code) is never "only indentation", and
    # scanning the whole line for every definition on it would be quadratic.
    if column > 256:
        return False
    return not src[start - column : start].strip()


def _unwrap(node: Node, wrappers: frozenset[str]) -> Node:
    cur = node
    while True:
        parent = cur.parent
        if parent is None or parent.type not in wrappers:
            return cur
        # `const a = () => 1, b = () => 2;` wraps two: neither owns the declaration.
        if sum(1 for c in parent.named_children if c.type == cur.type) > 1:
            return cur
        cur = parent


def _last_leaf_comment(node: Node) -> Node:
    """The trailing comment nested at the end of `node`, if any, else `node`.

    Some grammars (Kotlin) attach a comment that precedes a declaration to the end of the
    previous node (the import list) instead of making it a sibling.
    """
    cur = node
    for _ in range(32):
        if cur.type in LEADING_TYPES or cur.child_count == 0:
            return cur
        last = cur.child(cur.child_count - 1)
        if last is None or last.end_byte != cur.end_byte:
            return cur
        cur = last
    return cur


def _leading(outer: Node, src: bytes) -> tuple[int, list[Node]]:
    """Start row including the comments/attributes directly above, and those nodes."""
    start = outer.start_point.row
    found: list[Node] = []
    cur = outer
    for _ in range(MAX_LEADING_NODES):
        prev = cur.prev_sibling
        if prev is None:
            parent = cur.parent
            # Climb only while the definition is the first thing in its parent (Ruby puts
            # the comment before a class inside the enclosing module node).
            if parent is None or parent.start_byte != cur.start_byte:
                break
            cur = parent
            continue
        cand = _last_leaf_comment(prev)
        if cand.type not in LEADING_TYPES:
            break
        # At most one blank line between the comment and what it documents.
        if start - end_row(cand) > 2 or not _starts_line(cand, src):
            break
        found.append(cand)
        start = cand.start_point.row
        cur = cand
    found.reverse()
    return start, found


def _signature(node: Node, src: bytes) -> str:
    """The definition's text up to its body (`def f(a, b):`, `fn new(x: i32) -> Self`)."""
    body = node.child_by_field_name("body")
    if body is None:
        body = next((c for c in node.named_children if c.type in BODY_TYPES), None)
    start = node.start_byte
    limit = start + SIGNATURE_BYTES
    if body is not None and body.start_byte > start:
        end = min(body.start_byte, limit)
    else:
        newline = src.find(b"\n", start, limit)
        end = newline if newline != -1 else min(node.end_byte, limit)
    text = _SPACE.sub(" ", src[start:end].decode("utf-8", "replace")).strip()
    # Parameters wrapped over lines read "f( a, b )" once joined.
    text = _OPEN_SPACE.sub(r"\1", _CLOSE_SPACE.sub(r"\1", text))
    return _cap(text, SIGNATURE_CHARS)


def _clean_doc(raw: str) -> str:
    out: list[str] = []
    for line in raw.splitlines():
        s = line.strip()
        s = _DOC_MARK.sub("", s).removesuffix("*/").strip()
        if s:
            # The first sentence-ish line says what the thing is; more costs header tokens.
            out.append(s)
            break
    return _cap(_SPACE.sub(" ", " ".join(out)), DOC_CHARS)


def _docstring(node: Node, leading: list[Node], language: str) -> str:
    if language == "python":
        body = node.child_by_field_name("body")
        first = body.named_children[0] if body is not None and body.named_child_count else None
        if first is not None and first.type == "expression_statement" and first.named_children:
            first = first.named_children[0]
        if first is not None and first.type == "string":
            raw = node_text(first)
            # Drop the string prefix and quotes: r\"\"\"...\"\"\" -> ...
            raw = raw.lstrip("rRbBuUfF").strip("\"'")
            return _clean_doc(raw)
    comments = [n for n in leading if "comment" in n.type]
    if not comments:
        return ""
    return _clean_doc("\n".join(node_text(n) for n in comments))


def _collect(spec: Spec, language: str, root: Node, lines: Sequence[str], src: bytes) -> _Def:
    _, query = _query(spec)
    captured = QueryCursor(query).captures(root).get("def", [])
    defs: list[_Def] = []
    seen: set[tuple[int, int]] = set()
    for node in captured:
        rule = spec.defs.get(node.type)
        if rule is None:
            continue
        kind = rule.refine(node, rule.kind) if rule.refine is not None else rule.kind
        if kind is None:
            continue
        name = rule.name(node)
        if not name:
            # Anonymous definitions stay part of whatever encloses them.
            continue
        outer = _unwrap(node, spec.wrappers)
        key = (outer.start_byte, outer.end_byte)
        if key in seen:
            continue
        seen.add(key)
        start, leading = _leading(outer, src)
        defs.append(
            _Def(
                kind=kind,
                name=name,
                start=start,
                end=end_row(outer),
                core=outer.start_point.row,
                start_byte=outer.start_byte,
                end_byte=outer.end_byte,
                sig=_signature(node, src),
                doc=_docstring(node, leading, language),
            )
        )
    top = _Def("module", None, 0, len(lines) - 1, 0, 0, len(src) + 1)
    # Nodes of one tree are nested or disjoint, so sorting by position and keeping a stack
    # of open ancestors rebuilds the nesting in one pass.
    defs.sort(key=lambda x: (x.start_byte, -x.end_byte))
    stack = [top]
    for d in defs:
        while len(stack) > 1 and d.start_byte >= stack[-1].end_byte:
            stack.pop()
        stack[-1].children.append(d)
        stack.append(d)
    return top


def _only(lines: Sequence[str], a: int, b: int, pattern: re.Pattern[str]) -> bool:
    return all(pattern.match(lines[r]) for r in range(a, b + 1) if lines[r].strip())


def _non_blank(lines: Sequence[str], a: int, b: int) -> int:
    return sum(1 for r in range(a, b + 1) if lines[r].strip())


def _children(d: _Def, is_top: bool) -> list[_Def]:
    """Children placed as chunks: absorbed one-liners removed, overlaps resolved."""
    kids = sorted(d.children, key=lambda k: (k.start, k.end))
    out: list[_Def] = []
    in_function = d.kind in ("function", "method")
    for k in kids:
        if not is_top:
            if k.core <= d.start:
                # Starts on the parent's first line (`class A { void f() {} }`): inline.
                continue
            k.start = max(k.start, d.start + 1)
        k.end = min(k.end, d.end)
        if in_function and k.end - k.core + 1 < MIN_NESTED_ROWS:
            continue
        if out and k.start <= out[-1].end:
            prev = out[-1]
            if k.core <= prev.end:
                # Two definitions on one line (minified code): one chunk holds both.
                prev.end = max(prev.end, k.end)
                continue
            k.start = prev.end + 1
        out.append(k)
    return out


def _segments(top: _Def, lines: Sequence[str]) -> list[Segment]:
    out: list[Segment] = []
    stack = [top]
    while stack:
        d = stack.pop()
        is_top = d is top
        kids = _children(d, is_top)
        for k in kids:
            if k.kind == "function" and d.kind in CLASS_LIKE:
                k.kind = "method"
            qualify = not is_top and d.kind not in NON_QUALIFYING and d.qual
            k.qual = f"{d.qual}.{k.name}" if qualify else k.name

        # Runs of the definition's own rows, with the index of the child just after each.
        runs: list[tuple[int, int, int]] = []
        cur = d.start
        for i, k in enumerate(kids):
            if k.start > cur:
                runs.append((cur, k.start - 1, i))
            cur = max(cur, k.end + 1)
        if cur <= d.end:
            runs.append((cur, d.end, len(kids)))

        context = _join_context(d)
        # The first run holds the definition's own first line; runs after a child are
        # leftovers to place.
        first = not is_top
        for a, b, nxt in runs:
            while a <= b and not lines[a].strip():
                a += 1
            while b >= a and not lines[b].strip():
                b -= 1
            if a > b:
                continue
            if first:
                first = False
                head = _members(d, kids)
                out.append(Segment(a, b, d.kind, d.qual, head=head, cont=context))
                continue
            if nxt > 0 and _only(lines, a, b, _CLOSER):
                kids[nxt - 1].end = max(kids[nxt - 1].end, b)
                continue
            if (
                nxt < len(kids)
                and _non_blank(lines, a, b) <= MAX_LEADING_RUN
                and _only(lines, a, b, _LEADING)
            ):
                kids[nxt].start = min(kids[nxt].start, a)
                continue
            if is_top:
                out.append(Segment(a, b, "module", None))
            else:
                out.append(Segment(a, b, d.kind, d.qual, head=context, cont=context))
        stack.extend(reversed(kids))
    return out


def _join_context(d: _Def) -> str:
    return "\n".join(p for p in (d.sig, d.doc) if p)


def _members(d: _Def, kids: list[_Def]) -> str:
    if not kids or d.kind in ("function", "method"):
        return ""
    # Overloads and property getter/setter pairs share a name; list it once.
    names = list(dict.fromkeys(k.name for k in kids if k.name))
    return _cap("members: " + ", ".join(names), MEMBERS_CHARS)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plan_code(language: str, lines: Sequence[str], src: bytes) -> list[Segment] | None:
    """Segments for a tree-sitter language, or None when it has no usable grammar."""
    spec = SPECS.get(language)
    if spec is None:
        return None
    try:
        lang, _ = _query(spec)
    except (LookupError, ValueError, OSError):
        return None
    tree = _parser(spec, lang).parse(src)
    top = _collect(spec, language, tree.root_node, lines, src)
    return _segments(top, lines)
