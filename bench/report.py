"""Appending a dated, reproducible section to docs/benchmarks.md (shared by the benches)."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()}; load {load})"


def command() -> str:
    """The command line that produced the figures, as a reader would type it."""
    script = Path(sys.argv[0]).name
    return " ".join(["python", f"bench/{script}", *sys.argv[1:]])


def append_section(title: str, body: str = "", figures: Mapping[str, object] | None = None) -> None:
    parts = [
        f"## {title} — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}",
        f"Command: `{command()}`",
    ]
    if body:
        parts.append(body.strip())
    if figures:
        rows = "\n".join(f"| {k} | {v} |" for k, v in figures.items())
        parts.append("| figure | value |\n|---|---|\n" + rows)
    DOC.parent.mkdir(exist_ok=True)
    existing = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    DOC.write_text(existing.rstrip("\n") + "\n\n" + "\n\n".join(parts) + "\n", encoding="utf-8")
