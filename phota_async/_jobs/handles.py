"""Awaitable handles for remote work: image jobs and profile trainings.

A handle is cheap: it holds an id and, while someone waits on it, one entry in the client's
poll scheduler. Any number of waiters share that entry (one GET per due time). A handle survives
a process restart through :meth:`Job.to_token` / ``phota.jobs.from_token``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Generator
from typing import Any, ClassVar, Generic, TypeVar

from .. import _clock as clock
from .. import _constants as C
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ClientClosedError,
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    PhotaError,
    TrainingFailedError,
)
from .._http.retry import TRANSIENT_STATUSES, Idempotency
from .._http.transport import Response
from .._redaction import redact
from .._wire import validation as check
from .._wire.converter import parse_retry_after, structure
from .._wire.enums import JobState, ProfileStatus
from .._wire.models import ImageResponse, JobSnapshot, Profile
from .cadence import Work
from .context import ClientContext
from .results import ImageResult

__all__ = ["Job", "TrainingJob", "decode_token"]

log = logging.getLogger("phota_async")
R = TypeVar("R")
S = TypeVar("S")

_TOKEN_PREFIX = "phj1."
# What a status answer that cannot be read raises while it is parsed and interpreted (bad
# base64, a count of 1e999, JSON nested 100k deep, a wrong shape...).
_MALFORMED = (ValueError, ArithmeticError, RecursionError, TypeError, LookupError, AttributeError)


class _RemoteJob(Generic[R, S]):
    """The machinery shared by image jobs and trainings: outcome, waiters, polling."""

    kind: ClassVar[str]
    # Ten thousand pending handles must stay small: no per-instance __dict__.
    __slots__ = (
        "__weakref__", "_born", "_ctx", "_error", "_finished", "_future", "_last", "_last_poll",
        "_listeners", "_malformed", "_outcome", "_poll_errors", "_running_age", "_waiters", "id",
        "polls", "resolved_at", "submitted_at",
    )

    def __init__(
        self, ctx: ClientContext, job_id: str | None, *, submitted_at: float | None
    ) -> None:
        self.id = job_id
        self._ctx = ctx
        # Wall time, for tokens (it must survive a restart); every timer uses the loop's clock.
        self.submitted_at = time.time() if submitted_at is None else submitted_at
        self._born: float | None = None  # the loop-clock time of the submit, once in a loop
        with contextlib.suppress(RuntimeError):  # made outside a loop: set at the first wait
            self._born = clock.now() if submitted_at is None else clock.now_from_wall(
                submitted_at
            )
        self._last: S | None = None
        self._outcome: R | None = None
        self._error: BaseException | None = None
        self._finished = False
        self._future: asyncio.Future[R] | None = None
        self._waiters = 0
        # Each ``updates()`` iterator's queue: snapshots, then None at the end, or the error
        # (CancelledError from ``cancel()``, ClientClosedError from ``aclose()``) to raise.
        self._listeners: list[asyncio.Queue[S | BaseException | None]] = []
        self._poll_errors = 0
        self._malformed = 0
        self._last_poll: float | None = None  # age (server s) of the last poll that saw it running
        self._running_age = 0.0  # the same, 0 before any: the lower bound of its duration
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

    def exception(self) -> BaseException | None:
        """The error of a failed job, None otherwise (as ``asyncio.Future.exception``)."""
        return self._error

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
        future = self.add_waiter()
        try:
            if timeout is None:  # the common case: no timer to arm and cancel
                return await asyncio.shield(future)
            async with asyncio.timeout(timeout) as scope:
                return await asyncio.shield(future)
        except TimeoutError:
            if timeout is not None and scope.expired():
                raise JobTimeoutError(
                    f"still {self._status_text()} after waiting {timeout}s; the job goes on, "
                    "await it again to keep waiting", job_id=str(self.id),
                ) from None
            raise
        finally:
            self.remove_waiter()

    async def refresh(self) -> S:
        """Read the job's status now (one request), update this handle and return it."""
        snapshot, _ = self._parse(await self._get(retry=True))
        self._apply(snapshot, self._interpret(snapshot))
        return snapshot

    async def updates(self) -> AsyncIterator[S]:
        """Each new status as it is seen, until (and including) the final one."""
        if self._finished:
            if self._last is not None:
                yield self._last
            return
        queue: asyncio.Queue[S | BaseException | None] = asyncio.Queue()
        self._listeners.append(queue)
        self.add_waiter()
        try:
            if self._last is not None:
                yield self._last
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._listeners.remove(queue)
            self.remove_waiter()

    def cancel(self) -> bool:
        """Stop waiting locally: current waiters get ``CancelledError`` and polling stops.

        There is no server-side cancel, so the job goes on (and is billed); awaiting the handle
        again resumes waiting. Returns False when the job had already finished.
        """
        if self._finished:
            return False
        self._wake(asyncio.CancelledError(f"{self!r} was cancelled"))
        return True

    # --- Waiters and polling -------------------------------------------------------------

    # The waiter protocol of ``await``, ``updates()``, ``as_completed`` and the batch runner:
    # while a job has waiters the scheduler polls it; the future wakes them all at once.
    def add_waiter(self) -> asyncio.Future[R]:
        """Count one more waiter and return the future that wakes it (internal to the SDK)."""
        if self._finished:  # nothing left to wait for: a future that is already resolved
            future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            if self._error is not None:
                future.set_exception(self._error)
            else:
                future.set_result(self._outcome)  # type: ignore[arg-type]
            self._waiters += 1
            return future
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        if self._born is None:
            self._born = clock.now_from_wall(self.submitted_at)
        self._waiters += 1
        self._ctx.scheduler.schedule(self, self._planned_delay())
        return self._future

    def remove_waiter(self) -> None:
        """A waiter of :meth:`add_waiter` is gone (internal to the SDK)."""
        self._waiters -= 1

    def _wake(self, error: BaseException) -> None:
        """Wake every waiter with ``error``; the job itself is not finished."""
        if self._future is not None:
            if isinstance(error, asyncio.CancelledError):
                self._future.cancel()
            elif not self._future.done():
                self._future.set_exception(error)
                self._future.exception()  # mark retrieved: nobody may be waiting any more
            self._future = None
        for queue in self._listeners:
            queue.put_nowait(error)

    def wants_polling(self) -> bool:
        """True while someone waits and the job has not finished (the scheduler asks)."""
        return not self._finished and self._waiters > 0

    def done_likelihood(self) -> float:
        """How likely the job is to have finished by now (the scheduler asks, under a budget)."""
        return 0.5

    def fail(self, error: BaseException) -> None:
        """End the job with ``error`` (the scheduler's last resort: never a silent drop)."""
        if not isinstance(error, PhotaError):
            wrapped = PhotaError(f"polling {self.kind} {self.id} failed: {error!r}")
            wrapped.__cause__ = error
            error = wrapped
        self._settle(error=error)

    def dropped(self) -> None:
        """Nobody waits any more: the scheduler let the job go."""

    def interrupt(self) -> None:
        """The client closed while the job was awaited: wake the waiters, say how to go on."""
        if self._finished:
            return
        self._wake(ClientClosedError(
            f"the client was closed while waiting for {self.kind} {self.id}; it goes on at the "
            f"server: re-attach it on an open client with phota.jobs.from_token(job.to_token()) "
            f"or phota.jobs.attach({self.id!r})", job_id=str(self.id),
        ))
        self.dropped()

    async def poll_once(self) -> float | None:
        """One scheduled poll; the real seconds to the next one, or None when done.

        A transient failure (connection, 5xx, 429) is another poll later; an answer that cannot
        be read is too, until ``POLL_MALFORMED_LIMIT`` in a row end the job with the reason; a
        refusal (401, 404) ends the job. Never an exception, never a silent drop.
        """
        self.polls += 1
        age = self._age()
        try:
            response = await self._get(retry=False)
        except APIError as exc:
            if isinstance(exc, ValueError):  # an answer that came but cannot be used
                return self._on_malformed(exc, None)
            return self._on_poll_error(exc)
        try:
            snapshot, hint = self._parse(response)
            outcome = self._interpret(snapshot)
        except _MALFORMED as exc:
            return self._on_malformed(exc, response)
        self._poll_errors = self._malformed = 0
        self._apply(snapshot, outcome)
        self._learn(age)
        if self._finished:
            return None
        if hint is not None:
            return self._ctx.poll.hint_delay(hint)
        return self._planned_delay()

    def _on_poll_error(self, exc: APIError) -> float | None:
        transient = isinstance(exc, APIConnectionError) or (
            isinstance(exc, APIStatusError) and exc.status in TRANSIENT_STATUSES
        )
        if not transient:  # 401, 404...: waiting longer will not help
            self._settle(error=exc)
            return None
        self._poll_errors += 1
        log.info("polling %s %s failed (%s); trying again later", self.kind, self.id, exc)
        hint = exc.retry_after if isinstance(exc, APIStatusError) else None
        if hint is not None:
            return self._ctx.poll.hint_delay(hint)
        return self._ctx.poll.error_delay(self._poll_errors, self._ctx.rng)

    def _on_malformed(self, exc: BaseException, response: Response | None) -> float | None:
        self._malformed += 1
        if self._malformed < C.POLL_MALFORMED_LIMIT:
            log.info("the status answer of %s %s cannot be read (%r); trying again later",
                     self.kind, self.id, exc)
            return self._ctx.poll.error_delay(self._malformed, self._ctx.rng)
        answered = "" if response is None else redact(
            response.body[:300].decode("utf-8", "replace")
        )
        error = PhotaError(
            f"the status of {self.kind} {self.id} could not be read {self._malformed} times in "
            f"a row ({type(exc).__name__}: {exc!s:.200})"
            + (f"; the server answered: {answered}" if answered else "")
        )
        error.__cause__ = exc
        self._settle(error=error)
        return None

    def _apply(
        self, snapshot: S, outcome: tuple[R | None, BaseException | None] | None
    ) -> None:
        changed = self._last is None or self._status_of(self._last) != self._status_of(snapshot)
        self._last = snapshot
        if self._finished:
            return
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
        self.dropped()  # it is no longer planned (a poll's ``_learn`` may still learn from it)
        if self._future is not None and not self._future.done():
            if error is not None:
                self._future.set_exception(error)
                self._future.exception()  # mark retrieved: nobody may be waiting any more
            else:
                self._future.set_result(value)  # type: ignore[arg-type]
        self._future = None  # its waiters hold it; a finished job keeps no future alive
        for queue in self._listeners:
            queue.put_nowait(None)

    def _settled(self) -> R:
        if self._error is not None:
            raise self._error
        return self._outcome  # type: ignore[return-value]

    def _age(self) -> float:
        """Server seconds since the submit (the loop's clock, times the poll time scale)."""
        born = clock.now() if self._born is None else self._born
        return max(0.0, clock.now() - born) * self._ctx.poll.time_scale

    def _status_text(self) -> str:
        return "pending" if self._last is None else f"'{self._status_of(self._last)}'"

    async def _get(self, *, retry: bool) -> Response:
        return await self._ctx.requester.call(
            "GET", self._status_path(), kind=Idempotency.SAFE, retry=retry
        )

    # --- Per kind ------------------------------------------------------------------------

    def _planned_delay(self) -> float:
        """Real seconds until the next poll, from the cadence."""
        raise NotImplementedError

    def _learn(self, age: float) -> None:
        """Tell the cadence what a poll at ``age`` showed."""
        if not self._finished:
            self._last_poll = self._running_age = age

    def _status_path(self) -> str:
        raise NotImplementedError

    def _parse(self, response: Response) -> tuple[S, float | None]:
        """The status answer and the server's hint for the next poll (real seconds)."""
        raise NotImplementedError

    def _interpret(self, snapshot: S) -> tuple[R | None, BaseException | None] | None:
        """``(value, error)`` once the snapshot is final, else None."""
        raise NotImplementedError

    def _status_of(self, snapshot: S) -> str:
        raise NotImplementedError

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
                   "u": self._ctx.transport.base_url, **self._token_fields()}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Job(_RemoteJob[ImageResult, JobSnapshot]):
    """An image job (edit, generate, enhance, remix): ``await job`` gives its
    :class:`ImageResult`, or raises :class:`JobFailedError` with the server's reason."""

    kind = "image"
    __slots__ = ("_called_back", "_scout", "callback", "client_request_id", "endpoint", "work")

    def __init__(
        self,
        ctx: ClientContext,
        job_id: str | None,
        *,
        endpoint: str = "job",
        client_request_id: str | None = None,
        submitted_at: float | None = None,
        callback: bool = False,
        base_model: str | None = None,
        resolution: str | None = None,
    ) -> None:
        super().__init__(ctx, job_id, submitted_at=submitted_at)
        self.endpoint = endpoint
        self.client_request_id = client_request_id
        self.callback = callback
        self.work: Work = (endpoint, base_model, resolution)
        self._scout = False
        self._called_back: float | None = None  # its age when a verified callback named it

    def __repr__(self) -> str:
        return f"<Job {self.endpoint} id={self.id!r} state={self.state.value}>"

    @property
    def status(self) -> str | None:
        """The server's last raw status word (``None`` before the first poll)."""
        return None if self._last is None else self._last.status

    @classmethod
    def completed(
        cls, ctx: ClientContext, result: ImageResult, *, endpoint: str,
        client_request_id: str | None,
    ) -> Job:
        """A handle for a synchronous call that has already finished (it has no id)."""
        job = cls(ctx, None, endpoint=endpoint, client_request_id=client_request_id)
        job._settle(value=result)
        return job

    def called_back(self) -> None:
        """A verified callback named this job (internal to the SDK): remember when, so that the
        confirming poll, finding it done, teaches that it ended shortly before."""
        if self._called_back is None:
            self._called_back = self._age()

    def silent_age(self) -> float | None:
        """For a job with a callback still to come: the age it has run for at least (its
        callback would come soon after its end); None otherwise (the cadence asks)."""
        if not self.callback or self._called_back is not None or self._finished:
            return None
        return self._age() * (1.0 - C.POLL_CALLBACK_LATENCY)

    def done_likelihood(self) -> float:
        return self._ctx.cadence.done_probability(self.work, self._age(), self._running_age)

    def dropped(self) -> None:
        self._ctx.cadence.forget(self, self.work)

    def _planned_delay(self) -> float:
        cadence = self._ctx.cadence
        # Only a job not polled yet may scout; not one with a callback: that will say when.
        may_scout = self._last_poll is None and not self.callback
        self._scout = cadence.enlist(
            self, self.work, may_scout=may_scout, callback=self if self.callback else None
        )
        return cadence.delay(
            self.work, self._age(), self._last_poll, scout=self._scout, callback=self.callback
        )

    def _learn(self, age: float) -> None:
        cadence = self._ctx.cadence
        if not self._finished:
            moved = cadence.seen_running(self, self.work, age)
        elif self._error is None:
            # Done after the last age seen running, by this one: what the estimate learns from.
            # A callback came soon after the job ended: without it as a lower bound, a job
            # polled only on its callback would teach "done by then" alone, and such upper
            # bounds pull the estimate (and later jobs' safety-net polls) ever earlier.
            low = self._running_age
            if self._called_back is not None:
                low = max(low, self._called_back * (1.0 - C.POLL_CALLBACK_LATENCY))
            moved = cadence.seen_done(
                self, self.work, low, age,
                called_back=None if not self.callback else self._called_back is not None,
            )
        else:  # a failure's timing says nothing of how long work takes
            cadence.forget(self, self.work)
            moved = False
        super()._learn(age)
        if moved:
            self._ctx.replan(self.endpoint)

    def _status_path(self) -> str:
        return f"jobs/{self.id}"

    def _parse(self, response: Response) -> tuple[JobSnapshot, float | None]:
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
            transport=self._ctx.transport, downloads=self._ctx.downloads,
        )
        return result, None

    def _status_of(self, snapshot: JobSnapshot) -> str:
        return snapshot.status

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

    def _planned_delay(self) -> float:
        if self._last is None:
            return 0.0
        return self._ctx.poll.training_delay(self._age(), self._ctx.rng)

    def _status_path(self) -> str:
        return f"profiles/{self.id}/status"

    def _parse(self, response: Response) -> tuple[Profile, float | None]:
        return structure(response.json(), Profile), None

    def _interpret(self, snapshot: Profile) -> tuple[Profile | None, BaseException | None] | None:
        if snapshot.status == ProfileStatus.READY:
            return snapshot, None
        if isinstance(snapshot.status, ProfileStatus) and snapshot.status.is_final:
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
