"""A stop request shared by the lifecycle (which sets it from signals) and the workers."""

from __future__ import annotations

import threading

from .errors import Interrupted


class StopToken:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int | None = None) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)

    def interrupted(self, message: str) -> Interrupted:
        return Interrupted(message, signum=self.signum)
