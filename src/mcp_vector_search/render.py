"""Search results and status as text for people (JSON is wire.to_json). No I/O."""

from __future__ import annotations

import time
from collections.abc import Mapping

from .records import IndexStatus, SearchResult, VectorCoverage

_PHASES = {
    "scan": "scanning files",
    "lexical": "reading files",
    "embed": "embedding",
    "optimize": "compacting the index",
    "done": "done",
    "idle": "idle",
}


def search_text(result: SearchResult, *, files_only: bool = False, color: bool = False) -> str:
    if files_only:
        return "\n".join(dict.fromkeys(h.path for h in result.results))
    if not result.results:
        lines = ["no results"]
    else:
        lines = []
        for h in result.results:
            path, symbol = h.path, h.symbol or "-"
            if color:
                path, symbol = f"\x1b[1;36m{path}\x1b[0m", f"\x1b[1m{symbol}\x1b[0m"
            lines.append(f"{path}:{h.start_line}-{h.end_line}  {symbol}  ({h.kind})  {h.score:.4f}")
            lines.extend("    " + ln for ln in h.snippet.splitlines())
            lines.append("")
    footer = f"[{result.mode}; {result.index.embedded}/{result.index.chunks} chunks embedded]"
    lines.extend(f"note: {n}" for n in result.notes)
    lines.append(footer)
    return "\n".join(lines).rstrip("\n")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def status_text(status: IndexStatus) -> str:
    pct = f" ({100 * status.embedded / status.chunks:.0f}%)" if status.chunks else ""
    lines = [
        f"project:   {status.root}",
        f"index:     {status.index_dir} ({_size(status.size_bytes)})",
        f"files:     {status.files}",
        f"chunks:    {status.chunks}",
        f"embedded:  {status.embedded}{pct}",
        f"model:     {status.model_id} ({status.dimensions} dims)",
        f"last run:  {_last_run(status)}",
    ]
    if status.vectors is not None:
        lines.append(f"vectors:   {describe_vectors(status.vectors)}")
    if status.stale_files is not None:
        lines.append(f"stale:     {status.stale_files} files changed since the last run")
    if status.skipped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(status.skipped.items()))
        lines.append(f"skipped:   {reasons}")
    if status.indexing:
        lines.append(f"indexing:  {describe_progress(status.indexing)}")
    return "\n".join(lines)


def describe_vectors(v: VectorCoverage) -> str:
    """ "minilm-int8 (<id>) 3,124 of 3,142 chunks; 18 lexical only (embedding pending)"."""
    total = v.with_vectors + v.lexical_only
    if v.reason == "weights not installed":
        head = f"no {v.model} vectors: weights not installed"
        if v.with_vectors:
            head += f" ({v.with_vectors:,} of {total:,} chunks have them from before)"
        return f"{head}; search is lexical only; {v.hint}"
    line = f"{v.model} ({v.model_id}) {v.with_vectors:,} of {total:,} chunks"
    if v.lexical_only:
        line += f"; {v.lexical_only:,} lexical only ({v.reason})"
        if v.hint:
            line += f"; {v.hint}"
    return line


def _duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def _amount(rec: Mapping[str, object]) -> str:
    done, total, unit = rec.get("done"), rec.get("total"), rec.get("unit")
    if isinstance(done, int) and isinstance(total, int) and total and unit:
        return f"{done:,}/{total:,} {unit} ({100 * done / total:.0f}%)"
    return ""


def describe_progress(rec: Mapping[str, object]) -> str:
    """A writer's progress record as one line: phase, done/total, rate, ETA, and who."""
    phase = str(rec.get("phase") or "working")
    parts = [" ".join(p for p in (_PHASES.get(phase, phase), _amount(rec)) if p)]
    rate, eta, unit = rec.get("rate"), rec.get("eta_seconds"), rec.get("unit")
    if isinstance(rate, int | float) and rate > 0:
        parts.append(f"{rate:,.1f} {unit}/s")
    if isinstance(eta, int | float):
        parts.append(f"ETA {_duration(eta)}")
    holder = rec.get("holder")
    line = ", ".join(parts)
    return f"{line}; by {holder}" if holder else line


def _last_run(status: IndexStatus) -> str:
    rec = status.interrupted
    if status.last_outcome == "interrupted" and rec is not None:
        phase = str(rec.get("phase") or "")
        amount = _amount(rec)
        updated = rec.get("updated")
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(updated)))
            if isinstance(updated, int | float)
            else "at an unknown time"
        )
        at = f" at {amount}" if amount else ""
        return (
            f"interrupted while {_PHASES.get(phase, phase)}{at}, {when};"
            " `mcp-vector-search index` continues from there"
        )
    return status.last_run or "never"
