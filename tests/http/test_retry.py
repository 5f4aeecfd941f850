"""The retry policy, exactly per the table in ``_retry.py``, and the loop that runs it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phota_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from phota_async._http.retry import Idempotency, RetryPolicy, run_with_retries

# Timing varies on a loaded machine; correctness, not speed, is under test here.
NO_DEADLINE = settings(deadline=None)

SAFE, KEYED, UNSAFE = Idempotency.SAFE, Idempotency.KEYED, Idempotency.UNSAFE
POLICY = RetryPolicy()
TINY = RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.002, retry_after_cap=0.005)

STATUS_CLASS = {
    400: BadRequestError, 401: AuthenticationError, 402: InsufficientCreditError,
    403: AuthenticationError, 404: NotFoundError, 422: UnprocessableEntityError,
    429: RateLimitError, 500: ServerError, 502: ServerError, 503: ServerError, 504: ServerError,
}


def status_error(status: int, retry_after: float | None = None) -> APIStatusError:
    return STATUS_CLASS[status](f"error {status}", status=status, retry_after=retry_after)


def refused() -> APIConnectionError:
    return APIConnectionError("connection refused", request_sent=False)


def dropped() -> APIConnectionError:
    return APIConnectionError("server disconnected", request_sent=True)


def timed_out() -> APITimeoutError:
    return APITimeoutError("read timed out", request_sent=True)


ERRORS = {
    "refused": refused,
    "dropped": dropped,
    "timeout": timed_out,
    **{str(s): (lambda s=s: status_error(s)) for s in STATUS_CLASS},
}

# The table of _retry.py's docstring: what each kind of request may retry.
RETRIED = {
    SAFE: {"refused", "dropped", "timeout", "429", "500", "502", "503", "504"},
    KEYED: {"refused", "dropped", "timeout", "429", "500", "502", "503", "504"},
    UNSAFE: {"refused", "429", "503"},
}
AMBIGUOUS_UNSAFE = {"dropped", "timeout", "500", "502", "504"}


@pytest.mark.parametrize("kind", [SAFE, KEYED, UNSAFE])
@pytest.mark.parametrize("error", sorted(ERRORS))
def test_may_retry_matrix(kind: Idempotency, error: str) -> None:
    exc = ERRORS[error]()
    assert POLICY.may_retry(exc, kind) is (error in RETRIED[kind])


@pytest.mark.parametrize("kind", [SAFE, KEYED, UNSAFE])
@pytest.mark.parametrize("error", sorted(ERRORS))
def test_is_ambiguous_matrix(kind: Idempotency, error: str) -> None:
    exc = ERRORS[error]()
    expected = kind is UNSAFE and error in AMBIGUOUS_UNSAFE
    assert POLICY.is_ambiguous(exc, kind) is expected


@pytest.mark.parametrize("kind", [SAFE, KEYED, UNSAFE])
def test_a_connect_timeout_before_sending_is_retryable_even_unsafe(kind: Idempotency) -> None:
    exc = APITimeoutError("connect timed out", request_sent=False)
    assert POLICY.may_retry(exc, kind)
    assert not POLICY.is_ambiguous(exc, kind)


@pytest.mark.parametrize("kind", [SAFE, KEYED, UNSAFE])
@pytest.mark.parametrize("exc", [ValueError("x"), RuntimeError("y"), KeyError("z")])
def test_non_api_errors_are_never_retried(kind: Idempotency, exc: Exception) -> None:
    assert not POLICY.may_retry(exc, kind)
    assert not POLICY.is_ambiguous(exc, kind)


@pytest.mark.parametrize("kind", [SAFE, KEYED, UNSAFE])
@pytest.mark.parametrize("status", [405, 409, 413, 418])
def test_other_4xx_statuses_are_not_retried(kind: Idempotency, status: int) -> None:
    exc = APIStatusError(f"error {status}", status=status)
    assert not POLICY.may_retry(exc, kind)
    assert not POLICY.is_ambiguous(exc, kind)


# --- wait


@NO_DEADLINE
@given(st.floats(0, 10_000, allow_nan=False), st.floats(0.01, 120), st.integers(1, 10))
def test_wait_honours_retry_after_capped(hint: float, cap: float, attempt: int) -> None:
    policy = RetryPolicy(retry_after_cap=cap)
    assert policy.wait(status_error(429, hint), attempt, random.Random(0)) == min(hint, cap)


def test_wait_honours_retry_after_on_503_too() -> None:
    assert POLICY.wait(status_error(503, 3.0), 1, random.Random(0)) == 3.0
    assert POLICY.wait(status_error(429, 0.0), 5, random.Random(0)) == 0.0


@NO_DEADLINE
@given(
    st.integers(1, 30), st.floats(0.001, 5), st.floats(0.001, 60), st.integers(0, 2**32),
    st.sampled_from(sorted(ERRORS)),
)
def test_wait_full_jitter_within_bounds(
    attempt: int, initial: float, cap: float, seed: int, error: str
) -> None:
    policy = RetryPolicy(backoff_initial=initial, backoff_max=cap)
    wait = policy.wait(ERRORS[error](), attempt, random.Random(seed))
    assert 0.0 <= wait <= min(cap, initial * 2 ** (attempt - 1))


def test_wait_jitter_is_spread_not_constant() -> None:
    rng = random.Random(42)
    waits = [POLICY.wait(dropped(), 3, rng) for _ in range(200)]
    ceiling = min(POLICY.backoff_max, POLICY.backoff_initial * 4)
    assert max(waits) <= ceiling
    assert min(waits) < ceiling * 0.25 and max(waits) > ceiling * 0.75  # full jitter


def test_wait_grows_then_caps() -> None:
    policy = RetryPolicy(backoff_initial=1.0, backoff_max=5.0)
    top = random.Random(0)
    top.uniform = lambda a, b: b  # type: ignore[method-assign]  # the ceiling itself
    assert [policy.wait(dropped(), n, top) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


# --- run_with_retries


class Flaky:
    """An attempt that fails with the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException, delay: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.time_left: list[float | None] = []
        self.delay = delay
        self.raised: list[BaseException] = []

    async def __call__(self, time_left: float | None) -> str:
        self.calls += 1
        self.time_left.append(time_left)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.errors:
            exc = self.errors.pop(0)
            self.raised.append(exc)
            raise exc
        return "ok"


