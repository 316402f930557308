"""Search results and status as text for people (JSON is wire.to_json). No I/O."""

from __future__ import annotations

from .records import IndexStatus, SearchResult


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
        f"last run:  {status.last_run or 'never'}",
    ]
    if status.stale_files is not None:
        lines.append(f"stale:     {status.stale_files} files changed since the last run")
    if status.skipped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(status.skipped.items()))
        lines.append(f"skipped:   {reasons}")
    if status.indexing:
        lines.append(f"indexing:  {status.indexing}")
    return "\n".join(lines)
