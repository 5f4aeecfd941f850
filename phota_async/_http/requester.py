"""Every API call goes through here: limiter, retries with one deadline, the credit breaker.

Resources build a call (method, path, body, how safe it is to resend) and hand it to
:meth:`Requester.call`; the transport below makes one attempt at a time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import frozen

from .. import _clock as clock
from .._exceptions import APIStatusError, APITimeoutError, InsufficientCreditError
from .events import EventHook, RequestEvent
from .limiter import AdaptiveLimiter
from .retry import PUSHBACK_STATUSES, Idempotency, RetryPolicy, run_with_retries
from .transport import Response, Transport

log = logging.getLogger("phota_async")



@frozen
class _Call:
    """What one logical call sends, the same on every attempt."""

    method: str
    path: str
    json_body: Any
    params: Mapping[str, str] | None
    read_timeout: float | None
    submit: bool

    @property
    def label(self) -> str:
        """``METHOD /path``, for logs and events."""
        return f"{self.method} /{self.path.lstrip('/')}"


class Requester:
    """Sends API calls with the client's limiter, retry policy, deadline and breaker."""

    def __init__(
        self,
        transport: Transport,
        *,
        limiter: AdaptiveLimiter,
        policy: RetryPolicy,
        timeout: float | None,
        hook: EventHook | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.transport = transport
        self.limiter = limiter
        self.policy = policy
        self.timeout = timeout
        self.hook = hook
        self._rng = rng or random.Random()
        self._credit_error: InsufficientCreditError | None = None
        self._single: tuple[RetryPolicy, RetryPolicy] | None = None

    def reset_credit_breaker(self) -> None:
        """Allow submits again (after topping up the account's credit)."""
        self._credit_error = None

    def check_credit(self) -> None:
        """Raise at once if a 402 was seen: sending more would only fail (or bill) again."""
        if self._credit_error is not None:
            raise InsufficientCreditError(
                "submits are stopped on this client after a 402 (insufficient credit); "
                "top up, then call reset_credit_breaker()",
                status=402,
                request_id=self._credit_error.request_id,
                error_type=self._credit_error.error_type,
            )

    async def call(
        self,
        method: str,
        path: str,
        *,
        kind: Idempotency,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
        submit: bool = False,
        retry: bool = True,
        how_to_check: str = "",
    ) -> Response:
        """Send one logical call; see ``_retry`` for what is resent and when."""
        if submit:
            self.check_credit()
        call = _Call(method, path, json_body, params, read_timeout, submit)
        attempt_no = 0

        async def attempt(time_left: float | None) -> Response:
            nonlocal attempt_no
            attempt_no += 1
            return await self._attempt(call, attempt_no, time_left)

        return await run_with_retries(
            attempt, kind=kind, policy=self.policy if retry else self._single_attempt(),
            label=call.label, rng=self._rng, hook=None if self.hook is None else self._emit,
            timeout=timeout if timeout is not None else self.timeout, how_to_check=how_to_check,
        )

    def _single_attempt(self) -> RetryPolicy:
        """``policy`` with one attempt (scheduled polls), built once per policy, not per call."""
        if self._single is None or self._single[0] is not self.policy:
            self._single = (self.policy, attrs.evolve(self.policy, max_attempts=1))
        return self._single[1]

    async def _attempt(self, call: _Call, attempt_no: int, time_left: float | None) -> Response:
        """One attempt: wait for a slot (within the deadline), then send."""
        end = None if time_left is None else clock.now() + time_left
        try:
            await self.limiter.acquire(time_left)
        except TimeoutError:
            raise APITimeoutError(
                f"{call.label}: no free request slot before the deadline", request_sent=False
            ) from None
        try:
            if call.submit:  # a 402 may have come while this one queued or waited to retry
                self.check_credit()
            left = None if end is None else max(0.0, end - clock.now())
            if self.hook is None:  # nobody listens: no clock reads, no event objects
                return await self._exchange(call, left)
            return await self._observed(call, attempt_no, left)
        finally:
            self.limiter.release()

    async def _observed(self, call: _Call, attempt_no: int, time_left: float | None) -> Response:
        """:meth:`_exchange` with its start and end events."""
        label = call.label
        started = clock.now()
        self._emit(RequestEvent("start", label, attempt_no))
        try:
            response = await self._exchange(call, time_left)
        except APIStatusError as exc:
            self._emit(RequestEvent("end", label, attempt_no, status=exc.status, error=exc,
                                    elapsed=clock.now() - started, request_id=exc.request_id))
            raise
        except Exception as exc:
            self._emit(RequestEvent("end", label, attempt_no, error=exc,
                                    elapsed=clock.now() - started))
            raise
        self._emit(RequestEvent("end", label, attempt_no, status=response.status,
                                elapsed=clock.now() - started,
                                request_id=response.request_id))
        return response

    async def _exchange(self, call: _Call, time_left: float | None) -> Response:
        """The request itself; the limiter and the breaker learn from its answer."""
        try:
            response = await self.transport.request(
                call.method, call.path, json_body=call.json_body, params=call.params,
                timeout=time_left, read_timeout=call.read_timeout,
            )
        except APIStatusError as exc:
            self._on_status_error(exc, call.submit)
            raise
        self.limiter.on_success()
        return response

    def _on_status_error(self, exc: APIStatusError, submit: bool) -> None:
        if exc.status in PUSHBACK_STATUSES:
            wait = exc.retry_after
            cap = self.policy.retry_after_cap
            self.limiter.on_pushback(None if wait is None else min(wait, cap))
        if submit and isinstance(exc, InsufficientCreditError):
            self._credit_error = exc
            log.warning("402 insufficient credit: further submits on this client are stopped")

    def _emit(self, event: RequestEvent) -> None:
        if self.hook is not None:
            try:
                self.hook(event)
            except Exception:  # a metrics hook must never break a request
                log.exception("the event hook raised")

