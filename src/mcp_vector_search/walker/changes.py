"""What changed between the index and the tree: one diff for the indexer, the no-op
snapshot and `status`, so all three agree on what a run would touch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..records import INDEXED, FileState
from .names import CONTENT_SKIPS
from .walk import Candidate, Skipped, WalkResult


@dataclass(slots=True)
class Changes:
    changed: list[Candidate] = field(default_factory=list)  # to read (again)
    skipped: list[Skipped] = field(default_factory=list)  # for another reason than recorded
    deleted: list[str] = field(default_factory=list)  # recorded, but not walked now

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.skipped) + len(self.deleted)


def needs_reading(prev: FileState | None, cand: Candidate) -> bool:
    """Whether a walked file must be read: new, moved (size or mtime), or last skipped
    for a transient reason.

    A file skipped for what it contains (binary, minified, ...) stays skipped until it
    changes; re-reading 1,300 binaries made every no-op run on Django pay for them.
    """
    return (
        prev is None
        or (prev.status != INDEXED and prev.status not in CONTENT_SKIPS)
        or prev.size != cand.size
        or prev.mtime_ns != cand.mtime_ns
    )


def diff(states: Mapping[str, FileState], walked: WalkResult, *, force: bool = False) -> Changes:
    """The work that brings `states` (what the index recorded) in line with `walked`.

    `force` reads every walked file again.
    """
    out = Changes()
    for cand in walked.files:
        if force or needs_reading(states.get(cand.path), cand):
            out.changed.append(cand)
    for skip in walked.skipped:
        prev = states.get(skip.path)
        if prev is None or prev.status != skip.reason:
            out.skipped.append(skip)
    seen = {c.path for c in walked.files}
    seen.update(s.path for s in walked.skipped)
    out.deleted = [p for p in states if p not in seen]
    return out
