"""Turn planned segments into chunks whose embed_text fits the model's token window.

Token counting is the expensive part (the real counter runs the model's tokenizer), so it
is batched: one call for every whole segment, one for the lines of the segments that are
too long, and a verification call only when the counter turns out not to be additive
(line counts that do not sum to the whole) or when a line had to be cut by characters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..records import Chunk
from ._plan import Segment

TokenCounter = Callable[[Sequence[str]], list[int]]

OVERLAP = 0.2  # share of a piece's budget repeated at the start of the next piece
MAX_OVERLAP_ROWS = 10
SURELY_OVER_CHARS_PER_TOKEN = 24
_TITLE_PATH_CHARS = 100

# A run of n letters (or digits) counts ceil(n / 3): a word piece per three characters,
# counted in C by one findall. Per four undercounts short identifiers that WordPiece
# spells out in pieces (`wattr_on`, `spos`): ~2% of chunks overflowed instead of ~0.2%.
_RUN_PIECES = re.compile(r"[A-Za-z]{1,3}|\d{1,3}")
# Deletes letters, digits and whitespace: what remains is one token per character.
_NOT_SYMBOL = str.maketrans("", "", string.ascii_letters + string.digits + string.whitespace)


def _estimate(text: str) -> int:
    return len(text.translate(_NOT_SYMBOL)) + len(_RUN_PIECES.findall(text))


def estimate_tokens(texts: Sequence[str]) -> list[int]:
    """WordPiece-like token estimate, [CLS] and [SEP] included, for when no tokenizer
    is given.

    Each punctuation mark and non-ASCII character is a token, and each run of letters or
    digits one per three characters. On Python, JavaScript and C sources it is ~28% above
    the MiniLM tokenizer on average and below it for ~1% of 20-line blocks (by at most
    ~15%): a budget, not a guarantee; pass the model's counter for that. It is additive
    over lines (newlines are free), so the budgeting needs no verification pass.
    """
    return [_estimate(t) + 2 for t in texts]


def _join(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class _Prepared:
    seg: Segment
    title: str
    whole: str
    additive: bool = False
    head: str = ""  # header of the first piece (title + head, or a degraded form)
    cont: str = ""  # header of later pieces
    head_tokens: int = 0
    cont_tokens: int = 0


@dataclass(slots=True)
class _Piece:
    prep: _Prepared
    start: int  # rows, 0-based inclusive
    end: int
    first: bool
    # Character range within the row when a single line had to be cut.
    cut: tuple[int, int] | None = None
    verified: bool = False
    # A single row over the budget, still to be cut by characters (budget and its tokens
    # give the characters-per-token ratio of that very line).
    giant: bool = False
    budget: int = 0
    row_tokens: int = 0


def materialize(
    path: str,
    language: str,
    lines: Sequence[str],
    segments: Sequence[Segment],
    max_tokens: int,
    count: TokenCounter,
) -> list[Chunk]:
    if not segments:
        return []
    title_path = path if len(path) <= _TITLE_PATH_CHARS else "…" + path[-_TITLE_PATH_CHARS:]
    preps: list[_Prepared] = []
    for seg in segments:
        label = f"{seg.kind} {seg.symbol}" if seg.symbol else seg.kind
        title = f"{title_path} | {language} {label}"
        code = "\n".join(lines[seg.start : seg.end + 1])
        preps.append(_Prepared(seg, title, _join(title, seg.head, code)))

    # A single line longer than this many characters per token of budget overflows
    # with any real tokenizer and is cut by characters, each cut counted: counting it
    # whole first would only tokenize it one extra time.
    surely_long = max_tokens * SURELY_OVER_CHARS_PER_TOKEN

    def counted(p: _Prepared) -> bool:
        return p.seg.start < p.seg.end or len(p.whole) <= surely_long

    counts = _count(count, ["", *(p.whole for p in preps if counted(p))])
    specials = counts[0]
    found = iter(counts[1:])
    whole_counts = [next(found) if counted(p) else -1 for p in preps]

    pieces: list[_Piece] = []
    oversized: list[tuple[_Prepared, int]] = []
    for prep, n in zip(preps, whole_counts, strict=True):
        seg = prep.seg
        too_many_lines = seg.max_lines is not None and seg.end - seg.start + 1 > seg.max_lines
        # -1: not counted (surely too long).
        if 0 <= n <= max_tokens and not too_many_lines:
            prep.head = _join(prep.title, seg.head)
            pieces.append(_Piece(prep, seg.start, seg.end, True, verified=True))
        else:
            oversized.append((prep, n))

    if oversized:
        pieces.extend(_split_all(lines, oversized, specials, max_tokens, count))
        pieces = _verify(lines, pieces, max_tokens, count)

    pieces.sort(key=lambda p: (p.start, p.end, p.cut[0] if p.cut else 0))
    chunks: list[Chunk] = []
    seen: set[tuple[int, int, str]] = set()
    for p in pieces:
        chunk = _to_chunk(path, language, lines, p)
        key = (chunk.start_line, chunk.end_line, chunk.content)
        # Cuts of a repetitive line (`aaaa…`) can come out identical; the store keys chunks
        # by path, span and content, and a twin would add nothing to search anyway.
        if key not in seen:
            seen.add(key)
            chunks.append(chunk)
    return chunks


def _count(count: TokenCounter, texts: list[str]) -> list[int]:
    if not texts:
        return []
    result = list(count(texts))
    if len(result) != len(texts):
        raise ValueError(f"token counter returned {len(result)} counts for {len(texts)} texts")
    return result


def _split_all(
    lines: Sequence[str],
    oversized: list[tuple[_Prepared, int]],
    specials: int,
    max_tokens: int,
    count: TokenCounter,
) -> list[_Piece]:
    # One batch for every non-blank line of every oversized segment, plus the candidate
    # headers (full, title only) of each.
    texts: list[str] = []
    for prep, _ in oversized:
        seg = prep.seg
        full_head = _join(prep.title, seg.head)
        full_cont = _join(prep.title, seg.cont)
        texts.extend((full_head, full_cont, prep.title))
        for r in range(seg.start, seg.end + 1):
            if lines[r].strip():
                texts.append(lines[r])
    counts = _count(count, texts)

    row_tokens: dict[int, int] = {}
    pieces: list[_Piece] = []
    pos = 0
    code_room = max_tokens - specials
    for prep, whole in oversized:
        seg = prep.seg
        n_head, n_cont, n_title = (c - specials for c in counts[pos : pos + 3])
        pos += 3
        line_sum = 0
        for r in range(seg.start, seg.end + 1):
            if lines[r].strip():
                t = max(0, counts[pos] - specials)
                pos += 1
                row_tokens[r] = t
                line_sum += t
            else:
                row_tokens[r] = 0
        # Headers get at most half the window; past that the code would drown in context.
        half = code_room // 2
        prep.head, prep.head_tokens = _pick_header(
            (_join(prep.title, seg.head), n_head), (prep.title, n_title), half
        )
        prep.cont, prep.cont_tokens = _pick_header(
            (_join(prep.title, seg.cont), n_cont), (prep.title, n_title), half
        )
        # With an additive counter (WordPiece: newlines are plain whitespace) the line
        # counts predict every piece exactly, so the pieces need no second count.
        prep.additive = whole == specials + n_head + line_sum
        budget_first = max(1, code_room - prep.head_tokens)
        budget_cont = max(1, code_room - prep.cont_tokens)
        pieces.extend(_windows(prep, lines, row_tokens, budget_first, budget_cont))
    return pieces


def _pick_header(full: tuple[str, int], title: tuple[str, int], limit: int) -> tuple[str, int]:
    if full[1] <= limit:
        return full
    if title[1] <= limit:
        return title
    return "", 0


def _windows(
    prep: _Prepared,
    lines: Sequence[str],
    tokens: dict[int, int],
    budget_first: int,
    budget_cont: int,
) -> list[_Piece]:
    seg = prep.seg
    max_lines = seg.max_lines
    pieces: list[_Piece] = []
    s, b = seg.start, seg.end
    first = True
    while s <= b:
        while s <= b and not lines[s].strip():
            s += 1
        if s > b:
            break
        budget = budget_first if first else budget_cont
        if tokens[s] > budget:
            # A line longer than the window (minified code): cut by characters later.
            pieces.append(
                _Piece(prep, s, s, first, giant=True, budget=budget, row_tokens=tokens[s])
            )
            s += 1
            first = False
            continue
        total, e = 0, s
        while e <= b and total + tokens[e] <= budget and (max_lines is None or e - s < max_lines):
            total += tokens[e]
            e += 1
        e -= 1
        if e < b:
            # Prefer ending at a blank line in the window's last 40%: pieces then break
            # between statements or paragraphs rather than inside them.
            low = s + (e - s) * 3 // 5
            k = e
            while k > low and lines[k].strip():
                k -= 1
            if k > low:
                e = k - 1
        while e > s and not lines[e].strip():
            e -= 1
        pieces.append(_Piece(prep, s, e, first, verified=prep.additive))
        first = False
        nxt = e + 1
        while nxt <= b and not lines[nxt].strip():
            nxt += 1
        if nxt > b:
            break
        if tokens[nxt] > budget_cont:
            # The next line is cut by characters on its own; repeating context before it
            # would only produce a piece of overlap.
            s = nxt
            continue
        overlap_budget = int(budget_cont * OVERLAP)
        max_rows = min(MAX_OVERLAP_ROWS, (e - s + 1) // 3)
        ns, acc = e + 1, 0
        while (
            ns - 1 > s and e + 1 - (ns - 1) <= max_rows and acc + tokens[ns - 1] <= overlap_budget
        ):
            ns -= 1
            acc += tokens[ns]
        s = ns
    return pieces


def _text_of(lines: Sequence[str], p: _Piece) -> tuple[str, str]:
    """(content, embed_text) of a piece."""
    if p.cut is not None:
        content = lines[p.start][p.cut[0] : p.cut[1]]
    else:
        content = "\n".join(lines[p.start : p.end + 1])
    header = p.prep.head if p.first else p.prep.cont
    return content, _join(header, content)


def _verify(
    lines: Sequence[str], pieces: list[_Piece], max_tokens: int, count: TokenCounter
) -> list[_Piece]:
    """Count the pieces not known to fit; halve the ones that overflow until all fit."""
    done: list[_Piece] = []
    pending: list[_Piece] = []
    for p in pieces:
        if p.verified:
            done.append(p)
        elif p.giant:
            pending.extend(_cut_line(lines, p))
        else:
            pending.append(p)
    rounds = 0
    while pending:
        rounds += 1
        counts = _count(count, [_text_of(lines, q)[1] for q in pending])
        retry: list[_Piece] = []
        for q, n in zip(pending, counts, strict=True):
            halves = _halve(lines, q) if n > max_tokens and rounds <= 64 else None
            if halves:
                retry.extend(halves)
            else:
                # Only a counter charging more than the budget for one character ends up
                # here with an overflow; the piece is kept rather than the text lost.
                done.append(q)
        pending = retry
    return done


_BREAK_CHARS = frozenset(" \t,;{}()[]<>")


def _boundary(text: str, lo: int, hi: int) -> int:
    """A cut position in (lo, hi]: just after the last space or punctuation, else hi."""
    for i in range(hi - 1, lo, -1):
        if text[i] in _BREAK_CHARS:
            return i + 1
    return hi


def _cut_line(lines: Sequence[str], p: _Piece) -> list[_Piece]:
    """Split one row into character ranges about a window long, with a little overlap."""
    text = lines[p.start]
    n = len(text)
    # Characters per token of this very line; 10% short so most ranges fit at once.
    target = max(1, n * p.budget * 9 // (10 * max(1, p.row_tokens)))
    overlap = target // 10
    out: list[_Piece] = []
    a = 0
    while a < n:
        b = min(n, a + target)
        if b < n:
            b = _boundary(text, a + (target * 7) // 10, b)
        out.append(_Piece(p.prep, p.start, p.start, p.first and a == 0, cut=(a, b)))
        if b >= n:
            break
        a = max(a + 1, b - overlap)
    return out


def _halve(lines: Sequence[str], p: _Piece) -> list[_Piece] | None:
    """Two smaller pieces covering `p` (the second one with the continuation header)."""
    if p.start < p.end:
        mid = (p.start + p.end) // 2
        e1 = mid
        while e1 > p.start and not lines[e1].strip():
            e1 -= 1
        s2 = mid + 1
        while s2 < p.end and not lines[s2].strip():
            s2 += 1
        return [
            _Piece(p.prep, p.start, e1, p.first),
            _Piece(p.prep, s2, p.end, False),
        ]
    a, b = p.cut if p.cut is not None else (0, len(lines[p.start]))
    if b - a <= 1:
        return None
    m = _boundary(lines[p.start], a + (b - a) // 3, a + (b - a) // 2 + 1)
    if m >= b:
        m = a + (b - a) // 2
    return [
        _Piece(p.prep, p.start, p.start, p.first, cut=(a, m)),
        _Piece(p.prep, p.start, p.start, False, cut=(m, b)),
    ]


def _to_chunk(path: str, language: str, lines: Sequence[str], p: _Piece) -> Chunk:
    content, embed = _text_of(lines, p)
    seg = p.prep.seg
    return Chunk(
        path=path,
        start_line=p.start + 1,
        end_line=p.end + 1,
        kind=seg.kind,
        symbol=seg.symbol,
        language=language,
        content=content,
        embed_text=embed,
    )
