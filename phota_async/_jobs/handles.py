"""Awaitable handles for remote work: image jobs and profile trainings.

A handle is cheap: it holds an id and, while someone waits on it, one entry in the client's
poll scheduler. Any number of waiters share that entry (one GET per due time). A handle survives
a process restart through :meth:`Job.to_token` / ``phota.jobs.from_token``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, ClassVar, Generic, TypeVar

from attrs import define, field

from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    PhotaError,
    TrainingFailedError,
)
from .._http.requester import Requester
from .._http.retry import Idempotency
from .._wire import validation as check
from .._wire.converter import parse_retry_after, structure
from .._wire.enums import JobState, ProfileStatus
from .._wire.models import ImageResponse, JobSnapshot, Profile
from .cadence import DurationStats, PollConfig
from .downloads import DownloadSettings
from .results import ImageResult
from .scheduler import PollScheduler

__all__ = ["Job", "JobContext", "TrainingJob", "decode_token"]

log = logging.getLogger("phota_async")
R = TypeVar("R")
S = TypeVar("S")
J = TypeVar("J", bound="_RemoteJob[Any, Any]")

_TOKEN_PREFIX = "phj1."
_RETRYABLE_POLL_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@define
class JobContext:
    """What the jobs of one client share: the requester, the scheduler, the cadence."""

    requester: Requester
    scheduler: PollScheduler
    poll: PollConfig
    downloads: DownloadSettings
    stats: DurationStats = field(factory=DurationStats)
    rng: random.Random = field(factory=random.Random)
    registry: weakref.WeakValueDictionary[tuple[str, str], _RemoteJob[Any, Any]] = field(
        factory=weakref.WeakValueDictionary
    )

    def handle(self, cls: type[J], job_id: str, make: Callable[[], J]) -> J:
        """The handle this client already holds for ``job_id``, else ``make()``'s, remembered
        so that a webhook, a second attach or a resent submit finds the same one."""
        existing = self.registry.get((cls.kind, job_id))
        if isinstance(existing, cls):
            return existing
        job = make()
        self.registry[(cls.kind, job_id)] = job
        return job


class _RemoteJob(Generic[R, S]):
    """The machinery shared by image jobs and trainings: outcome, waiters, polling."""

    kind: ClassVar[str]
    # Ten thousand pending handles must stay small: no per-instance __dict__.
    __slots__ = (
        "__weakref__", "_ctx", "_error", "_finished", "_future", "_last", "_listeners",
        "_outcome", "_pending_age", "_poll_errors", "_waiters", "id", "polls", "resolved_at",
        "submitted_at",
    )

    def __init__(self, ctx: JobContext, job_id: str | None, *, submitted_at: float | None) -> None:
        self.id = job_id
        self._ctx = ctx
        self.submitted_at = time.time() if submitted_at is None else submitted_at
        self._last: S | None = None
        self._outcome: R | None = None
        self._error: BaseException | None = None
        self._finished = False
        self._future: asyncio.Future[R] | None = None
        self._waiters = 0
        # Each ``updates()`` iterator's queue: snapshots, then None at the end, or the
        # CancelledError that ``cancel()`` hands to every waiter.
        self._listeners: list[asyncio.Queue[S | asyncio.CancelledError | None]] = []
        self._poll_errors = 0
        self._pending_age: float | None = None  # the job's age when last seen still running
        self.polls = 0
        self.resolved_at: float | None = None

    # --- What users read -----------------------------------------------------------------

    @property
    def state(self) -> JobState:
        """``pending``, ``succeeded`` or ``failed``, as last seen."""
        if not self._finished:
            return JobState.PENDING
        return JobState.FAILED if self._error is not None else JobState.SUCCEEDED

    @property
    def last(self) -> S | None:
        """The last status object read from the server, if any."""
        return self._last

    def done(self) -> bool:
        """True once the job has succeeded or failed (as far as this handle has seen)."""
        return self._finished

    def __await__(self) -> Generator[Any, None, R]:
        return self.result().__await__()

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the outcome. ``JobTimeoutError`` after ``timeout`` seconds leaves the job
        running remotely and this handle usable (await it again later)."""
        if self._finished:
            return self._settled()
        future = self._join()
        try:
            async with asyncio.timeout(timeout) as scope:
                return await asyncio.shield(future)
        except TimeoutError:
            if scope.expired():
                raise JobTimeoutError(
                    f"still {self._status_text()} after waiting {timeout}s; the job goes on, "
                    "await it again to keep waiting", job_id=str(self.id),
                ) from None
            raise
        finally:
            self._leave()

    async def refresh(self) -> S:
        """Read the job's status now (one request), update this handle and return it."""
        snapshot, _ = await self._fetch()
        self._apply(snapshot)
        return snapshot

    async def updates(self) -> AsyncIterator[S]:
        """Each new status as it is seen, until (and including) the final one."""
        if self._finished:
            if self._last is not None:
                yield self._last
            return
        queue: asyncio.Queue[S | asyncio.CancelledError | None] = asyncio.Queue()
        self._listeners.append(queue)
        self._join()
        try:
            if self._last is not None:
                yield self._last
            while (item := await queue.get()) is not None:
                if isinstance(item, asyncio.CancelledError):
                    raise item
                yield item
        finally:
            self._listeners.remove(queue)
            self._leave()

    def cancel(self) -> bool:
        """Stop waiting locally: current waiters get ``CancelledError`` and polling stops.

        There is no server-side cancel, so the job goes on (and is billed); awaiting the handle
        again resumes waiting. Returns False when the job had already finished.
        """
        if self._finished:
            return False
        if self._future is not None:
            self._future.cancel()
            self._future = None
        for queue in self._listeners:
            queue.put_nowait(asyncio.CancelledError(f"{self!r} was cancelled"))
        return True

    # --- Waiters and polling -------------------------------------------------------------

    def _join(self) -> asyncio.Future[R]:
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        self._waiters += 1
        self._ctx.scheduler.schedule(self, self._first_delay())
        return self._future

    def _leave(self) -> None:
        self._waiters -= 1

    def wants_polling(self) -> bool:
        """True while someone waits and the job has not finished (the scheduler asks)."""
        return not self._finished and self._waiters > 0

    async def poll_once(self) -> float | None:
        """One scheduled poll; the real seconds to the next one, or None when done."""
        self.polls += 1
        age = self._age()
        try:
            snapshot, hint = await self._fetch(retry=False)
        except (APIError, ValueError) as exc:  # ValueError: an answer that is not a job object
            return self._on_poll_error(exc)
        self._poll_errors = 0
        self._apply(snapshot)
        if self._finished:
            return None
        self._pending_age = age
        return hint if hint is not None else self._next_delay()

    def _on_poll_error(self, exc: APIError | ValueError) -> float | None:
        transient = isinstance(exc, APIConnectionError | ValueError) or (
            isinstance(exc, APIStatusError) and exc.status in _RETRYABLE_POLL_STATUSES
        )
        if not transient:  # 401, 404...: waiting longer will not help
            self._settle(error=exc)
            return None
        self._poll_errors += 1
        log.info("polling %s %s failed (%s); trying again later", self.kind, self.id, exc)
        hint = exc.retry_after if isinstance(exc, APIStatusError) else None
        return hint if hint is not None else self._ctx.poll.error_delay(
            self._poll_errors, self._ctx.rng
        )

    def _apply(self, snapshot: S) -> None:
        changed = self._last is None or self._status_of(self._last) != self._status_of(snapshot)
        self._last = snapshot
        if self._finished:
            return
        outcome = self._interpret(snapshot)
        if changed:
            for queue in self._listeners:
                queue.put_nowait(snapshot)
        if outcome is not None:
            value, error = outcome
            self._settle(value=value, error=error)

    def _settle(self, *, value: R | None = None, error: BaseException | None = None) -> None:
        if self._finished:
            return  # a duplicate signal (a replayed webhook, a late poll) does nothing twice
        self._finished = True
        self._outcome, self._error = value, error
        self.resolved_at = time.time()
        self._on_finished()
        if self._future is not None and not self._future.done():
            if error is not None:
                self._future.set_exception(error)
                self._future.exception()  # mark retrieved: nobody may be waiting any more
            else:
                self._future.set_result(value)  # type: ignore[arg-type]
        for queue in self._listeners:
            queue.put_nowait(None)

    def _settled(self) -> R:
        if self._error is not None:
            raise self._error
        return self._outcome  # type: ignore[return-value]

    def _age(self) -> float:
        return max(0.0, time.time() - self.submitted_at)

    def _status_text(self) -> str:
        return "pending" if self._last is None else f"'{self._status_of(self._last)}'"

    # --- Per kind ------------------------------------------------------------------------

    def _first_delay(self) -> float:
        raise NotImplementedError

    def _next_delay(self) -> float:
        raise NotImplementedError

    async def _fetch(self, *, retry: bool = True) -> tuple[S, float | None]:
        raise NotImplementedError

    def _interpret(self, snapshot: S) -> tuple[R | None, BaseException | None] | None:
        """``(value, error)`` once the snapshot is final, else None."""
        raise NotImplementedError

    def _status_of(self, snapshot: S) -> str:
        raise NotImplementedError

    def _on_finished(self) -> None:
        """A hook for kinds that learn from finished jobs."""

    # --- Tokens --------------------------------------------------------------------------

    def _token_fields(self) -> dict[str, Any]:
        return {}

    def to_token(self) -> str:
        """A string that re-attaches this handle in another process (``jobs.from_token``).

        It holds the job's id and timing, never the API key.
        """
        if self.id is None:
            raise PhotaError("a synchronous result has no remote job to re-attach")
        payload = {"k": self.kind, "id": self.id, "t": round(self.submitted_at, 3),
                   "u": self._ctx.requester.transport.base_url, **self._token_fields()}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Job(_RemoteJob[ImageResult, JobSnapshot]):
    """An image job (edit, generate, enhance, remix): ``await job`` gives its
    :class:`ImageResult`, or raises :class:`JobFailedError` with the server's reason."""

    kind = "image"
    __slots__ = ("callback", "client_request_id", "endpoint")

    def __init__(
        self,
        ctx: JobContext,
        job_id: str | None,
        *,
        endpoint: str = "job",
        client_request_id: str | None = None,
        submitted_at: float | None = None,
        callback: bool = False,
    ) -> None:
        super().__init__(ctx, job_id, submitted_at=submitted_at)
        self.endpoint = endpoint
        self.client_request_id = client_request_id
        self.callback = callback

    def __repr__(self) -> str:
        return f"<Job {self.endpoint} id={self.id!r} state={self.state.value}>"

    @property
    def status(self) -> str | None:
        """The server's last raw status word (``None`` before the first poll)."""
        return None if self._last is None else self._last.status

    @classmethod
    def completed(
        cls, ctx: JobContext, result: ImageResult, *, endpoint: str, client_request_id: str | None
    ) -> Job:
        """A handle for a synchronous call that has already finished (it has no id)."""
        job = cls(ctx, None, endpoint=endpoint, client_request_id=client_request_id)
        job._settle(value=result)
        return job

    def _first_delay(self) -> float:
        if self._last is not None:
            return self._next_delay()
        first = self._ctx.poll.first_delay(
            self.endpoint, self._ctx.stats, self._ctx.rng, callback=self.callback
        )
        return max(0.0, first - self._age())

    def _next_delay(self) -> float:
        return self._ctx.poll.next_delay(self._age(), self._ctx.rng)

    async def _fetch(self, *, retry: bool = True) -> tuple[JobSnapshot, float | None]:
        response = await self._ctx.requester.call(
            "GET", f"jobs/{self.id}", kind=Idempotency.SAFE, retry=retry
        )
        snapshot = structure(response.json(), JobSnapshot)
        hint = parse_retry_after(response.headers.get("Retry-After"))
        return snapshot, hint if hint is not None else snapshot.poll_after

    def _interpret(
        self, snapshot: JobSnapshot
    ) -> tuple[ImageResult | None, BaseException | None] | None:
        if snapshot.state is JobState.PENDING:
            return None
        if snapshot.state is JobState.FAILED:
            error = snapshot.error
            return None, JobFailedError(
                str(self.id), status=snapshot.status,
                reason=error.message if error else None, error_type=error.type if error else None,
            )
        result = ImageResult.from_response(
            snapshot.result or ImageResponse(), job_id=self.id,
            transport=self._ctx.requester.transport, downloads=self._ctx.downloads,
        )
        return result, None

    def _status_of(self, snapshot: JobSnapshot) -> str:
        return snapshot.status

    def _on_finished(self) -> None:
        # Learn only from jobs seen running shortly before they were seen done: the midpoint
        # estimates when the server finished. A job first awaited late says nothing about that.
        if self._error is not None or self._pending_age is None:
            return
        age = self._age()
        if age - self._pending_age <= 0.25 * age:
            estimate = (age + self._pending_age) / 2
            self._ctx.stats.record(self.endpoint, estimate * self._ctx.poll.time_scale)

    def _token_fields(self) -> dict[str, Any]:
        return {"e": self.endpoint, "c": self.client_request_id, "cb": self.callback}


