"""Identifier-aware tokens for the lexical index and for queries.

`parseHttpResponse` and `parse_http_response` both yield parse, http, response and the
whole identifier, so a query in either spelling (or in plain words) meets the code.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
# Splits camelCase, PascalCase and acronyms: HTTPResponse -> HTTP, Response; v2Api -> v2, Api.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Query-side only: words that carry no meaning for code search. Documents keep them so
# that an identifier like `is_` or `get` still matches when the user types it alone.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "should",
        "would",
        "could",
        "get",
        "gets",
    ]
)

# Stored text is split into whitespace-separated tokens; cap absurd identifiers
# (base64 blobs, minified names) so they cannot bloat the index.
_MAX_TOKEN = 40


def split_identifier(word: str) -> list[str]:
    """Sub-words of one identifier, lower-cased; the identifier itself is not included."""
    parts: list[str] = []
    for piece in word.split("_"):
        if piece:
            parts.extend(m.group(0).lower() for m in _CAMEL.finditer(piece))
    return parts


@functools.lru_cache(maxsize=1 << 16)
def _word_tokens(word: str) -> tuple[str, ...]:
    # Code repeats the same identifiers endlessly; splitting each once is most of the speed.
    whole = word.lower().strip("_")
    if not whole:
        return ()
    if word.islower() and "_" not in word:
        return (whole,)
    parts = split_identifier(word)
    if len(parts) > 1 or (parts and parts[0] != whole):
        return (whole, *(p for p in parts if p != whole))
    return (whole,)


def tokens(text: str) -> list[str]:
    """All tokens of a text: each identifier whole (lower-cased) followed by its sub-words."""
    out: list[str] = []
    for word in _WORD.findall(text):
        if len(word) <= _MAX_TOKEN:
            out.extend(_word_tokens(word))
    return out


def document_text(content: str, symbol: str | None, path: str) -> str:
    """The lexical document of a chunk: code tokens, plus the symbol and path tokens.

    The symbol is repeated because a definition of the queried name should outrank
    the places that merely mention it (BM25 term frequency does that for us).
    """
    sym = tokens(symbol.replace(".", " ")) if symbol else []
    path_tokens = tokens(re.sub(r"[/\\.\-]", " ", path))
    return " ".join([*sym, *sym, *sym, *path_tokens, *tokens(content)])


def query_terms(query: str) -> list[str]:
    """Distinct meaningful tokens of a query, in order of appearance."""
    seen: dict[str, None] = {}
    for tok in tokens(query):
        if tok not in STOP_WORDS and len(tok) > 1:
            seen.setdefault(tok, None)
    return list(seen)


_IDENT_LIKE = re.compile(r"[a-z][A-Z]|_[A-Za-z0-9]|[A-Za-z]\.[A-Za-z]|\(|::|->")


def identifier_weight(query: str) -> float:
    """How much a query looks like identifiers (0 = prose, 1 = code), for adaptive fusion.

    `Limits max_keepalive_connections keepalive_expiry` is mostly identifiers; "where do
    we retry failed uploads" is prose. Counted per word so mixed queries land between.
    """
    words = query.split()
    if not words:
        return 0.0
    if len(words) == 1:
        return 1.0
    code_like = 0
    for i, word in enumerate(words):
        # A capitalised word after the first one is usually a class name, not prose.
        capitalised = i > 0 and word[:1].isupper() and not word.isupper()
        if _IDENT_LIKE.search(word) or capitalised:
            code_like += 1
    return code_like / len(words)


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# What carries the signal in a long, symptom-first query (a bug report: a title and a
# paragraph): quoted text, identifiers written as code, error names, options and paths.
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|'([^'\s][^']*[^'\s])'")
_ERROR_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b")
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]+")
_CODE_LIKE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|->)[A-Za-z_][A-Za-z0-9_]*)+\(?\)?"  # dotted, Rust paths
    r"|[A-Za-z_][A-Za-z0-9_]*\("  # calls
    r"|[A-Za-z0-9]*_[A-Za-z0-9_]+"  # snake_case, __dunder__
    r"|[a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*"  # camelCase, PascalCase
)
LONG_QUERY_TERMS = 12


def signal_terms(query: str) -> list[str]:
    """The query terms that look like code, quotes, errors, options or paths.

    Long queries are mostly prose, and BM25 over all of their words drifts towards any
    chunk that shares a few common ones; these terms are what a developer would grep
    for. Empty for short queries, where every term already counts.
    """
    terms = query_terms(query)
    if len(terms) < LONG_QUERY_TERMS:
        return []
    picked: list[str] = []
    for m in _QUOTED.finditer(query):
        picked.append(next(g for g in m.groups() if g is not None))
    picked.extend(_ERROR_NAME.findall(query))
    picked.extend(_OPTION.findall(query))
    picked.extend(_CODE_LIKE.findall(query))
    # Whole identifiers only: their sub-words (`error` of `AssertionError`, `print` of
    # `console.print`) are common everywhere and would bring the prose noise back.
    whole = (
        w.lower().strip("_") for text in picked for w in _WORD.findall(text) if len(w) <= _MAX_TOKEN
    )
    out = unique(t for t in whole if len(t) > 2 and t not in STOP_WORDS)
    return out if 0 < len(out) < len(terms) else []
