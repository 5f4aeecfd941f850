"""What the steps of one run share: the journal's records, the budget, the work queues, the
progress counts, and how an item's ending is told (:class:`Run`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define, field

from .._client import AsyncPhota
from .._exceptions import APIStatusError, InvalidInputError, JobFailedError
from .._jobs.handles import Job, TrainingJob
from .._photos.report import PhotoPolicy
from ._crash import Crashpoints
from ._ids import path_part
from ._journal import ItemRecord, Journal
from ._plan import HeadshotPlan, ImageTask, Person, Style
from ._progress import Tracker
from ._results import ItemResult, ItemStatus

__all__ = ["Budget", "ImageItem", "PersonItem", "Run", "end_unexpectedly", "is_final",
           "reason_of", "when_done"]


@define
class Budget:
    """The spending guard, in cents. ``spent`` counts paid work sent (or maybe sent), in every
    run; ``held`` is set aside for work a started person will send (their styles)."""

    limit: int | None
    spent: int = 0
    held: int = 0

    def _fits(self, cents: int) -> bool:
        return self.limit is None or self.spent + self.held + cents <= self.limit

    def hold(self, cents: int) -> bool:
        """Set ``cents`` aside if they fit; False when they would cross the limit."""
        if not self._fits(cents):
            return False
        self.held += cents
        return True

    def spend(self, cents: int, *, held: bool) -> bool:
        """Count ``cents`` as sent, from a hold or (if they fit) from what is left."""
        if held:
            self.held -= cents
        elif not self._fits(cents):
            return False
        self.spent += cents
        return True

    def release(self, cents: int) -> None:
        """Give back a hold that will not be spent."""
        self.held -= cents

    def refund(self, cents: int) -> None:
        """Work the server refused or failed is not billed."""
        self.spent -= cents


@define(eq=False)
class ImageItem:
    """One image call of this run. A headshot item gets its ``task`` once its person's profile
    is READY; ``held`` when its cost is part of its person's hold."""

    key: str
    cost_cents: int
    task: ImageTask | None = None
    person: Person | None = None
    style: Style | None = None
    held: bool = False

    def outputs(self, out: Path) -> tuple[Path, str]:
        """The folder of its files and their stem: ``out/alice`` and ``studio``."""
        *folders, stem = self.key.split("/")
        return out.joinpath(*(path_part(f) for f in folders)), path_part(stem)

    def result(self, status: ItemStatus, **fields: Any) -> ItemResult:
        return ItemResult(self.key, "image", status,
                          person=self.person.name if self.person else None,
                          style=self.style.name if self.style else None, **fields)


@define(eq=False)
class PersonItem:
    """One person's training of this run, and the styles that wait for it."""

    person: Person
    tag: str
    cost_cents: int
    styles: list[ImageItem]
    held_cents: int = 0

    @property
    def key(self) -> str:
        return self.person.name

    def result(self, status: ItemStatus, **fields: Any) -> ItemResult:
        return ItemResult(self.key, "training", status, person=self.person.name, **fields)


Finished = tuple[ImageItem, Job | None] | tuple[PersonItem, TrainingJob]


@define(eq=False)
class Run:
    """The state of one run of a batch, shared by its workers."""

    phota: AsyncPhota
    journal: Journal
    batch_id: str
    out: Path
    records: dict[str, ItemRecord]
    budget: Budget
    tracker: Tracker
    crash: Crashpoints
    policy: PhotoPolicy | None
    add_settle: float
    plan: HeadshotPlan | None
    tell: Callable[[ItemResult], None]
    remaining: int
    stop_reason: str | None = None
    sends: asyncio.Queue[ImageItem] = field(factory=asyncio.Queue)
    people: asyncio.Queue[PersonItem] = field(factory=asyncio.Queue)
    finished: asyncio.Queue[Finished] = field(factory=asyncio.Queue)
    all_ended: asyncio.Event = field(factory=asyncio.Event)
    ended: set[str] = field(factory=set)

    async def write(self, record: ItemRecord) -> ItemRecord:
        """Journal ``record`` (committed when this returns) and remember it."""
        await self.journal.write(record)
        self.records[record.key] = record
        return record

    def stop(self, reason: str) -> None:
        """Send no new paid work in this run (a 402, a refused key): ``reason`` says why."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def end(self, result: ItemResult, *, was_in_flight: bool) -> None:
        """Tell how an item ended (once per item)."""
        if result.key in self.ended:
            raise AssertionError(f"batch item {result.key} ended twice")
        self.ended.add(result.key)
        ready = result.kind == "training" and result.ok
        self.tracker.ended(result.status, was_in_flight=was_in_flight, resumed=result.resumed,
                           training_ready=ready)
        self.tell(result)
        self.remaining -= 1
        if self.remaining == 0:
            self.all_ended.set()


def end_unexpectedly(run: Run, item: ImageItem | PersonItem, exc: Exception) -> None:
    """A bug or a surprise while handling ``item``: it (and a person's styles) end failed."""
    reason = f"unexpected {type(exc).__name__}: {exc}"
    items: list[ImageItem | PersonItem] = [item]
    if isinstance(item, PersonItem):
        items += item.styles
    for each in items:
        if each.key not in run.ended:
            run.end(each.result("failed", reason=reason, error=exc), was_in_flight=False)


def is_final(exc: BaseException) -> bool:
    """True when the server refused or failed the work for good (resending cannot help);
    False for what a later run should try again (network, 429, 5xx)."""
    if isinstance(exc, InvalidInputError | JobFailedError):
        return True
    return isinstance(exc, APIStatusError) and exc.status in (400, 404, 422)


def reason_of(exc: BaseException) -> str:
    """One line for a result: the error's type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def when_done(job: Job | TrainingJob, callback: Callable[[], None]) -> None:
    """Call ``callback`` once ``job`` has ended: one entry in the client's poll scheduler and
    no task per job (the way ``as_completed`` waits), so a batch of thousands stays small."""
    if job.done():
        asyncio.get_running_loop().call_soon(callback)
        return
    future = job.add_waiter()

    def ended(_: object) -> None:
        job.remove_waiter()
        callback()

    future.add_done_callback(ended)