async def run(attempt: Flaky, kind: Idempotency = SAFE, **options: Any) -> str:
    options.setdefault("policy", TINY)
    return await run_with_retries(
        attempt, kind=kind, label="GET /jobs/j", rng=random.Random(1), **options
    )


async def test_succeeds_after_failures_and_counts_attempts() -> None:
    attempt = Flaky(status_error(503), dropped(), status_error(429))
    assert await run(attempt) == "ok"
    assert attempt.calls == 4


async def test_no_failure_means_one_attempt() -> None:
    attempt = Flaky()
    assert await run(attempt) == "ok"
    assert attempt.calls == 1
    assert attempt.time_left == [None]


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
async def test_stops_at_max_attempts_and_reraises_the_last_error(max_attempts: int) -> None:
    errors = [status_error(500) for _ in range(10)]
    attempt = Flaky(*errors)
    policy = RetryPolicy(max_attempts=max_attempts, backoff_initial=0.001, backoff_max=0.001)
    with pytest.raises(ServerError) as info:
        await run(attempt, policy=policy)
    assert attempt.calls == max_attempts
    assert info.value is attempt.raised[-1]
    assert info.value.maybe_processed is False  # a GET: nothing ambiguous


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
async def test_never_retries_client_errors(status: int) -> None:
    attempt = Flaky(status_error(status))
    with pytest.raises(APIStatusError) as info:
        await run(attempt, kind=KEYED)
    assert attempt.calls == 1
    assert info.value.status == status


async def test_non_api_error_propagates_untouched() -> None:
    boom = RuntimeError("bug in a hook")
    attempt = Flaky(boom)
    with pytest.raises(RuntimeError) as info:
        await run(attempt)
    assert info.value is boom
    assert attempt.calls == 1


@pytest.mark.parametrize("error", sorted(AMBIGUOUS_UNSAFE))
async def test_ambiguous_unsafe_failure_is_marked_maybe_processed(error: str) -> None:
    exc = ERRORS[error]()
    attempt = Flaky(exc)
    with pytest.raises(type(exc)) as info:
        await run(attempt, kind=UNSAFE, how_to_check="Call phota.profiles.list() to check.")
    assert attempt.calls == 1  # never sent twice blindly
    assert info.value is exc
    assert info.value.maybe_processed is True
    text = str(info.value)
    assert "may have been processed" in text
    assert "Call phota.profiles.list() to check." in text
    assert info.value.args == (info.value.message,)


