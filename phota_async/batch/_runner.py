"""``Batch``: many paid calls, or whole per-person headshot pipelines, that survive a crash.

    async with Batch(phota, batch_id="spring-headshots", out="out/") as batch:
        print(await batch.estimate(plan))
        async for result in batch.run(plan):
            print(result)

Run the same code again after a crash (or a ``kill -9``) and it finishes the work without
paying twice: the journal (``out/phota-journal.sqlite`` by default) holds every intent before
its paid request is sent, and every outcome after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from .. import _constants as C
from .._client import AsyncPhota
from .._exceptions import InvalidInputError, JournalError, PhotaError
from .._photos.report import PhotoPolicy
from . import _files
from ._cost import CostEstimate, headshot_cost, tasks_cost
from ._crash import Crashpoints
from ._ids import check_batch_id, profile_tag
from ._image_steps import finish_image, send_image
from ._journal import ItemRecord, Journal, SqliteJournal, Stage
from ._plan import HeadshotPlan, ImageTask
from ._progress import BatchProgress, ProgressHook, Tracker
from ._results import ItemResult
from ._run import Budget, ImageItem, PersonItem, Run, end_unexpectedly
from ._training_steps import finish_training, start_training

__all__ = ["CADENCE_META_KEY", "Batch", "Work", "check_work"]

log = logging.getLogger("phota_async")

Work = HeadshotPlan | Iterable[ImageTask]
# Where the poll cadence's learned state is kept in the journal's meta store (a JSON document).
CADENCE_META_KEY = "poll_cadence"
_SPENT_STAGES = frozenset(Stage) - {Stage.FAILED}


class Batch:
    """A crash-safe batch on one client: studio calls (:class:`ImageTask`) or a headshot
    pipeline (:class:`HeadshotPlan`), journaled so that a re-run finishes the work without
    paying twice.

    ``batch_id`` names the batch for good (1..64 of ``[A-Za-z0-9._-]``): it makes every
    ``client_request_id`` and profile tag, and a journal refuses any other batch id or account.
    ``out`` receives the outputs (``out/<person>/<style>-0.jpg``, ``out/<key>-0.jpg``) and, by
    default, the journal (``journal=`` takes a path or any :class:`Journal`). ``max_spend``
    (dollars, by the price table, over every run of the batch) stops sending new paid work that
    would cross it. ``concurrency`` bounds submits and trainings being prepared at once,
    ``download_concurrency`` items being saved; waiting on jobs costs nothing. ``photo_policy``
    is the pre-flight's (a person whose photos it refuses is skipped, the others go on).
    ``on_progress`` gets a :class:`BatchProgress` after every change (it must not block).
    ``add_settle`` is how long a re-run lets a ``profiles/add`` that a killed run may have left
    in flight reach the server before looking it up by its tag.
    """

    def __init__(
        self,
        phota: AsyncPhota,
        *,
        batch_id: str,
        out: str | os.PathLike[str],
        journal: str | os.PathLike[str] | Journal | None = None,
        max_spend: float | None = None,
        concurrency: int = C.BATCH_CONCURRENCY,
        download_concurrency: int = C.BATCH_DOWNLOAD_CONCURRENCY,
        photo_policy: PhotoPolicy | None = None,
        on_progress: ProgressHook | None = None,
        add_settle: float = C.BATCH_ADD_SETTLE,
    ) -> None:
        self._phota = phota
        self.batch_id = check_batch_id(batch_id)
        self.out = Path(out)
        if max_spend is not None and (not isinstance(max_spend, int | float) or max_spend < 0):
            raise InvalidInputError("max_spend", f"{max_spend!r} is not valid",
                                    allowed="dollars, 0 or more, or None for no limit")
        self._limit = None if max_spend is None else round(max_spend * 100)
        for name, value in (("concurrency", concurrency),
                            ("download_concurrency", download_concurrency)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(name, f"{value!r} is not valid", allowed="1 or more")
        self._concurrency = concurrency
        self._download_concurrency = download_concurrency
        self._policy = photo_policy
        self._on_progress = on_progress
        self._add_settle = max(0.0, add_settle)
        if journal is None:
            journal = self.out / C.BATCH_JOURNAL_NAME
        self.journal: Journal = (journal if isinstance(journal, Journal)
                                 else SqliteJournal(journal))
        self._crash = Crashpoints.from_environment()
        self._cadence_state: str | None = None
        self._open = False
        self._running = False
        self._tracker: Tracker | None = None

    def __repr__(self) -> str:
        return f"Batch(batch_id={self.batch_id!r}, out={str(self.out)!r})"

    # --- Lifetime ------------------------------------------------------------------------

    async def open(self) -> None:
        """Check the output folder, open the journal and check that it is this batch's."""
        if self._open:
            return
        await anyio.to_thread.run_sync(_files.check_writable, self.out)
        await self.journal.open()
        try:
            await self._check_identity()
            await self.load_cadence_state()
        except BaseException:
            await self.journal.aclose()
            raise
        self._open = True

    async def aclose(self) -> None:
        """Save what the poll cadence learned, then close the journal (and free its lock)."""
        if not self._open:
            return
        self._open = False
        try:
            await self.save_cadence_state()
        finally:
            await self.journal.aclose()

    async def __aenter__(self) -> Batch:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _check_identity(self) -> None:
        """Refuse a journal of another batch, or of another account once it holds records."""
        journal, account = self.journal, self._phota.account_fingerprint
        stored = await journal.get_meta("batch_id")
        if stored is not None and stored != self.batch_id:
            raise JournalError(
                f"journal {journal.name} belongs to batch {stored!r}, not {self.batch_id!r}: "
                f"pass batch_id={stored!r} to resume it, or use another journal",
                path=journal.name)
        other_account = await journal.get_meta("account") not in (None, account)
        if other_account and await journal.records():
            raise JournalError(
                f"journal {journal.name} was written with another API key or base URL; "
                "its jobs and profiles belong to that account: use it there, or use "
                "another journal", path=journal.name)
        if stored is None:
            await journal.set_meta("batch_id", self.batch_id)
        await journal.set_meta("account", account)

    # --- The poll cadence's memory -------------------------------------------------------

    async def load_cadence_state(self) -> None:
        """Give the client what the poll cadence learned in earlier runs (a small JSON document
        under the journal's meta key ``poll_cadence``), so a resumed run is warm from its first
        job. A document that cannot be used only costs a cold start: it is logged, not raised."""
        saved = await self.journal.get_meta(CADENCE_META_KEY)
        if saved is None:
            return
        try:
            self._phota.load_cadence_state(json.loads(saved))
        except (ValueError, TypeError) as exc:  # InvalidInputError is a ValueError
            log.warning("journal %s: the saved poll cadence is not usable (%s); starting cold",
                        self.journal.name, exc)

    async def save_cadence_state(self) -> None:
        """Save what the poll cadence learned so far (see :meth:`load_cadence_state`); done as
        items end, so that even a killed run leaves it behind, and when the batch closes."""
        state = json.dumps(self._phota.cadence_state(), separators=(",", ":"))
        if state != self._cadence_state:
            self._cadence_state = state
            await self.journal.set_meta(CADENCE_META_KEY, state)

    # --- Estimates and progress ----------------------------------------------------------

    async def estimate(self, work: Work) -> CostEstimate:
        """What ``work`` still costs by the price table: items that no run has sent yet."""
        records = {key: r for key, r in (await self._records()).items() if not r.unpaid}
        if isinstance(work, HeadshotPlan):
            people = sum(1 for p in work.people if p.name not in records)
            images = sum(1 for p in work.people for s in work.styles
                         if f"{p.name}/{s.name}" not in records)
            return headshot_cost(work, people=people, images=images)
        return tasks_cost([task for task in work if task.key not in records])

    @property
    def progress(self) -> BatchProgress | None:
        """The current run's progress (the last one's once it ended), or None before a run."""
        return None if self._tracker is None else self._tracker.snapshot()

    async def _records(self) -> dict[str, ItemRecord]:
        if not self._open:
            raise PhotaError("open the batch first: 'async with Batch(...) as batch:'")
        return await self.journal.records()

    # --- Running -------------------------------------------------------------------------

    async def run(self, work: Work) -> AsyncGenerator[ItemResult, None]:
        """Run (or resume) ``work``; yield each item's :class:`ItemResult` as it ends.

        Items an earlier run finished are yielded first, marked ``resumed``. One item's failure
        never ends the others; a 402 or a refused key stops new paid work (the items left end
        ``skipped``) while the work already sent finishes and is saved. To stop early, leave
        the loop inside ``contextlib.aclosing(batch.run(work))``: closing the iterator stops
        the run (the journal keeps everything it has done).
        """
        if self._running:
            raise PhotaError("this batch is already running")
        plan, people, images = self._items(work)
        records = await self._records()
        self._running = True
        results: asyncio.Queue[ItemResult | None] = asyncio.Queue()
        run = self._new_run(records, plan, people, images, results.put_nowait)
        driver = asyncio.create_task(self._drive(run, people, images, results))
        try:
            while (result := await results.get()) is not None:
                if result.kind == "image" and not result.resumed:
                    await self.save_cadence_state()
                yield result
            await driver  # raises what ended the run early (a journal that failed, say)
        finally:
            self._running = False
            if not driver.done():
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await driver

    def _items(self, work: Work) -> tuple[HeadshotPlan | None, list[PersonItem],
                                            list[ImageItem]]:
        work = check_work(work)
        if isinstance(work, HeadshotPlan):
            people = []
            for person in work.people:
                styles = [ImageItem(f"{person.name}/{style.name}", work.image_cents,
                                    person=person, style=style) for style in work.styles]
                people.append(PersonItem(person, profile_tag(self.batch_id, person.name),
                                         work.training_cents, styles))
            return work, people, []
        return None, [], [ImageItem(task.key, task.cost_cents, task=task) for task in work]

    def _new_run(
        self, records: dict[str, ItemRecord], plan: HeadshotPlan | None,
        people: Sequence[PersonItem], images: Sequence[ImageItem],
        tell: Callable[[ItemResult], None],
    ) -> Run:
        keys = {p.key for p in people} | {s.key for p in people for s in p.styles} | {
            i.key for i in images}
        spent = sum(r.cost_cents for key, r in records.items()
                    if key in keys and r.stage in _SPENT_STAGES and not r.unpaid)
        budget = Budget(self._limit, spent=spent)
        total = len(people) + sum(len(p.styles) for p in people) + len(images)
        self._tracker = Tracker(total, len(people), self._on_progress, lambda: budget.spent)
        return Run(self._phota, self.journal, self.batch_id, self.out, records, budget,
                   self._tracker, self._crash, self._policy, self._add_settle, plan, tell,
                   remaining=total)

    async def _drive(
        self, run: Run, people: Sequence[PersonItem], images: Sequence[ImageItem],
        results: asyncio.Queue[ItemResult | None],
    ) -> None:
        """The workers of one run; ends once every item has ended."""
        try:
            outputs = [i.outputs(self.out) for p in people for i in p.styles]
            outputs += [i.outputs(self.out) for i in images]
            await anyio.to_thread.run_sync(_files.sweep_partials, outputs)
            for person in people:
                run.people.put_nowait(person)
            for image in images:
                run.sends.put_nowait(image)
            if run.remaining == 0:
                return
            async with anyio.create_task_group() as group:
                for _ in range(self._concurrency):
                    group.start_soon(_worker, run, run.sends, send_image)
                    group.start_soon(_worker, run, run.people, start_training)
                for _ in range(self._download_concurrency):
                    group.start_soon(_worker, run, run.finished, _finish)
                await run.all_ended.wait()
                group.cancel_scope.cancel()
        finally:
            results.put_nowait(None)