class TrainingJob(_RemoteJob[Profile, Profile]):
    """A profile training: ``await training`` gives the READY :class:`Profile`, or raises
    :class:`TrainingFailedError` on ERROR or INACTIVE. ``updates()`` shows the statuses."""

    kind = "training"
    __slots__ = ()

    def __repr__(self) -> str:
        return f"<TrainingJob profile_id={self.id!r} status={self.status}>"

    @property
    def profile_id(self) -> str:
        """The id of the profile being trained."""
        return str(self.id)

    @property
    def status(self) -> ProfileStatus | str | None:
        """The last training status seen (``None`` before the first poll)."""
        return None if self._last is None else self._last.status

    def _first_delay(self) -> float:
        return 0.0 if self._last is None else self._next_delay()

    def _next_delay(self) -> float:
        return self._ctx.poll.training_delay(self._age(), self._ctx.rng)

    async def _fetch(self, *, retry: bool = True) -> tuple[Profile, float | None]:
        response = await self._ctx.requester.call(
            "GET", f"profiles/{self.id}/status", kind=Idempotency.SAFE, retry=retry
        )
        return structure(response.json(), Profile), None

    def _interpret(self, snapshot: Profile) -> tuple[Profile | None, BaseException | None] | None:
        if snapshot.status == ProfileStatus.READY:
            return snapshot, None
        if snapshot.status in (ProfileStatus.ERROR, ProfileStatus.INACTIVE):
            return None, TrainingFailedError(
                self.profile_id, status=str(snapshot.status), message=snapshot.message
            )
        return None

    def _status_of(self, snapshot: Profile) -> str:
        return str(snapshot.status)


