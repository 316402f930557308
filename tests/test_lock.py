import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcp_vector_search.errors import IndexLockedError
from mcp_vector_search.lock import WriterLock


def test_second_writer_is_refused_with_holder(tmp_path: Path) -> None:
    first = WriterLock(tmp_path)
    first.acquire(command="index")
    try:
        with pytest.raises(IndexLockedError) as info:
            WriterLock(tmp_path).acquire()
        assert f"pid {os.getpid()}" in str(info.value)
    finally:
        first.release()
    second = WriterLock(tmp_path)
    second.acquire()
    second.release()


def test_release_twice_is_harmless(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path)
    lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held


def test_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from mcp_vector_search.lock import WriterLock
        WriterLock(Path({str(tmp_path)!r})).acquire()
        print("held", flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "held"
            with pytest.raises(IndexLockedError):
                WriterLock(tmp_path).acquire()
            proc.kill()
            proc.wait(timeout=10)
            lock = WriterLock(tmp_path)
            lock.acquire()  # the kernel released the dead holder's lock
            lock.release()
        finally:
            proc.kill()
            proc.wait(timeout=10)


def test_wait_gives_up_at_timeout(tmp_path: Path) -> None:
    holder = WriterLock(tmp_path)
    holder.acquire()
    try:
        with pytest.raises(IndexLockedError):
            WriterLock(tmp_path).acquire(wait=True, timeout=0.3)
    finally:
        holder.release()
