"""One batch on many worker processes and machines: arq (asyncio jobs on Redis) hands out its
items, a :class:`RedisJournal` shared by every worker records them, and each item runs through
:class:`Batch`, exactly as in one process.

    # cats.py: the same file on every machine
    from phota_async import AsyncPhota, ImageTask
    from phota_async.batch import distributed

    REDIS = "redis://redis:6379/0"
    WORK = [ImageTask.generate(f"cat-{i}", f"A cat, take {i}") for i in range(200)]
    WorkerSettings = distributed.worker_settings(
        REDIS, batch_id="cats", work=WORK, out="/shared/cats", client=AsyncPhota)

    # once, from anywhere:  await distributed.enqueue("cats", WORK, REDIS)
    # on each machine:      arq cats.WorkerSettings

An item is an :class:`ImageTask`, or one person of a :class:`HeadshotPlan` (their training, then
their styles). Each is one arq job named by the batch id and the item's key, so enqueueing the
batch again adds nothing that is queued, running or finished within the hour (after that, the
job finds the item done in the journal). A worker claims an item in the journal before running
it (two workers never run one item at once), then runs it with ``Batch.run``: the same
``client_request_id`` and profile tag on every try, so a worker killed mid-item leaves nothing
that the next try pays for again, and the server answers a resent submit with the original job.

A killed worker's items are run again by any worker once arq's lease on them ends
(``job_timeout`` + 10 s); a worker restarted under the same ``name`` takes its own back at once.
Needs the extra: ``pip install 'phota-async[redis]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import attrs
from attrs import define, frozen

from .. import _constants as C
from .._client import AsyncPhota
from .._coord.redis import check_redis_url, display_redis_url
from .._exceptions import InvalidInputError, JournalError
from .._photos.report import PhotoPolicy
from ._ids import check_batch_id, check_name
from ._journal import ItemRecord, Stage
from ._plan import HeadshotPlan, ImageTask
from ._redis_journal import RedisJournal
from ._results import ItemResult
from ._runner import Batch, Work, check_work

__all__ = ["RUN_ITEM", "enqueue", "fingerprint", "worker_settings"]

log = logging.getLogger("phota_async")

RUN_ITEM = "phota_batch_item"  # the arq function's name
_SPEC, _WORKER = "phota_batch", "phota_batch_worker"  # what a worker keeps in arq's ctx


@frozen
class _Unit:
    """One arq job: an image task, or a person with their styles; ``keys`` are its records'."""

    key: str
    work: HeadshotPlan | tuple[ImageTask, ...]
    keys: frozenset[str]


def _units(work: HeadshotPlan | list[ImageTask]) -> dict[str, _Unit]:
    if isinstance(work, HeadshotPlan):
        return {p.name: _Unit(p.name, attrs.evolve(work, people=(p,)), frozenset(
            [p.name, *(f"{p.name}/{s.name}" for s in work.styles)])) for p in work.people}
    return {t.key: _Unit(t.key, (t,), frozenset([t.key])) for t in work}


def fingerprint(work: Work) -> str:
    """A digest of what ``work``'s items are: their keys, calls, prompts and options, and their
    images (a local file by its name, bytes by their hash). It binds a batch id to its items."""
    work = check_work(work)
    if isinstance(work, HeadshotPlan):
        doc: Any = {
            "people": sorted([p.name, _canonical(p.photos)] for p in work.people),
            "styles": sorted([s.name, s.prompt] for s in work.styles),
            "tier": work.tier.value, "images": work.num_output_images,
            "options": _canonical(work.options),
        }
    else:
        doc = sorted([t.key, t.endpoint, _canonical(t.arguments)] for t in work)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, Enum):
        return _canonical(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, os.PathLike):  # by name: machines may mount the photos elsewhere
        return "file:" + Path(value).name
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return type(value).__name__  # an open file or another reader: by its kind only


def _queue(prefix: str, batch_id: str) -> str:
    return f"{prefix}:batch:{batch_id}:queue"


def _job_id(prefix: str, batch_id: str, key: str) -> str:
    return f"{prefix}:batch:{batch_id}:item:{key}"


# --- Enqueueing -----------------------------------------------------------------------------


