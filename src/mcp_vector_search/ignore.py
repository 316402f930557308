"""Gitignore-style pattern matching with git's own semantics.

Patterns are compiled the way git's dir.c + wildmatch.c interpret them, and matched
against *bytes* paths: git compares bytes, so `?` matches one byte of a multi-byte
UTF-8 name there, and undecodable names still match. Keeping bytes end to end makes the
walker agree with `git ls-files` on every name, not just ASCII ones.

A rule list is ordered highest priority first; the first rule that matches decides
(that is git's "last matching line wins", read backwards, which lets deeper
.gitignore files be prepended cheaply while walking down).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

# Where a rule came from. Only negations from our own ignore file may re-include a
# built-in exclude (node_modules, build, ...): a `!*/` whitelist idiom in a .gitignore
# is about git, and must not drag node_modules into the index.
SOURCE_GIT = 0
SOURCE_MVS = 1
SOURCE_CONFIG = 2

# How a rule matches; checked in this order in match_rules, cheapest first.
_EXACT_NAME = 0  # no wildcard, no slash: basename equality
_ENDSWITH_NAME = 1  # "*literal", no slash: git's PATTERN_FLAG_ENDSWITH fast path
_REGEX_NAME = 2  # wildcard, no slash: matched against the basename
_EXACT_PATH = 3  # no wildcard, has a slash: equality with the path below the base
_REGEX_PATH = 4  # wildcard and a slash: matched against the path below the base

_UTF8_BOM = b"\xef\xbb\xbf"
_WILDCARD_BYTES = frozenset(b"*?[\\")


class Rule(NamedTuple):
    """One compiled pattern line.

    `base_len` is the length of the directory prefix (with its trailing slash) of the
    ignore file the rule came from; path-anchored rules match the path after it.
    """

    negated: bool
    dir_only: bool
    mode: int
    operand: object  # bytes for the exact modes, a bound fullmatch for the regex ones
    base_len: int
    source: int
    pattern: str  # the original line, for diagnostics


def _trim_trailing_spaces(line: bytes) -> bytes:
    # Port of dir.c:trim_trailing_spaces: unescaped trailing spaces go, tabs stay.
    last_space = -1
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c == 0x20:
            if last_space < 0:
                last_space = i
        elif c == 0x5C:  # backslash protects the next byte, even a space
            i += 1
            if i >= n:
                return line
            last_space = -1
        else:
            last_space = -1
        i += 1
    return line[:last_space] if last_space >= 0 else line


_POSIX_CLASSES: dict[bytes, bytes] = {
    # git's sane_ctype is ASCII-only, so the classes are too.
    b"alnum": rb"A-Za-z0-9",
    b"alpha": rb"A-Za-z",
    b"blank": rb" \t",
    b"cntrl": rb"\x00-\x1f\x7f",
    b"digit": rb"0-9",
    b"graph": rb"\x21-\x7e",
    b"lower": rb"a-z",
    b"print": rb"\x20-\x7e",
    b"punct": rb"\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e",
    b"space": rb" \t\n\r",
    b"upper": rb"A-Z",
    b"xdigit": rb"0-9A-Fa-f",
}


def _byte_re(c: int) -> bytes:
    return b"\\x%02x" % c


class _Abort(Exception):
    """The pattern can never match (wildmatch's WM_ABORT_ALL on a malformed pattern)."""


def _translate_class(pat: bytes, i: int) -> tuple[bytes, int]:
    """Translate the bracket expression starting at pat[i] == '['; return (regex, next i).

    Mirrors wildmatch.c's do/while loop, quirks included: the first byte after '[' (or
    after the negation) is always a member, so `[]a]` holds ']'; a '-' is a range only
    between two members; `[:name:]` inside is a POSIX class, an unknown one aborts.
    """
    n = len(pat)
    i += 1
    if i >= n:
        raise _Abort
    negated = False
    if pat[i] in (0x21, 0x5E):  # '!' or '^'
        negated = True
        i += 1
    items: list[bytes] = []
    prev: int = 0
    first = True
    while True:
        if i >= n:
            raise _Abort
        c = pat[i]
        if c == 0x5D and not first:  # ']' closes, except as the first member
            break
        first = False
        if c == 0x5C:  # backslash: next byte literally
            i += 1
            if i >= n:
                raise _Abort
            c = pat[i]
            items.append(_byte_re(c))
            prev = c
        elif c == 0x2D and prev and i + 1 < n and pat[i + 1] != 0x5D:  # a range
            i += 1
            hi = pat[i]
            if hi == 0x5C:
                i += 1
                if i >= n:
                    raise _Abort
                hi = pat[i]
            if prev <= hi:
                items.append(_byte_re(prev) + b"-" + _byte_re(hi))
            prev = 0
        elif c == 0x5B and i + 1 < n and pat[i + 1] == 0x3A:  # '[:'
            j = i + 2
            while j < n and pat[j] != 0x5D:
                j += 1
            if j >= n:
                raise _Abort
            if j - (i + 2) - 1 < 0 or pat[j - 1] != 0x3A:
                # No ":]": the '[' is an ordinary member and scanning resumes after it.
                items.append(_byte_re(c))
                prev = c
            else:
                name = pat[i + 2 : j - 1]
                cls = _POSIX_CLASSES.get(name)
                if cls is None:
                    raise _Abort
                items.append(cls)
                prev = 0
                i = j
        else:
            items.append(_byte_re(c))
            prev = c
        i += 1
    body = b"".join(items)
    # With WM_PATHNAME a class never matches '/', whatever it lists.
    if negated:
        return b"[^/" + body + b"]", i + 1
    if not body:
        return b"(?!)", i + 1
    return b"(?:(?!/)[" + body + b"])", i + 1


def _translate(pat: bytes, star_start: int) -> bytes:
    """Translate a wildmatch pattern (WM_PATHNAME) into a regex body.

    `star_start` is the offset that counts as "start of pattern" for the `**` rule in
    addition to 0: git matches the literal prefix of a path pattern separately and runs
    wildmatch on the rest, so `foo**/bar` treats that `**` as leading.
    """
    out: list[bytes] = []
    i = 0
    n = len(pat)
    while i < n:
        c = pat[i]
        if c == 0x2A:  # '*'
            j = i
            while j < n and pat[j] == 0x2A:
                j += 1
            if j - i >= 2:
                after_slash = i in (0, star_start) or pat[i - 1] == 0x2F
                before_slash = (
                    j == n
                    or pat[j] == 0x2F
                    or (pat[j] == 0x5C and j + 1 < n and pat[j + 1] == 0x2F)
                )
                if after_slash and before_slash:
                    if j < n and pat[j] == 0x2F:
                        # "**/" may also match zero directories.
                        out.append(b"(?:.*/)?")
                        i = j + 1
                    else:
                        out.append(b".*")
                        i = j
                    continue
            out.append(b"[^/]*")
            i = j
        elif c == 0x3F:  # '?'
            out.append(b"[^/]")
            i += 1
        elif c == 0x5C:  # backslash
            if i + 1 >= n:
                raise _Abort  # a trailing backslash can never match in wildmatch
            out.append(_byte_re(pat[i + 1]))
            i += 2
        elif c == 0x5B:  # '['
            regex, i = _translate_class(pat, i)
            out.append(regex)
        else:
            out.append(_byte_re(c))
            i += 1
    return b"".join(out)


def _has_wildcard(pat: bytes) -> bool:
    return any(c in _WILDCARD_BYTES for c in pat)


def compile_rule(line: bytes | str, *, base_len: int = 0, source: int = SOURCE_GIT) -> Rule | None:
    """Compile one already-trimmed pattern line; None for blanks, comments and no-ops."""
    raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
    shown = raw.decode("utf-8", "replace")
    if not raw or raw.startswith(b"#"):
        return None
    negated = raw.startswith(b"!")
    pat = raw[1:] if negated else raw
    dir_only = pat.endswith(b"/")
    if dir_only:
        pat = pat[:-1]  # git strips exactly one trailing slash
    if not pat:
        return None
    if b"/" not in pat:
        if not _has_wildcard(pat):
            return Rule(negated, dir_only, _EXACT_NAME, pat, base_len, source, shown)
        if pat.startswith(b"*") and not _has_wildcard(pat[1:]):
            return Rule(negated, dir_only, _ENDSWITH_NAME, pat[1:], base_len, source, shown)
        try:
            body = _translate(pat, 0)
        except _Abort:
            return None
        return Rule(
            negated,
            dir_only,
            _REGEX_NAME,
            re.compile(body, re.S).fullmatch,
            base_len,
            source,
            shown,
        )
    if pat.startswith(b"/"):
        pat = pat[1:]
    if not _has_wildcard(pat):
        return Rule(negated, dir_only, _EXACT_PATH, pat, base_len, source, shown)
    prefix = 0
    while pat[prefix] not in _WILDCARD_BYTES:
        prefix += 1
    try:
        body = _translate(pat, prefix)
    except _Abort:
        return None
    return Rule(
        negated, dir_only, _REGEX_PATH, re.compile(body, re.S).fullmatch, base_len, source, shown
    )


def split_lines(data: bytes) -> list[bytes]:
    """Split an ignore file the way git reads it: BOM, CRLF and trailing spaces handled."""
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    lines = []
    for line in data.split(b"\n"):
        if not line or line.startswith(b"#"):
            continue
        if line.endswith(b"\r"):
            line = line[:-1]
        lines.append(_trim_trailing_spaces(line))
    return lines


def parse_rules(
    data: bytes | Iterable[bytes | str], *, base_len: int = 0, source: int = SOURCE_GIT
) -> list[Rule]:
    """Compile an ignore file (bytes) or a list of pattern lines, in file order."""
    lines: Iterable[bytes | str] = split_lines(data) if isinstance(data, bytes) else data
    rules = []
    for line in lines:
        rule = compile_rule(line, base_len=base_len, source=source)
        if rule is not None:
            rules.append(rule)
    return rules


def match_rules(rules: Sequence[Rule], path: bytes, name: bytes, is_dir: bool) -> Rule | None:
    """Return the deciding rule for `path` (rules highest priority first), or None.

    `path` is relative to the directory the rules' base_len counts from; `name` is its
    last component (passed in because the walker already has it).
    """
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        mode = rule.mode
        operand = rule.operand
        if mode == _EXACT_NAME:
            hit = name == operand
        elif mode == _ENDSWITH_NAME:
            hit = name.endswith(operand)  # type: ignore[arg-type]
        elif mode == _REGEX_NAME:
            hit = operand(name) is not None  # type: ignore[operator]
        else:
            sub = path[rule.base_len :] if rule.base_len else path
            hit = sub == operand if mode == _EXACT_PATH else operand(sub) is not None  # type: ignore[operator]
        if hit:
            return rule
    return None


class PatternSet:
    """A standalone gitignore-style pattern list, rooted at one directory.

    Used for the `include` / `exclude` settings. Two questions can be asked:
    `ignores` has git's semantics (a path inside a matched directory is matched);
    `decide` only looks at the path itself and reports the deciding rule.
    """

    __slots__ = ("rules",)

    def __init__(self, patterns: Iterable[str], *, source: int = SOURCE_CONFIG) -> None:
        # Highest priority first: the last line in the list wins, as in a .gitignore.
        self.rules: tuple[Rule, ...] = tuple(reversed(parse_rules(patterns, source=source)))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def decide(self, path: bytes, is_dir: bool) -> Rule | None:
        return match_rules(self.rules, path, path.rpartition(b"/")[2], is_dir)

    def ignores(self, path: str | bytes, is_dir: bool = False) -> bool:
        """Git semantics for a full relative posix path: parents are checked first."""
        raw = path.encode("utf-8", "surrogateescape") if isinstance(path, str) else path
        raw = raw.strip(b"/")
        parts = raw.split(b"/")
        for k in range(1, len(parts) + 1):
            sub = b"/".join(parts[:k])
            rule = self.decide(sub, is_dir or k < len(parts))
            if rule is not None and not rule.negated:
                return True
        return False
