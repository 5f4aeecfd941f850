"""Batches that survive crashes: a journaled runner for many studio calls or whole headshot
pipelines, with a spending guard, per-item outcomes and progress.

    from phota_async import AsyncPhota
    from phota_async.batch import Batch, HeadshotPlan, Style, estimate_cost

    plan = HeadshotPlan.from_folder("people/", [Style("studio", "Headshot of [[person]]")])
    print(estimate_cost(plan))
    async with AsyncPhota() as phota, Batch(phota, batch_id="team", out="out/") as batch:
        async for result in batch.run(plan):
            print(result)

Every name here is also importable from ``phota_async``. One batch over many worker processes
and machines: :mod:`phota_async.batch.distributed` (arq on Redis, a :class:`RedisJournal`).
"""

from __future__ import annotations

from ._cost import CostEstimate, CostLine, estimate_cost
from ._crash import CRASH_ENV
from ._journal import ItemRecord, Journal, SqliteJournal, Stage
from ._plan import PERSON_REF, HeadshotPlan, ImageTask, Person, Style, find_people
from ._progress import BatchProgress
from ._redis_journal import RedisJournal
from ._results import ItemResult, ItemStatus
from ._runner import CADENCE_META_KEY, Batch

__all__ = [
    "CADENCE_META_KEY",
    "CRASH_ENV",
    "PERSON_REF",
    "Batch",
    "BatchProgress",
    "CostEstimate",
    "CostLine",
    "HeadshotPlan",
    "ImageTask",
    "ItemRecord",
    "ItemResult",
    "ItemStatus",
    "Journal",
    "Person",
    "RedisJournal",
    "SqliteJournal",
    "Stage",
    "Style",
    "estimate_cost",
    "find_people",
]