async def enqueue(batch_id: str, work: Work, redis_url: str, *,
                  prefix: str = C.COORD_PREFIX) -> int:
    """Put one arq job per item of ``work`` on batch ``batch_id``'s queue in Redis; how many
    were new (0 when the batch is queued already). Binds the batch id to ``work``'s
    :func:`fingerprint`; :class:`JournalError` when another batch holds the id or when Redis
    cannot be used."""
    batch_id = check_batch_id(batch_id)
    check_redis_url(redis_url)
    work = check_work(work)
    where = display_redis_url(redis_url)
    arq_connections = importlib.import_module("arq.connections")
    pool = arq_connections.ArqRedis.from_url(
        redis_url, socket_timeout=C.COORD_JOURNAL_TIMEOUT,
        socket_connect_timeout=C.COORD_JOURNAL_TIMEOUT)
    journal = RedisJournal(pool, batch_id, prefix=prefix, where=where)
    try:
        await journal.bind(fingerprint(work))
        added = 0
        for key in _units(work):
            job = await _redis_call(journal, pool.enqueue_job(
                RUN_ITEM, batch_id, key, _job_id=_job_id(prefix, batch_id, key),
                _queue_name=_queue(prefix, batch_id)))
            added += job is not None
        return added
    finally:
        await pool.aclose()


