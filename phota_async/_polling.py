"""When to poll a job: per-kind cadence, server hints, learned durations and jitter."""

from __future__ import annotations

import random
import statistics
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType

from attrs import Factory, field, frozen

__all__ = ["DurationStats", "PollConfig"]

_FIRST_POLL = MappingProxyType(
    {"generate": 45.0, "edit": 40.0, "enhance": 20.0, "remix": 20.0, "job": 30.0}
)


@frozen
class PollConfig:
    """The poll cadence. Durations are server seconds; ``time_scale`` divides them all.

    An image job is first polled ``first_poll[endpoint]`` after its submit (or, once this client
    has seen a few jobs of that endpoint finish, at the 10th percentile of their durations), then
    every ``growth`` x its age, between ``min_interval`` and ``max_interval``; so it resolves at
    most about ``growth`` x its duration after the server finished it. A training is polled every
    ``training_min_interval``..``training_max_interval``, as the API's docs ask. A server hint
    (``Retry-After``, ``poll_after_ms``) always wins. ``time_scale`` > 1 is for an emulator running
    in scaled time (``time_scale=600`` makes a 20-minute training poll every ~17 ms).
    """

    first_poll: Mapping[str, float] = field(default=_FIRST_POLL)
    growth: float = 0.09
    min_interval: float = 1.0
    max_interval: float = 30.0
    training_min_interval: float = 10.0
    training_max_interval: float = 30.0
    jitter: float = 0.1
    error_backoff: float = 2.0
    error_backoff_max: float = 60.0
    time_scale: float = 1.0
    learn: bool = True

    def first_delay(self, endpoint: str, stats: DurationStats, rng: random.Random) -> float:
        """Real seconds from submit to the first poll of an image job."""
        typical = stats.early(endpoint) if self.learn else None
        base = typical if typical is not None else self.first_poll.get(endpoint, 30.0)
        return self._real(base * (1 - self.jitter * rng.random()))

    def next_delay(self, age: float, rng: random.Random) -> float:
        """Real seconds to the next poll of an image job that is ``age`` real seconds old."""
        server_age = age * self.time_scale
        interval = min(self.max_interval, max(self.min_interval, self.growth * server_age))
        return self._real(interval * (1 - self.jitter * rng.random()))

    def training_delay(self, age: float, rng: random.Random) -> float:
        """Real seconds to the next poll of a profile training."""
        interval = min(
            self.training_max_interval,
            max(self.training_min_interval, 0.1 * age * self.time_scale),
        )
        return self._real(interval * (1 - self.jitter * rng.random()))

    def error_delay(self, errors: int, rng: random.Random) -> float:
        """Real seconds to wait after ``errors`` polls in a row failed (full jitter)."""
        ceiling = min(self.error_backoff_max, self.error_backoff * 2 ** max(0, errors - 1))
        return self._real(max(self.min_interval, ceiling * rng.random()))

    def _real(self, server_seconds: float) -> float:
        return server_seconds / self.time_scale


@frozen
class DurationStats:
    """Recent job durations per endpoint (server seconds), to time the first poll well."""

    window: int = 64
    _samples: dict[str, deque[float]] = Factory(dict)

    def record(self, endpoint: str, seconds: float) -> None:
        """Remember how long a finished job took."""
        self._samples.setdefault(endpoint, deque(maxlen=self.window)).append(seconds)

    def early(self, endpoint: str) -> float | None:
        """The 10th percentile of recent durations, once there are enough samples."""
        samples = self._samples.get(endpoint)
        if samples is None or len(samples) < 5:
            return None
        return statistics.quantiles(samples, n=10)[0]
