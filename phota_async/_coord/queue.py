"""One batch over many worker processes with arq (asyncio jobs on Redis), each item done once.

- :func:`enqueue_items` puts one arq job per item, its arq id derived from the batch id and the
  item key: enqueueing a batch again adds nothing that is queued, running or recently finished.
- :func:`run_batch_item` is the arq function. It skips an item the journal already shows
  finished, runs the item through the runner given in the worker's context, and journals the
  outcome. A worker killed mid-item leaves the arq job to be run again by another worker after
  ``job_timeout``; the runner resends the same deterministic ``client_request_id``, so the server
  returns the original job instead of billing a second one.
- :func:`worker_settings` builds the settings for ``arq`` (or ``arq.worker.Worker(**settings)``).

The runner (what one item is: a studio call, a per-person pipeline) belongs to the batch runner;
here it is any ``async def run_item(batch_id, item_key, journal) -> state`` returning one of
``FINAL_STATES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .journal import FINAL_STATES, RedisJournal, check_batch_id

__all__ = ["RUN_ITEM", "ItemRunner", "enqueue_items", "item_job_id", "run_batch_item",
           "worker_settings"]

RUN_ITEM = "phota_batch_item"
RUNNER_KEY = "phota_run_item"
ItemRunner = Callable[[str, str, RedisJournal], Awaitable[str]]


def item_job_id(batch_id: str, item_key: str) -> str:
    """The arq job id of one item: the same on every enqueue, so arq keeps one job per item."""
    return f"phota:{check_batch_id(batch_id)}:{item_key}"


async def enqueue_items(pool: Any, batch_id: str, item_keys: Iterable[str]) -> int:
    """Enqueue one arq job per item on ``pool`` (an ``arq.ArqRedis``); how many were new."""
    added = 0
    for item_key in item_keys:
        job = await pool.enqueue_job(
            RUN_ITEM, batch_id, item_key, _job_id=item_job_id(batch_id, item_key)
        )
        added += job is not None
    return added


async def run_batch_item(ctx: dict[str, Any], batch_id: str, item_key: str) -> str:
    """The arq function: one item of one batch, skipped if the journal shows it finished."""
    journal = RedisJournal(ctx["redis"], batch_id)
    entry = await journal.entry(item_key)
    if entry.get("state") in FINAL_STATES:
        return entry["state"]  # finished before a restart or a second delivery
    runner: ItemRunner = ctx[RUNNER_KEY]
    state = await runner(batch_id, item_key, journal)
    if state not in FINAL_STATES:
        raise ValueError(f"the item runner returned {state!r}, not one of {sorted(FINAL_STATES)}")
    await journal.record(item_key, {"state": state})
    return state


def worker_settings(
    redis_url: str,
    run_item: ItemRunner,
    *,
    job_timeout: float = 600.0,
    max_jobs: int = 16,
    **options: Any,
) -> dict[str, Any]:
    """Keyword arguments for ``arq.worker.Worker`` running :func:`run_batch_item` with
    ``run_item``; ``job_timeout`` is also how long a killed worker's item waits to be taken
    over."""
    arq_connections = importlib.import_module("arq.connections")
    arq_worker = importlib.import_module("arq.worker")
    ctx = dict(options.pop("ctx", None) or {})
    ctx[RUNNER_KEY] = run_item
    return {
        "functions": [arq_worker.func(run_batch_item, name=RUN_ITEM)],
        "redis_settings": arq_connections.RedisSettings.from_dsn(redis_url),
        "job_timeout": job_timeout,
        "max_jobs": max_jobs,
        "ctx": ctx,
        **options,
    }
