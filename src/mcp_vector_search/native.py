"""Boundary helpers for native (Rust/C++) libraries.

PyO3 extensions raise `pyo3_runtime.PanicException` when Rust code panics. It derives from
BaseException (not Exception) and every PyO3 extension defines its own class object, so
it can't be imported once and named in an `except` clause. We recognise it by its type's
identity (module and qualified name of the class), never by message text.
"""

from __future__ import annotations

import errno
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import DiskFullError, MVSError


def is_native_panic(exc: BaseException) -> bool:
    # Along the MRO: a library may subclass the panic type for its own panics.
    return any(
        c.__module__ == "pyo3_runtime" and c.__qualname__ == "PanicException"
        for c in type(exc).__mro__
    )


def _is_enospc(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno == errno.ENOSPC:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


@contextmanager
def mapped_errors(
    error_type: Callable[[str], MVSError], what: str, *, disk_full: bool = False
) -> Iterator[None]:
    """Re-raise any foreign failure inside the block as `error_type`.

    KeyboardInterrupt, SystemExit and our own errors pass through untouched.
    """
    try:
        yield
    except MVSError:
        raise
    except Exception as exc:
        if disk_full and _is_enospc(exc):
            raise DiskFullError(f"disk full while {what}") from exc
        raise error_type(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    except BaseException as exc:
        if is_native_panic(exc):
            raise error_type(f"{what} failed: native panic in {type(exc).__module__}") from exc
        raise


def return_memory_to_os() -> None:
    """Collect garbage, then hand freed heap back to the kernel (glibc's malloc_trim).

    glibc keeps what a dropped native object (a model's session and arenas) freed in its
    arenas, still counted in the process's RSS, until told otherwise; measured on a search
    daemon, trimming after dropping the model took its RSS from ~150 to ~95 MB. Without
    glibc (musl, macOS) only the collection runs.
    """
    import ctypes  # here, not at the top: every cold read imports this module

    gc.collect()
    try:
        # The process's own symbols: libc's, without searching for it by name.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