def check_work(work: Work) -> HeadshotPlan | list[ImageTask]:
    """``work`` as a batch runs it: a plan, or a list of image tasks with unique keys
    (InvalidInputError otherwise)."""
    if isinstance(work, HeadshotPlan):
        return work
    tasks = list(work)
    for task in tasks:
        if not isinstance(task, ImageTask):
            raise InvalidInputError("work", f"{task!r} is not an ImageTask",
                                    allowed="a HeadshotPlan or a list of ImageTask")
    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        twice = sorted({key for key in keys if keys.count(key) > 1})
        raise InvalidInputError("work", f"keys {twice} are used more than once",
                                allowed="a unique key per item")
    return tasks


async def _finish(run: Run, item: ImageItem | PersonItem, handle: Any) -> None:
    if isinstance(item, PersonItem):
        await finish_training(run, item, handle)
    else:
        await finish_image(run, item, handle)


async def _worker(run: Run, queue: asyncio.Queue[Any], step: Callable[..., Awaitable[None]]
                  ) -> None:
    """Take work from ``queue`` forever. An unexpected error ends that item as failed, never the
    batch; a journal that cannot be written ends the batch (nothing more is safe to send)."""
    while True:
        work = await queue.get()
        entry = work if isinstance(work, tuple) else (work,)
        try:
            await step(run, *entry)
        except JournalError:
            raise
        except Exception as exc:
            log.exception("batch item %s failed unexpectedly", entry[0].key)
            end_unexpectedly(run, entry[0], exc)
