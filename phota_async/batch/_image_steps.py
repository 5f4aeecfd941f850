"""The steps of one image item: send (intent journaled first), wait (no task per job), save
(download, temporary files, rename, journal). Each item ends exactly once through
``Run.end``; an item's failure never ends the others.

A re-run starts each item from its journal record: saved items are told as they were, jobs
already submitted are re-attached from their tokens, finished but unsaved ones are downloaded
from the URLs on record (polled once more if those have expired), and only an intent whose
fate is unknown is sent again, with the same ``client_request_id``.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
import attrs

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    InsufficientCreditError,
    InvalidInputError,
    JobFailedError,
    PhotaError,
)
from .._jobs.handles import Job
from .._jobs.results import ImageResult
from .._wire.models import KnownSubjects
from . import _files
from ._ids import client_request_id
from ._journal import ItemRecord, Stage
from ._results import ItemResult
from ._run import ImageItem, Run, is_final, reason_of, when_done

__all__ = ["finish_image", "send_image"]

_RESUMABLE = (Stage.SUBMITTED, Stage.SUCCEEDED, Stage.EXPIRED, Stage.SAVED)


class _Expired(Exception):
    """The outputs' URLs have expired, and polling the job again gave no fresh ones."""


async def send_image(run: Run, item: ImageItem) -> None:
    """Start (or resume) one image item; its job's ending comes back through ``run.finished``."""
    record = run.records.get(item.key)
    if record is not None and _ended_before(run, record):
        run.end(_told(run, item, record), was_in_flight=False)
    elif record is not None and record.stage in _RESUMABLE:
        run.tracker.sent()
        if record.token and record.stage is Stage.SUBMITTED:
            _watch(run, item, _reattach(run, record.token))
        else:  # finished earlier: save from the URLs on record (or poll for fresh ones)
            run.finished.put_nowait((item, None))
    else:
        await _submit(run, item, record)


def _reattach(run: Run, token: str) -> Job:
    job = run.phota.jobs.from_token(token)
    assert isinstance(job, Job)
    return job


def _watch(run: Run, item: ImageItem, job: Job) -> None:
    when_done(job, lambda: run.finished.put_nowait((item, job)))


async def _submit(run: Run, item: ImageItem, record: ItemRecord | None) -> None:
    if run.stop_reason is not None:
        if item.held and record is None:
            run.budget.release(item.cost_cents)
        run.end(item.result("skipped", reason=run.stop_reason), was_in_flight=False)
        return
    if record is None or record.unpaid:  # nothing billed: the budget decides, then the intent
        if not run.budget.spend(item.cost_cents, held=item.held):
            run.end(item.result("skipped", reason=_over_budget(run)), was_in_flight=False)
            return
        record = await run.write(ItemRecord(
            item.key, "image", Stage.SENDING, item.cost_cents,
            client_request_id=client_request_id(run.batch_id, item.key), sent_at=time.time(),
        ))
    run.tracker.sent()
    run.crash("submit")
    try:
        job = await _call(run, item, str(record.client_request_id))
    except PhotaError as exc:
        await _refused(run, item, record, exc)
        return
    run.crash("submit")
    if job.id is not None:  # else a server that answered at once: nothing to re-attach
        await run.write(record.update(stage=Stage.SUBMITTED, job_id=job.id,
                                      token=job.to_token()))
    run.crash("submit")
    _watch(run, item, job)


async def _call(run: Run, item: ImageItem, crid: str) -> Job:
    task = item.task
    assert task is not None, "a headshot item is sent once its profile is READY"
    studio = getattr(run.phota, task.endpoint)
    job: Job = await studio(**task.arguments, client_request_id=crid)
    return job


async def _refused(run: Run, item: ImageItem, record: ItemRecord, exc: PhotaError) -> None:
    """A submit that failed: stop on 402 and 401/403, journal what is final, keep the rest
    (the record stays an intent: the next run resends it with the same id)."""
    if isinstance(exc, InsufficientCreditError | AuthenticationError):
        run.budget.refund(item.cost_cents)
        await run.write(record.update(error=reason_of(exc)))  # refused: unpaid, sent again
        run.stop(f"stopped sending: {reason_of(exc)}")
        run.end(item.result("skipped", reason=run.stop_reason, error=exc), was_in_flight=True)
        return
    if isinstance(exc, InvalidInputError):  # refused here, nothing sent: fixable, not final
        run.budget.refund(item.cost_cents)
    elif is_final(exc):
        run.budget.refund(item.cost_cents)
        await run.write(record.update(stage=Stage.FAILED, error=reason_of(exc)))
    run.end(item.result("failed", reason=reason_of(exc), error=exc), was_in_flight=True)


