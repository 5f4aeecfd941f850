"""Injected faults and the rate limiter: what `PhotaEmulator.inject` and `.rate_limit` configure.

Paths are globs relative to `/v1/phota` ("*" matches every API path). Random choices come from the
emulator's seeded RNG, so a run with the same seed and the same requests misbehaves the same way.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
from collections.abc import Sequence
from typing import Literal

import attrs

DropWhen = Literal["before", "after"]


@attrs.define(eq=False)
class Fault:
    """One rule. When it fires, all its effects apply to that request."""

    path: str = "*"
    method: str | None = None
    statuses: tuple[int, ...] = ()  # answer one of these (picked at random) instead of processing
    retry_after: str | None = None  # Retry-After of that answer: seconds, "date" or None (absent)
    drop: DropWhen | None = None
    latency: tuple[float, float] = (0.0, 0.0)  # real seconds, uniform in [lo, hi]
    slow_body: float = 0.0  # real seconds over which the body trickles out
    probability: float = 1.0
    times: int | None = None  # firings left; None: forever
    fired: int = 0

    def __attrs_post_init__(self) -> None:
        if not (self.statuses or self.drop or self.latency != (0.0, 0.0) or self.slow_body):
            raise ValueError("a fault needs an effect: status, drop, latency or slow_body")
        if self.statuses and self.drop:
            raise ValueError("a fault either answers a status or drops the connection, not both")
        if self.drop not in (None, "before", "after"):
            raise ValueError('drop must be "before" or "after"')
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None: forever)")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


@attrs.frozen
class Effects:
    """What the faults that fired on one request add up to."""

    latency: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    drop: DropWhen | None = None
    slow_body: float = 0.0

    def merge(self, fault: Fault, rng: random.Random) -> Effects:
        """Delays add up; the first fault that answers or drops decides how."""
        latency = self.latency + rng.uniform(*fault.latency)
        slow_body = max(self.slow_body, fault.slow_body)
        if self.status is not None or self.drop is not None:
            return attrs.evolve(self, latency=latency, slow_body=slow_body)
        status = rng.choice(fault.statuses) if fault.statuses else None
        return Effects(latency, status, fault.retry_after, fault.drop, slow_body)


class FaultHandle:
    """Returned by `inject`: inspect how often the fault fired, or `remove()` it."""

    def __init__(self, faults: FaultSet, fault: Fault) -> None:
        self._faults = faults
        self.fault = fault

    @property
    def fired(self) -> int:
        return self.fault.fired

    def remove(self) -> None:
        self._faults.remove(self.fault)


@attrs.define
class TokenBucket:
    """Requests per second with bursts, on the event loop's clock."""

    rate: float = attrs.field(validator=attrs.validators.gt(0.0))
    burst: int = attrs.field(validator=attrs.validators.ge(1))
    tokens: float = attrs.field(init=False)
    updated: float | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> float:
        """0.0 when a token was taken, else the real seconds until one is due."""
        now = asyncio.get_running_loop().time()
        elapsed = 0.0 if self.updated is None else now - self.updated
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@attrs.define(eq=False)
class RateLimit:
    bucket: TokenBucket
    retry_after: str | None  # a fixed value, "date" (an HTTP date when a token is due) or None
    paths: tuple[str, ...]

    def applies_to(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, glob) for glob in self.paths)


class FaultSet:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._faults: list[Fault] = []
        self.rate_limit: RateLimit | None = None

    def add(self, fault: Fault) -> FaultHandle:
        self._faults.append(fault)
        return FaultHandle(self, fault)

    def remove(self, fault: Fault) -> None:
        if fault in self._faults:
            self._faults.remove(fault)

    def clear(self) -> None:
        self._faults.clear()
        self.rate_limit = None

    def effects_for(self, method: str, path: str) -> Effects:
        effects = Effects()
        for fault in list(self._faults):
            if fault.matches(method, path) and self._rolls(fault.probability):
                effects = effects.merge(fault, self._rng)
                self._count(fault)
        return effects

    def _rolls(self, probability: float) -> bool:
        # A certain fault draws nothing, so adding one does not shift the random faults' sequence.
        return probability >= 1.0 or self._rng.random() < probability

    def _count(self, fault: Fault) -> None:
        fault.fired += 1
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.remove(fault)


def as_statuses(status: int | Sequence[int] | None) -> tuple[int, ...]:
    if status is None:
        return ()
    return (status,) if isinstance(status, int) else tuple(status)


def as_latency(latency: float | tuple[float, float]) -> tuple[float, float]:
    return (latency, latency) if isinstance(latency, int | float) else latency
