"""Reading one file safely: decided by what it contains, never by an exception.

read_source() re-checks on the open file what walk() saw (a regular file, inside the
root, not larger than the limit), decodes it, and skips binary, minified and generated
content with a reason instead of indexing it.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import stat
from dataclasses import dataclass

from ..config import Config
from .names import (
    BINARY,
    GENERATED,
    MINIFIED,
    SYMLINK_LOOP,
    SYMLINK_OUTSIDE,
    TOO_LARGE,
    UNREADABLE,
    VANISHED,
)
from .walk import Candidate, Skipped

_MINIFIED_MAX_LINE = 5_000
_MINIFIED_MAX_AVG_LINE = 500
_MINIFIED_MIN_SIZE = 4_096
_GENERATED_HEAD_LINES = 5
_GENERATED_MARKERS = (
    "do not edit",
    "do not modify",
    "not be edited",
    "not be modified",
    "not be changed by hand",
)
# Control bytes that do not occur in text (tab, LF, FF, CR and ESC do).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 12, 13, 27))
_CONTROL_MAX_FRACTION = 0.10
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    text: str
    file_hash: str
    size: int
    mtime_ns: int


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@functools.lru_cache(maxsize=64)
def _real_root_of(root: str) -> str:
    return os.path.realpath(root)


def _root_of(cand: Candidate) -> str | None:
    full = str(cand.abs_path)
    suffix = "/" + cand.path
    if not full.endswith(suffix):
        return None
    return full[: -len(suffix)] or "/"


def _real_path_of_fd(fd: int, fallback: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


def read_source(cand: Candidate, config: Config) -> Source | Skipped:
    """Read and decode one candidate; any problem becomes a Skipped, never an exception."""
    path = cand.path
    try:
        return _read_source(cand, config)
    except MemoryError:
        return Skipped(path, TOO_LARGE)
    except OSError:
        return Skipped(path, UNREADABLE)


def _read_source(cand: Candidate, config: Config) -> Source | Skipped:
    path = cand.path
    abs_path = str(cand.abs_path)
    try:
        st = os.stat(abs_path)
    except (FileNotFoundError, NotADirectoryError):
        return Skipped(path, VANISHED)  # also a symlink whose target went away
    except OSError as exc:
        return Skipped(path, SYMLINK_LOOP if exc.errno == errno.ELOOP else UNREADABLE)
    if stat.S_ISDIR(st.st_mode):
        return Skipped(path, VANISHED)  # the file is gone; a directory took its name
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, UNREADABLE)  # never open FIFOs, sockets, devices
    if st.st_size > config.max_file_size:
        return Skipped(path, TOO_LARGE)
    try:
        # O_NONBLOCK: if a FIFO replaced the file since the stat, open must not hang.
        fd = os.open(abs_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (FileNotFoundError, NotADirectoryError):
        return Skipped(path, VANISHED)
    except OSError as exc:
        return Skipped(path, SYMLINK_LOOP if exc.errno == errno.ELOOP else UNREADABLE)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            return Skipped(path, UNREADABLE)
        root = _root_of(cand)
        if root is not None:
            # Checked on the open file, so a symlink retargeted after walk() cannot
            # smuggle a file from outside the root into the index.
            real = _real_path_of_fd(fd, abs_path)
            real_root = _real_root_of(root)
            if not (real.startswith(real_root.rstrip("/") + "/")):
                return Skipped(path, SYMLINK_OUTSIDE)
        limit = config.max_file_size
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            return Skipped(path, TOO_LARGE)  # it grew since the walk
        data = b"".join(chunks)
    finally:
        os.close(fd)
    text = _decode(data)
    if text is None:
        return Skipped(path, BINARY)
    reason = _content_skip_reason(text, len(data))
    if reason is not None:
        return Skipped(path, reason)
    return Source(path, text, hash_bytes(data), len(data), fst.st_mtime_ns)


def _decode(data: bytes) -> str | None:
    """Decode file bytes to text, or None when they look binary."""
    text: str | None = None
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        try:
            text = data.decode("utf-32")
        except UnicodeDecodeError:
            text = None  # more likely UTF-16 text starting with U+0000; try that
    if text is None and data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    if text is None and data.startswith(b"\xef\xbb\xbf"):
        text = data.decode("utf-8-sig", "replace")
    if text is not None:
        return None if "\x00" in text else text
    # NUL anywhere, not just in the first 8 KiB: the bytes are in memory anyway, and a
    # NUL in the middle of "text" means the chunker and tokenizer would see garbage.
    if b"\x00" in data:
        return None
    head = data[:_SNIFF_BYTES]
    if head:
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
        if controls / len(head) > _CONTROL_MAX_FRACTION:
            return None
    # Invalid UTF-8 (Latin-1 comments, a stray byte) is still text worth searching.
    return data.decode("utf-8", "replace")


def _content_skip_reason(text: str, size: int) -> str | None:
    head = text[:4096].split("\n", _GENERATED_HEAD_LINES)[:_GENERATED_HEAD_LINES]
    head_low = "\n".join(head).lower()
    if "generated" in head_low and any(m in head_low for m in _GENERATED_MARKERS):
        return GENERATED
    if size >= _MINIFIED_MIN_SIZE:
        lines = text.count("\n") + 1
        if len(text) / lines > _MINIFIED_MAX_AVG_LINE:
            return MINIFIED
        if _has_line_longer_than(text, _MINIFIED_MAX_LINE):
            return MINIFIED
    return None


def _has_line_longer_than(text: str, limit: int) -> bool:
    """Whether some line exceeds `limit` characters, without splitting the text.

    Probes blocks of limit//2 characters: a line longer than `limit` must contain a whole
    block wherever the blocks start, so only a newline-free block needs a closer look.
    That is a few dozen C-level finds for a large file instead of one string per line.
    """
    n = len(text)
    step = max(limit // 2, 1)
    k = 0
    while k + step <= n:
        if text.find("\n", k, k + step) != -1:
            k += step
            continue
        start = text.rfind("\n", 0, k) + 1
        end = text.find("\n", k + step)
        if end == -1:
            end = n
        if end - start > limit:
            return True
        k = end + 1
    return False