@pytest.mark.parametrize("error", ["refused", "429", "503"])
async def test_unsafe_retries_what_the_server_never_took(error: str) -> None:
    attempt = Flaky(ERRORS[error](), ERRORS[error]())
    assert await run(attempt, kind=UNSAFE) == "ok"
    assert attempt.calls == 3


async def test_unsafe_exhausted_on_429_is_not_marked_ambiguous() -> None:
    attempt = Flaky(*(status_error(429) for _ in range(4)))
    with pytest.raises(RateLimitError) as info:
        await run(attempt, kind=UNSAFE)
    assert attempt.calls == 4
    assert info.value.maybe_processed is False


@pytest.mark.parametrize("kind", [SAFE, KEYED])
@pytest.mark.parametrize("error", ["dropped", "timeout", "500", "502", "504"])
async def test_safe_and_keyed_resend_ambiguous_failures(kind: Idempotency, error: str) -> None:
    attempt = Flaky(ERRORS[error]())
    assert await run(attempt, kind=kind) == "ok"
    assert attempt.calls == 2


# The timing tests below run on looptime's fast-forwarding loop clock (the SDK's one clock), so
# every wait is exact and takes no real time, whatever the machine's load.


def now() -> float:
    return asyncio.get_running_loop().time()


@pytest.mark.looptime
async def test_retry_after_is_waited_but_capped() -> None:
    policy = RetryPolicy(max_attempts=2, retry_after_cap=20.0)
    attempt = Flaky(status_error(429, retry_after=3600.0))
    started = now()
    assert await run(attempt, policy=policy) == "ok"
    assert now() - started == pytest.approx(20.0, abs=1e-6)  # the cap, not the hour asked


@pytest.mark.looptime
async def test_never_starts_a_wait_that_ends_past_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=10, retry_after_cap=30.0)
    first = status_error(503, retry_after=5.0)
    attempt = Flaky(first)
    started = now()
    with pytest.raises(ServerError) as info:
        await run(attempt, policy=policy, timeout=2.0)
    assert now() - started == pytest.approx(0.0, abs=1e-6)  # it gave up at once, no sleep
    assert attempt.calls == 1
    assert info.value is first


@pytest.mark.looptime
async def test_waits_that_fit_the_deadline_are_made() -> None:
    policy = RetryPolicy(max_attempts=10, retry_after_cap=30.0)
    attempt = Flaky(status_error(503, retry_after=0.5), status_error(503, retry_after=0.5))
    started = now()
    assert await run(attempt, policy=policy, timeout=2.0) == "ok"
    assert attempt.calls == 3
    assert now() - started == pytest.approx(1.0, abs=1e-6)


@pytest.mark.looptime
async def test_each_attempt_gets_the_time_left() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_initial=0.001, backoff_max=0.001)
    attempt = Flaky(dropped(), dropped(), dropped(), delay=0.2)
    started = now()
    assert await run(attempt, policy=policy, timeout=10.0) == "ok"
    total = now() - started
    values = [left for left in attempt.time_left if left is not None]
    assert len(values) == len(attempt.time_left) == 4
    assert values[0] == pytest.approx(10.0, abs=1e-6)
    assert values == sorted(values, reverse=True)
    assert values[0] - values[-1] >= 0.6  # three 200 ms attempts went by
    assert values[-1] == pytest.approx(10.0 - (total - 0.2), abs=1e-6)


@pytest.mark.looptime
async def test_a_deadline_that_runs_out_while_attempting_stops_the_loop() -> None:
    policy = RetryPolicy(max_attempts=100, backoff_initial=0.001, backoff_max=0.001)
    attempt = Flaky(*(dropped() for _ in range(100)), delay=0.2)
    started = now()
    with pytest.raises(APIConnectionError):
        await run(attempt, policy=policy, timeout=1.0)
    # Five 200 ms attempts fit in the second (with 1 ms waits); none starts after it ends.
    assert attempt.calls == 5 and all(left is not None and left > 0 for left in attempt.time_left)
    assert now() - started < 1.0 + 0.2


async def test_retry_events_reach_the_hook() -> None:
    events: list[Any] = []
    first, second = status_error(503), dropped()
    attempt = Flaky(first, second)
    assert await run(attempt, hook=events.append) == "ok"
    retries = [e for e in events if e.kind == "retry"]
    assert [(e.attempt, e.error, e.label) for e in retries] == [
        (1, first, "GET /jobs/j"), (2, second, "GET /jobs/j"),
    ]
    assert all(e.wait is not None and 0 <= e.wait <= TINY.backoff_max for e in retries)
