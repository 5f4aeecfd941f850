"""Waiting on many jobs at once: ``as_completed`` and ``gather``.

Both wait through the jobs' own futures (one heap entry per job in the poll scheduler), never
through a task per job.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

from .._exceptions import JobTimeoutError
from .handles import _RemoteJob

__all__ = ["as_completed", "gather"]

R = TypeVar("R")


async def as_completed(
    jobs: Iterable[_RemoteJob[Any, Any]], *, timeout: float | None = None
) -> AsyncIterator[_RemoteJob[Any, Any]]:
    """Yield each job as it finishes (succeeded or failed: read it with ``await job``).

    Waiting costs one heap entry per job, no task per job. ``timeout`` bounds the waits of the
    whole iteration (not the caller's own work between items) and raises
    :class:`JobTimeoutError`; unfinished jobs go on. A job cancelled with ``job.cancel()``
    raises ``CancelledError`` here, as it does in its other waiters; closing the client raises
    :class:`ClientClosedError`.
    """
    pending = list(dict.fromkeys(jobs))
    finished: asyncio.Queue[_Woken] = asyncio.Queue()
    joined: list[_RemoteJob[Any, Any]] = []
    for job in pending:
        if job.done():
            finished.put_nowait((job, None))
            continue
        job.add_waiter().add_done_callback(functools.partial(_put, finished, job))
        joined.append(job)
    end = None if timeout is None else asyncio.get_running_loop().time() + timeout
    try:
        for _ in range(len(pending)):
            job, error = await _next_finished(finished, end, pending, timeout)
            if error is not None:
                raise error
            yield job
    finally:
        for job in joined:
            job.remove_waiter()


_Woken = tuple[_RemoteJob[Any, Any], BaseException | None]


def _put(
    queue: asyncio.Queue[_Woken], job: _RemoteJob[Any, Any], future: asyncio.Future[Any]
) -> None:
    # Done, cancelled, or woken by a closing client: the iteration must learn of each.
    if job.done():
        queue.put_nowait((job, None))
    elif future.cancelled():
        queue.put_nowait((job, asyncio.CancelledError(f"{job!r} was cancelled")))
    else:
        queue.put_nowait((job, future.exception()))


async def _next_finished(
    queue: asyncio.Queue[_Woken],
    end: float | None,
    pending: list[_RemoteJob[Any, Any]],
    timeout: float | None,
) -> _Woken:
    try:
        async with asyncio.timeout_at(end) as scope:
            return await queue.get()
    except TimeoutError:
        if not scope.expired():
            raise
        left = sum(1 for job in pending if not job.done())
        raise JobTimeoutError(f"{left} job(s) still pending after {timeout}s", job_id="*") from None


async def gather(
    jobs: Iterable[_RemoteJob[R, Any]], *, return_exceptions: bool = False
) -> list[R | BaseException]:
    """The results of ``jobs`` in order. With ``return_exceptions=True`` a failed job gives its
    exception in place instead of raising the first failure (the others keep going either way)."""
    jobs = list(jobs)
    async for job in as_completed(jobs):
        error = job.exception()
        if error is not None and not return_exceptions:
            raise error
    return [job.exception() or await job.result() for job in jobs]
