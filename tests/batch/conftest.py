"""Shared pieces of the batch tests: a fast emulator and client, small people, the styles, and a
way to stop a run at a checkpoint in-process (the kill tests use SIGKILL in real processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from phota_async import (
    AsyncPhota,
    Batch,
    HeadshotPlan,
    ItemResult,
    Person,
    PhotoPolicy,
    PollConfig,
    Style,
)
from phota_async.batch import ItemRecord, SqliteJournal
from phota_async.batch._crash import Crashpoints
from phota_async.emulator import PhotaEmulator, sample_photo
from tests.conftest import make_client

SCALE = 6000.0  # a training takes 0.2 s, an image job about 10 ms
STYLES = (
    Style("studio", "Studio headshot of [[person]], grey backdrop"),
    Style("outdoor", "Outdoor portrait of [[person]], golden hour"),
    Style("office", "Corporate headshot of [[person]] in a bright office"),
)
# Small photos train fast in tests; they pass the pre-flight once its floor is lowered.
SMALL = PhotoPolicy(min_side=64)


class Crash(BaseException):
    """The run stops here, as if the process had been killed (raised at a checkpoint)."""


def person(index: int, count: int = 5, size: int = 96) -> Person:
    return Person(f"person-{index}", [sample_photo(index * 50 + i, size=size)
                                      for i in range(count)])


def headshots(people: int = 3, **options: Any) -> HeadshotPlan:
    return HeadshotPlan([person(i) for i in range(people)], STYLES, tier="fast", **options)


@pytest.fixture
async def emu() -> AsyncIterator[PhotaEmulator]:
    async with PhotaEmulator(time_scale=SCALE) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: PhotaEmulator) -> AsyncIterator[AsyncPhota]:
    async with make_client(emu, poll=PollConfig(time_scale=SCALE)) as phota:
        yield phota


def new_batch(phota: AsyncPhota, out: Path, *, crash: str | None = None, **options: Any) -> Batch:
    options.setdefault("photo_policy", SMALL)
    options.setdefault("add_settle", 0.0)
    batch = Batch(phota, batch_id=options.pop("batch_id", "test"), out=out, **options)
    if crash is not None:  # private: in-process, a checkpoint raises instead of killing
        batch._crash = Crashpoints(crash, action=_raise_crash)
    return batch


def _raise_crash() -> None:
    raise Crash


async def run_batch(phota: AsyncPhota, out: Path, work: Any, **options: Any
                    ) -> list[ItemResult] | None:
    """Every result of one run; None when it was stopped by a ``crash=`` checkpoint."""
    async with new_batch(phota, out, **options) as batch:
        try:
            return [result async for result in batch.run(work)]
        except BaseException as exc:
            if _is_crash(exc):
                return None
            raise


async def run_fresh(emu: PhotaEmulator, out: Path, work: Any, **options: Any
                    ) -> list[ItemResult] | None:
    """:func:`run_batch` with a client of its own, closed afterwards: after a ``crash=`` run
    nothing of it polls on, as after a real crash."""
    async with make_client(emu, poll=PollConfig(time_scale=SCALE)) as phota:
        return await run_batch(phota, out, work, **options)


async def journaled(out: Path) -> dict[str, ItemRecord]:
    """The records of the journal a batch left in ``out``."""
    journal = SqliteJournal(out / "phota-journal.sqlite")
    await journal.open()
    try:
        return await journal.records()
    finally:
        await journal.aclose()


def _is_crash(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_crash(inner) for inner in exc.exceptions)
    return isinstance(exc, Crash)


def billed(emu: PhotaEmulator, kind: str) -> int:
    """How many charges of ``kind`` stand, net of refunds."""
    charges = sum(1 for c in emu.ledger if c.kind == kind)
    refunds = sum(1 for c in emu.ledger if c.kind == "refund" and
                  (c.job_id if kind == "image" else c.profile_id) is not None
                  and (kind == "image") == (c.job_id is not None))
    return charges - refunds


def decodes(path: Path) -> bool:
    with Image.open(path) as image:
        image.load()
    return True


def files(out: Path, pattern: str) -> list[Path]:
    """The files under ``out`` matching ``pattern`` (a plain function: tests read disks freely)."""
    return sorted(out.rglob(pattern))
