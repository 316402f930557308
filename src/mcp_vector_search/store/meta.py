"""The index's meta.json, readable without importing a storage engine (kept light for
`status`, the search daemon client and model checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

META_FILE = "meta.json"


def read_meta(index_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((index_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
