"""Hits and status -> text or JSON for people and programs. No I/O."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .records import Hit, IndexStatus, SearchResult


def hit_dict(hit: Hit) -> dict[str, Any]:
    return {
        "path": hit.path,
        "start_line": hit.start_line,
        "end_line": hit.end_line,
        "symbol": hit.symbol,
        "kind": hit.kind,
        "language": hit.language,
        "score": hit.score,
        "snippet": hit.snippet,
    }


def search_json(result: SearchResult) -> str:
    """The stable interface the benchmarks consume."""
    payload = {
        "query": result.query,
        "results": [hit_dict(h) for h in result.hits],
        "index": {"chunks": result.chunks, "embedded": result.embedded},
        "mode": result.mode,
        "notes": result.notes,
    }
    return json.dumps(payload, ensure_ascii=False)


def result_from_payload(payload: dict[str, Any]) -> SearchResult:
    """Rebuild a SearchResult from the JSON interface (the search daemon's answer)."""
    hits = [
        Hit(
            path=h["path"],
            start_line=h["start_line"],
            end_line=h["end_line"],
            symbol=h.get("symbol"),
            kind=h["kind"],
            language=h["language"],
            score=h["score"],
            snippet=h.get("snippet", ""),
        )
        for h in payload.get("results", [])
    ]
    index = payload.get("index", {})
    return SearchResult(
        payload.get("query", ""),
        hits,
        payload.get("mode", "hybrid"),
        int(index.get("chunks", 0)),
        int(index.get("embedded", 0)),
        list(payload.get("notes", [])),
    )


def search_text(result: SearchResult, *, files_only: bool = False, color: bool = False) -> str:
    if files_only:
        return "\n".join(dict.fromkeys(h.path for h in result.hits))
    if not result.hits:
        lines = ["no results"]
    else:
        lines = []
        for h in result.hits:
            path, symbol = h.path, h.symbol or "-"
            if color:
                path, symbol = f"\x1b[1;36m{path}\x1b[0m", f"\x1b[1m{symbol}\x1b[0m"
            lines.append(f"{path}:{h.start_line}-{h.end_line}  {symbol}  ({h.kind})  {h.score:.4f}")
            lines.extend("    " + ln for ln in h.snippet.splitlines())
            lines.append("")
    footer = f"[{result.mode}; {result.embedded}/{result.chunks} chunks embedded]"
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


def status_json(status: IndexStatus) -> str:
    return json.dumps(asdict(status), ensure_ascii=False)


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
