"""How a batch stands, for a progress display: :class:`BatchProgress` snapshots, sent to the
``on_progress`` callback after every change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from attrs import Factory, define, frozen

__all__ = ["BatchProgress", "ProgressHook", "Tracker"]

log = logging.getLogger("phota_async")


@frozen
class BatchProgress:
    """A snapshot of a batch. Counts are items (each training and each image call is one):
    ``done`` ended ok, ``failed``, ``skipped`` (budget, credit, photo problems...) and
    ``expired`` (outputs no longer downloadable); ``in_flight`` were sent and have not ended.
    ``trainings_done`` of ``trainings`` profiles are READY. ``spent`` is the price table's
    estimate, in dollars, of the paid work sent (in every run of the batch). ``eta`` is
    seconds to the end at this run's pace (None until something has ended)."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    expired: int = 0
    in_flight: int = 0
    trainings: int = 0
    trainings_done: int = 0
    spent: float = 0.0
    elapsed: float = 0.0
    eta: float | None = None

    @property
    def finished(self) -> int:
        """Items that have ended, however they ended."""
        return self.done + self.failed + self.skipped + self.expired


ProgressHook = Callable[[BatchProgress], None]
Ending = Literal["ok", "failed", "skipped", "expired"]


@define
class Tracker:
    """Counts what happens in a run and tells the hook (which must not block)."""

    total: int
    trainings: int
    hook: ProgressHook | None
    spent_cents: Callable[[], int]
    started: float = Factory(time.monotonic)
    counts: dict[str, int] = Factory(lambda: dict.fromkeys(("ok", "failed", "skipped",
                                                             "expired"), 0))
    in_flight: int = 0
    trainings_done: int = 0
    ended_here: int = 0  # items that ended in this run (not read from the journal)

    def sent(self) -> None:
        self.in_flight += 1
        self.emit()

    def ended(self, status: Ending, *, was_in_flight: bool, resumed: bool,
              training_ready: bool = False) -> None:
        self.counts[status] += 1
        self.in_flight -= was_in_flight
        self.trainings_done += training_ready
        self.ended_here += not resumed
        self.emit()

    def snapshot(self) -> BatchProgress:
        elapsed = time.monotonic() - self.started
        finished = sum(self.counts.values())
        eta = None
        if self.ended_here:
            eta = elapsed / self.ended_here * (self.total - finished)
        return BatchProgress(
            total=self.total, done=self.counts["ok"], failed=self.counts["failed"],
            skipped=self.counts["skipped"], expired=self.counts["expired"],
            in_flight=self.in_flight, trainings=self.trainings,
            trainings_done=self.trainings_done, spent=self.spent_cents() / 100,
            elapsed=elapsed, eta=eta,
        )

    def emit(self) -> None:
        if self.hook is None:
            return
        try:
            self.hook(self.snapshot())
        except Exception:  # a broken progress bar must not stop the batch
            log.exception("the batch progress callback raised")