async def finish_image(run: Run, item: ImageItem, job: Job | None) -> None:
    """A job ended (or was found ended in the journal): journal it, then save its outputs."""
    record = run.records[item.key]
    if job is not None:
        try:
            result = await job
        except PhotaError as exc:
            run.crash("wait")
            if isinstance(exc, JobFailedError):
                run.budget.refund(item.cost_cents)
                await run.write(record.update(stage=Stage.FAILED, error=reason_of(exc)))
            run.end(item.result("failed", reason=reason_of(exc), error=exc, job_id=job.id),
                    was_in_flight=True)
            return
        run.crash("wait")
        if not result.images:
            record = await run.write(record.update(stage=Stage.SUCCEEDED,
                                                   urls=tuple(result.download_urls)))
        run.crash("wait")
    else:
        result = _on_record(run, record)
    await _save(run, item, record, result)


def _on_record(run: Run, record: ItemRecord) -> ImageResult:
    """A result for the URLs a journal holds, downloaded with the client's transport."""
    ctx = run.phota._ctx  # the batch is part of the SDK: it shares the client's downloads
    return ImageResult(images=[], download_urls=list(record.urls),
                       known_subjects=KnownSubjects(), job_id=record.job_id,
                       transport=ctx.transport, downloads=ctx.downloads)


async def _save(run: Run, item: ImageItem, record: ItemRecord, result: ImageResult) -> None:
    run.crash("save")
    try:
        record, blobs = await _download(run, record, result)
        finals = _finals(run, item, blobs)
    except _Expired as exc:
        await run.write(record.update(stage=Stage.EXPIRED, error=str(exc)))
        run.end(item.result("expired", reason=str(exc), job_id=record.job_id),
                was_in_flight=True)
        return
    except PhotaError as exc:  # kept as it is: the next run tries the download again
        run.end(item.result("failed", reason=reason_of(exc), error=exc, job_id=record.job_id),
                was_in_flight=True)
        return
    temporaries = await anyio.to_thread.run_sync(_files.write_temporaries, finals, blobs)
    run.crash("save")
    await anyio.to_thread.run_sync(_files.commit, temporaries, finals)
    run.crash("save")
    paths = tuple(str(path.relative_to(run.out)) for path in finals)
    await run.write(record.update(stage=Stage.SAVED, paths=paths, urls=(), error=None))
    run.crash("save")
    run.end(item.result("ok", paths=tuple(finals), job_id=record.job_id,
                        cost=item.cost_cents / 100), was_in_flight=True)


async def _download(
    run: Run, record: ItemRecord, result: ImageResult
) -> tuple[ItemRecord, list[bytes]]:
    """The outputs' bytes. URLs that have expired are fetched again once, fresh from a poll of
    the job; still expired, the item ends ``expired``."""
    if result.images:
        return record, list(result.images)
    if record.stage is not Stage.EXPIRED and result.download_urls:
        try:
            return record, await result.read()
        except APIStatusError as exc:
            if not _is_expired(exc):
                raise
    snapshot = await run.phota.jobs.get(str(record.job_id))
    fresh = list(snapshot.result.download_urls) if snapshot.result else []
    if not fresh or fresh == list(record.urls):
        raise _Expired(_expired_reason(record))
    record = await run.write(record.update(urls=tuple(fresh)))
    try:
        return record, await attrs.evolve(result, download_urls=fresh).read()
    except APIStatusError as exc:
        if _is_expired(exc):
            raise _Expired(_expired_reason(record)) from None
        raise


def _is_expired(exc: APIStatusError) -> bool:
    """A signed URL past its time: 403 (S3 and the emulator) or an URL_EXPIRED error type."""
    return exc.status == 403 or (exc.error_type or "").upper() == "URL_EXPIRED"


def _expired_reason(record: ItemRecord) -> str:
    return (f"the download URLs of job {record.job_id} have expired (they are valid 24 h) and "
            "polling the job gave no fresh ones: its outputs cannot be fetched any more")


def _finals(run: Run, item: ImageItem, blobs: list[bytes]) -> list[Path]:
    """The final path of each output, named by the item's key and the real format."""
    folder, stem = item.outputs(run.out)
    finals = []
    for index, data in enumerate(blobs):
        ext = _files.extension(data)
        if ext is None:
            raise PhotaError(f"output {index} of {item.key} is not an image "
                             f"({len(data)} bytes)")
        finals.append(folder / f"{stem}-{index}{ext}")
    return finals


def _ended_before(run: Run, record: ItemRecord) -> bool:
    """Failed for good, or saved with every file still there (else it is saved again)."""
    if record.stage is Stage.FAILED:
        return True
    return record.stage is Stage.SAVED and bool(record.paths) and all(
        (run.out / path).is_file() for path in record.paths)


def _over_budget(run: Run) -> str:
    limit = run.budget.limit or 0
    return (f"budget: sending it would take the batch past max_spend ${limit / 100:.2f} "
            f"(${run.budget.spent / 100:.2f} sent so far)")


def _told(run: Run, item: ImageItem, record: ItemRecord) -> ItemResult:
    """The result an earlier run recorded."""
    if record.stage is Stage.SAVED:
        return item.result("ok", paths=tuple(run.out / p for p in record.paths),
                           job_id=record.job_id, cost=record.cost_cents / 100, resumed=True)
    return item.result("failed", reason=record.error, job_id=record.job_id, resumed=True)