def decode_token(token: str, *, base_url: str) -> dict[str, Any]:
    """The fields of a job token; InvalidInputError when it is not one of ours.

    A token may have been stored anywhere, so every field is checked here: whatever was
    tampered with gives ``InvalidInputError`` (field ``token``), never a raw ValueError.
    """
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
        raise InvalidInputError("token", "is not a phota_async job token")
    body = token[len(_TOKEN_PREFIX):]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, RecursionError):  # bad base64, not UTF-8, not JSON, nested too deep
        raise InvalidInputError("token", "is corrupt") from None
    if not isinstance(payload, dict) or payload.get("k") not in ("image", "training") or not (
        isinstance(payload.get("id"), str) and payload["id"]
    ):
        raise InvalidInputError("token", "is corrupt")
    check.resource_id(payload["id"], "token")
    if payload.get("u") not in (None, base_url):
        raise InvalidInputError(
            "token", f"was made for another API base URL ({payload.get('u')!r:.100})"
        )
    submitted = payload.get("t")
    if submitted is not None and not (  # a Unix time: no NaN, infinity, bool or text
        isinstance(submitted, int | float) and not isinstance(submitted, bool)
        and 0 <= submitted < 1e12
    ):
        raise InvalidInputError("token", "is corrupt (its submit time is not a time)")
    endpoints = (None, "job", "generate", "edit", "enhance", "remix")
    if payload.get("e") not in endpoints or payload.get("cb") not in (None, True, False):
        raise InvalidInputError("token", "is corrupt (unknown endpoint or callback flag)")
    try:
        check.client_request_id(payload.get("c"))
    except InvalidInputError:
        raise InvalidInputError("token", "is corrupt (its client_request_id)") from None
    return payload
