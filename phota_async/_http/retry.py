"""The retry policy: a pure decision "may this attempt be retried, and after how long".

tenacity executes it (``run_with_retries``). The rules (design section 1):

============================  ==========================================  ======================
kind of request               retried on                                  never retried on
============================  ==========================================  ======================
``SAFE`` (GET, DELETE)        connection errors, timeouts, 429, 500,      400, 401, 402, 403,
                              502, 503, 504                               404, 422
``KEYED`` (submit carrying    the same list: the key makes a resend       the same
a ``client_request_id``)      return the original job, not a second one
``UNSAFE`` (POST with no      only a request known not to have reached    timeouts, dropped
key: sync image calls,        the server (connection refused), and 429    connections, 500,
``profiles/add``)             and 503                                     502, 504: ambiguous
============================  ==========================================  ======================

One deadline bounds a call: every attempt gets only the time that is left, and no wait is started
that would end past it.
"""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import tenacity
from attrs import frozen

from .. import _clock as clock
from .. import _constants as C
from .._exceptions import APIConnectionError, APIError, APIStatusError, APITimeoutError
from .events import EventHook, RequestEvent

log = logging.getLogger("phota_async")
T = TypeVar("T")

# The only status sets of the SDK. An API call is resent on these (see the table above):
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# The server says it took no work (and the limiter slows down on them):
PUSHBACK_STATUSES = frozenset({429, 503})
# A poll or a storage upload (no money at stake) also tries again after a timeout-like answer:
TRANSIENT_STATUSES = RETRYABLE_STATUSES | {408, 425}


def full_jitter(initial: float, maximum: float, attempt: int, rng: random.Random) -> float:
    """A wait drawn uniformly from 0..min(maximum, initial x 2^(attempt-1)): the "full jitter"
    backoff, which spreads many clients' retries instead of synchronising them."""
    return rng.uniform(0, min(maximum, initial * 2 ** max(0, attempt - 1)))


class Idempotency(enum.Enum):
    """How safe it is to send a request again."""

    SAFE = "safe"
    KEYED = "keyed"
    UNSAFE = "unsafe"


@frozen
class RetryPolicy:
    """How many attempts, and how long to wait between them (full jitter, capped)."""

    max_attempts: int = C.DEFAULT_MAX_ATTEMPTS
    backoff_initial: float = C.BACKOFF_INITIAL
    backoff_max: float = C.BACKOFF_MAX
    retry_after_cap: float = C.RETRY_AFTER_CAP

    def may_retry(self, exc: BaseException, kind: Idempotency) -> bool:
        """Whether the failed attempt may be sent again, by the rules above."""
        if isinstance(exc, APIStatusError):
            if kind is Idempotency.UNSAFE:
                return exc.status in PUSHBACK_STATUSES
            return exc.status in RETRYABLE_STATUSES
        if isinstance(exc, APIConnectionError):
            return kind is not Idempotency.UNSAFE or not exc.request_sent
        return False

    def is_ambiguous(self, exc: BaseException, kind: Idempotency) -> bool:
        """True when an unkeyed POST failed in a way that may hide a processed request."""
        if kind is not Idempotency.UNSAFE or self.may_retry(exc, kind):
            return False
        if isinstance(exc, APIStatusError):
            return exc.status in RETRYABLE_STATUSES
        return isinstance(exc, APIConnectionError) and exc.request_sent

    def wait(self, exc: BaseException, attempt: int, rng: random.Random) -> float:
        """Seconds before the next attempt: the server's ``Retry-After`` if any, else jitter."""
        hint = exc.retry_after if isinstance(exc, APIStatusError) else None
        if hint is not None:
            return min(hint, self.retry_after_cap)
        return full_jitter(self.backoff_initial, self.backoff_max, attempt, rng)


class _Attempts(Generic[T]):
    """The attempts of one call, and the time left of its overall budget (its deadline)."""

    __slots__ = ("attempt", "count", "end", "label", "pending")

    def __init__(self, attempt: Callable[[float | None], Awaitable[T]], timeout: float | None,
                 label: str) -> None:
        self.attempt = attempt
        self.end = None if timeout is None else clock.now() + timeout
        self.label = label
        self.count = 0
        self.pending: Exception | None = None  # attempt 1's error, until tenacity takes it

    def remaining(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - clock.now())

    def allows(self, wait: float) -> bool:
        return self.end is None or clock.now() + wait < self.end

    async def once(self) -> T:
        """The next attempt, with only the time that is left."""
        if self.pending is not None:  # attempt 1, already made: hand tenacity its outcome
            error, self.pending = self.pending, None
            raise error
        self.count += 1
        left = self.remaining()
        if left is not None and left <= 0:
            raise APITimeoutError(f"{self.label}: deadline reached", request_sent=False)
        return await self.attempt(left)


async def run_with_retries(
    attempt: Callable[[float | None], Awaitable[T]],
    *,
    kind: Idempotency,
    policy: RetryPolicy,
    label: str,
    timeout: float | None = None,
    rng: random.Random | None = None,
    hook: EventHook | None = None,
    how_to_check: str = "",
) -> T:
    """Call ``attempt(time_left)`` until it succeeds or the policy says stop.

    The last error is raised as it is; an ambiguous one is marked ``maybe_processed``.
    """
    attempts: _Attempts[T] = _Attempts(attempt, timeout, label)
    try:
        # Most calls succeed at once: the first attempt runs without a retry machine (building
        # one costs more than the request's own CPU). Tenacity takes over only after a failure
        # the policy may retry, starting from that first outcome.
        try:
            return await attempts.once()
        except Exception as exc:
            if policy.max_attempts <= 1 or not policy.may_retry(exc, kind):
                raise
            attempts.pending = exc
        retrying = _retrying(policy, kind, attempts, rng or random.Random(), label, hook)
        try:
            return await retrying(attempts.once)
        finally:
            # tenacity keeps its last actions (bound methods of itself) in iter_state: clear
            # them so the executor is freed at once, not by the cyclic GC, whose full passes
            # over thousands of submits' leftovers would stall the loop for 100+ ms.
            retrying.iter_state.reset()
    except APIError as exc:
        exc.attempts = attempts.count
        if policy.is_ambiguous(exc, kind):
            exc.mark_maybe_processed(how_to_check)
        raise


def _retrying(
    policy: RetryPolicy,
    kind: Idempotency,
    deadline: _Attempts[Any],
    jitter: random.Random,
    label: str,
    hook: EventHook | None,
) -> tenacity.AsyncRetrying:
    """A tenacity executor of ``policy`` for one call."""

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        assert exc is not None  # tenacity only waits after a failed attempt
        return policy.wait(exc, state.attempt_number, jitter)

    def stop(state: tenacity.RetryCallState) -> bool:
        # No wait may start that would end past the call's deadline.
        return state.attempt_number >= policy.max_attempts or not deadline.allows(
            state.upcoming_sleep
        )

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        request_id = getattr(exc, "request_id", None)
        log.info("retrying %s in %.2fs after attempt %d: %s (request id %s)", label,
                 state.upcoming_sleep, state.attempt_number, exc, request_id)
        if hook is not None:
            hook(RequestEvent("retry", label, state.attempt_number, error=exc,
                              wait=state.upcoming_sleep, request_id=request_id))

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(lambda exc: policy.may_retry(exc, kind)),
        wait=wait, stop=stop, before_sleep=before_sleep, reraise=True,
    )
