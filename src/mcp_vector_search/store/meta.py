"""The index's meta: reading meta.json without importing an engine (kept light for
`status`, the search daemon client and model checks), and the checks every engine makes
on open: schema version, and one model per index."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelMismatchError, SchemaError

META_FILE = "meta.json"


def read_meta(index_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((index_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_meta(
    meta: Mapping[str, object], *, model_id: str, dimensions: int, where: str, newest: int
) -> None:
    """Refuse an index of a newer schema, or one built with another model."""
    version = meta.get("schema_version")
    if not isinstance(version, int) or version > newest:
        raise SchemaError(
            f"index at {where} has schema {version!r}; this version reads up to {newest}",
            hint="upgrade mcp-vector-search, or `mcp-vector-search reset --yes` and re-index",
        )
    if meta.get("model_id") != model_id or meta.get("dimensions") != dimensions:
        raise ModelMismatchError(
            f"index at {where} was built with model {meta.get('model_id')!r}"
            f" ({meta.get('dimensions')} dims); this run uses {model_id!r} ({dimensions} dims)",
            hint="rebuild it with `mcp-vector-search index --force`, or set the model back",
        )