async def _redis_call(journal: RedisJournal, call: Any) -> Any:
    errors = importlib.import_module("redis.exceptions")
    try:
        return await call
    except (errors.RedisError, OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise JournalError(f"batch {journal.batch_id} cannot be enqueued in {journal.name}: "
                           f"{reason}", path=journal.name) from None


# --- The workers ----------------------------------------------------------------------------


@frozen
class _Spec:
    """What every worker of this settings object runs (built once, where the settings are)."""

    batch_id: str
    prefix: str
    where: str
    fingerprint: str
    units: dict[str, _Unit]
    out: Path
    client: Callable[[], AsyncPhota]
    name: str | None
    lease: float
    deadline: float
    options: dict[str, Any]


@define
class _Worker:
    """One worker process's client, journal and name, from ``on_startup`` to ``on_shutdown``."""

    phota: AsyncPhota
    journal: RedisJournal
    owner: str
    stack: contextlib.AsyncExitStack


def worker_settings(
    redis_url: str,
    *,
    batch_id: str,
    work: Work,
    out: str | os.PathLike[str],
    client: Callable[[], AsyncPhota],
    name: str | None = None,
    prefix: str = C.COORD_PREFIX,
    max_jobs: int = C.DISTRIBUTED_MAX_JOBS,
    job_timeout: float | None = None,
    photo_policy: PhotoPolicy | None = None,
    add_settle: float = C.BATCH_ADD_SETTLE,
    **arq_options: Any,
) -> type:
    """arq ``WorkerSettings`` for a worker of batch ``batch_id``: run them with
    ``arq module.WorkerSettings`` (or ``arq.worker.run_worker(WorkerSettings)``), one per process.

    Every worker must get the same ``work`` as :func:`enqueue` (a worker with other items
    refuses to start) and saves outputs under ``out`` (a shared folder, or one per machine).
    ``client`` makes the worker's one :class:`AsyncPhota` (``AsyncPhota`` itself reads the
    environment), opened at startup and closed at shutdown. ``name`` identifies the worker
    across restarts (unique among live workers, e.g. ``"host-1.worker-2"``): restarted, it
    takes back at once the items it held when it died. ``max_jobs`` items run at once per
    worker; an item may run ``job_timeout`` seconds (default: 10 minutes an image task, an hour
    a headshot person), after which it is tried again. ``photo_policy`` and ``add_settle`` are
    :class:`Batch`'s; ``arq_options`` go to arq's ``Worker`` (``max_tries``, ``poll_delay``...).
    """
    check_redis_url(redis_url)
    checked = check_work(work)
    if not callable(client):
        raise InvalidInputError("client", "must make an AsyncPhota",
                                allowed="a callable such as AsyncPhota or a lambda")
    timeout = _item_timeout(job_timeout, checked)
    spec = _Spec(
        batch_id=check_batch_id(batch_id), prefix=prefix, where=display_redis_url(redis_url),
        fingerprint=fingerprint(checked), units=_units(checked), out=Path(out), client=client,
        name=None if name is None else check_name(name, "name"),
        # An item gives up a little before arq cancels it; its claim ends before arq's own
        # lease on it (job_timeout + 10 s), so that the worker arq then hands it to finds it free.
        lease=timeout + 5, deadline=timeout - min(10.0, timeout / 10),
        options={"photo_policy": photo_policy, "add_settle": add_settle},
    )
    arq_worker = importlib.import_module("arq.worker")
    arq_connections = importlib.import_module("arq.connections")
    settings = {
        "functions": [arq_worker.func(_run_item, name=RUN_ITEM)],
        "queue_name": _queue(prefix, spec.batch_id),
        "redis_settings": arq_connections.RedisSettings.from_dsn(redis_url),
        "on_startup": _startup,
        "on_shutdown": _shutdown,
        "max_jobs": max_jobs,
        "job_timeout": timeout,
        "max_tries": C.DISTRIBUTED_MAX_TRIES,
        "ctx": {_SPEC: spec},
        **arq_options,
    }
    return type("WorkerSettings", (), settings)


def _item_timeout(job_timeout: float | None, work: HeadshotPlan | list[ImageTask]) -> float:
    if job_timeout is None:
        return (C.DISTRIBUTED_PERSON_TIMEOUT if isinstance(work, HeadshotPlan)
                else C.DISTRIBUTED_ITEM_TIMEOUT)
    if not isinstance(job_timeout, int | float) or isinstance(job_timeout, bool) or (
            job_timeout < 1):
        raise InvalidInputError("job_timeout", f"{job_timeout!r} is not allowed",
                                allowed="seconds, 1 or more")
    return float(job_timeout)


async def _startup(ctx: dict[str, Any]) -> None:
    """Bind (or check) the batch, open the client, check the output folder and the account,
    then take back what this worker held before a restart under its name."""
    spec: _Spec = ctx[_SPEC]
    journal = RedisJournal(ctx["redis"], spec.batch_id, prefix=spec.prefix, where=spec.where)
    await journal.bind(spec.fingerprint)
    stack = contextlib.AsyncExitStack()
    try:
        phota = await stack.enter_async_context(spec.client())
        async with Batch(phota, batch_id=spec.batch_id, out=spec.out, journal=journal):
            pass  # the same checks as a batch in one process: folder, batch id, account
        owner = spec.name or f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"
        if spec.name is not None:
            await _take_back(ctx["redis"], spec, journal, owner)
    except BaseException:
        await stack.aclose()
        raise
    ctx[_WORKER] = _Worker(phota, journal, owner, stack)


async def _take_back(redis: Any, spec: _Spec, journal: RedisJournal, owner: str) -> None:
    """The items this name held died with its last process: free them now, for arq too."""
    taken = await journal.take_back(owner)
    if taken:
        prefix = importlib.import_module("arq.constants").in_progress_key_prefix
        await redis.delete(*(prefix + _job_id(spec.prefix, spec.batch_id, k) for k in taken))
        log.warning("worker %s of batch %s took back %d unfinished items", owner,
                    spec.batch_id, len(taken))


async def _shutdown(ctx: dict[str, Any]) -> None:
    worker: _Worker | None = ctx.pop(_WORKER, None)
    if worker is not None:
        await worker.stack.aclose()


async def _run_item(ctx: dict[str, Any], batch_id: str, key: str) -> dict[str, str]:
    """The arq job: one item, claimed, run through ``Batch.run``; its items' statuses. Tried
    again later (arq's ``Retry``) when another worker holds it, when Redis failed, when it ran
    out of time, or when an item failed in a way that another try may fix."""
    spec: _Spec = ctx[_SPEC]
    worker: _Worker = ctx[_WORKER]
    unit = spec.units.get(key) if batch_id == spec.batch_id else None
    if unit is None:
        raise InvalidInputError("item", f"{batch_id}/{key} is not an item of this worker's "
                                f"batch {spec.batch_id!r}")
    retry = importlib.import_module("arq.worker").Retry
    later = min(C.DISTRIBUTED_RETRY_MAX,
                C.DISTRIBUTED_RETRY_INITIAL * 2 ** (ctx.get("job_try", 1) - 1))
    try:
        if not await worker.journal.claim(key, worker.owner, spec.lease):
            raise retry(defer=later)  # another worker runs it now
        try:
            async with asyncio.timeout(spec.deadline):
                results = await _run(worker.phota, spec, worker.journal.scoped(unit.keys),
                                     unit.work)
                records = await worker.journal.scoped(unit.keys).records()
        finally:
            with contextlib.suppress(JournalError):
                await worker.journal.release(key, worker.owner)
    except (JournalError, TimeoutError) as exc:
        log.warning("batch %s item %s: %s; tried again in %.0f s", batch_id, key, exc, later)
        raise retry(defer=later) from None
    if any(_worth_another_try(result, records) for result in results):
        raise retry(defer=later)
    return {result.key: result.status for result in results}


async def _run(phota: AsyncPhota, spec: _Spec, journal: RedisJournal,
               work: HeadshotPlan | tuple[ImageTask, ...]) -> list[ItemResult]:
    """One item through the batch runner (the same steps, ids and tags as in one process)."""
    size = len(work.styles) if isinstance(work, HeadshotPlan) else len(work)
    width = max(1, min(size, C.BATCH_CONCURRENCY))
    batch = Batch(phota, batch_id=spec.batch_id, out=spec.out, journal=journal,
                  concurrency=width, download_concurrency=width, **spec.options)
    async with batch, contextlib.aclosing(batch.run(work)) as results:
        return [result async for result in results]


def _worth_another_try(result: ItemResult, records: dict[str, ItemRecord]) -> bool:
    """Failed, but not for good: the journal keeps its intent (a network error, a 5xx...)."""
    record = records.get(result.key)
    return result.status == "failed" and (record is None or record.stage is not Stage.FAILED)
