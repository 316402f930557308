"""The native-library boundary: panics and foreign errors become ours, by type."""

from __future__ import annotations

import errno

import pytest

from mcp_vector_search.errors import DiskFullError, StoreError
from mcp_vector_search.native import is_native_panic, mapped_errors, return_memory_to_os


def panic_type() -> type[BaseException]:
    # Every PyO3 extension makes its own `pyo3_runtime.PanicException(BaseException)`;
    # a class with that identity stands in for a Rust panic, which can't be provoked.
    return type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})


def test_a_panic_becomes_our_error_whatever_its_message() -> None:
    panic = panic_type()("KeyboardInterrupt: this text must not matter")
    with pytest.raises(StoreError) as info, mapped_errors(StoreError, "writing chunks"):
        raise panic
    assert info.value.__cause__ is panic
    sub = type("Specific", (panic_type(),), {"__module__": "elsewhere"})
    assert is_native_panic(sub())


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_interrupts_and_exits_pass_through(exc: BaseException) -> None:
    with pytest.raises(type(exc)), mapped_errors(StoreError, "reading"):
        raise exc


def test_foreign_errors_are_mapped_and_enospc_is_disk_full() -> None:
    with pytest.raises(StoreError), mapped_errors(StoreError, "reading"):
        raise ValueError("engine says no")
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(DiskFullError), mapped_errors(StoreError, "writing", disk_full=True):
        try:
            raise full
        except OSError as exc:
            raise RuntimeError("wrapped by the engine") from exc


def test_returning_memory_to_the_os_is_safe_to_call_any_time() -> None:
    # No figure to assert (RSS depends on the machine); it must neither fail nor free
    # what is still in use.
    kept = [bytearray(1 << 20) for _ in range(8)]
    del kept[::2]
    return_memory_to_os()
    assert all(len(b) == 1 << 20 and not any(b[:16]) for b in kept)
