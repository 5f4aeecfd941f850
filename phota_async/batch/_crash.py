"""A test hook for the kill tests: ``PHOTA_BATCH_CRASH_AT=phase:N`` makes the process kill
itself with SIGKILL at the Nth checkpoint of ``phase`` in a run.

Phases: ``upload`` (each photo uploaded), ``training`` (the intent written, the profile added
but not yet journaled, journaled, READY but not journaled, journaled), ``submit`` (the intent
written, the job accepted but not yet journaled, journaled), ``wait`` (a job ended but not yet
journaled, journaled) and ``save`` (before the download, the files written under temporary
names, renamed, journaled). Unset, a checkpoint costs one comparison.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from .._exceptions import InvalidInputError

__all__ = ["CRASH_ENV", "PHASES", "Crashpoints"]

CRASH_ENV = "PHOTA_BATCH_CRASH_AT"
PHASES = ("upload", "training", "submit", "wait", "save")


def _kill_self() -> None:
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


class Crashpoints:
    """Counts checkpoints per phase and calls ``action`` (SIGKILL to this process) at the one
    ``spec`` (``phase:N``) names; in-process tests pass an action that raises instead."""

    def __init__(self, spec: str | None = None, action: Callable[[], None] = _kill_self) -> None:
        self._action = action
        self._phase: str | None = None
        self._at = 0
        self._seen = 0
        self._lock = threading.Lock()  # checkpoints may be passed in worker threads
        if spec:
            phase, _, count = spec.partition(":")
            if phase not in PHASES or not count.isdigit() or int(count) < 1:
                raise InvalidInputError(CRASH_ENV, f"{spec!r} is not valid",
                                        allowed=f"PHASE:N with PHASE one of {', '.join(PHASES)}")
            self._phase, self._at = phase, int(count)

    @classmethod
    def from_environment(cls) -> Crashpoints:
        """The checkpoints ``PHOTA_BATCH_CRASH_AT`` asks for (none when it is unset)."""
        return cls(os.environ.get(CRASH_ENV))

    def __call__(self, phase: str) -> None:
        if phase != self._phase:
            return
        with self._lock:
            self._seen += 1
            if self._seen != self._at:
                return
        self._action()
