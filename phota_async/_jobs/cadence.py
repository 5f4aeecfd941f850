"""When to poll a job: per-kind cadence, server hints, learned durations and jitter."""

from __future__ import annotations

import random
import statistics
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType

from attrs import Factory, field, frozen

__all__ = ["DurationStats", "PollConfig"]

# Typical durations (server seconds): generate and edit from the docs' benchmarks (phota-api.md
# section 8); enhance and remix are undocumented, so a guess that learning soon replaces.
_TYPICAL = MappingProxyType({"generate": 55.0, "edit": 48.0, "enhance": 30.0, "remix": 30.0})


@frozen
class PollConfig:
    """The poll cadence. Durations are server seconds; ``time_scale`` divides them all.

    An image job is first polled at ``first_poll`` x the typical duration of its endpoint
    (``typical``, replaced by what this client has seen once a few jobs have finished), then
    every ``growth`` x its age (between ``min_interval`` and ``max_interval``). Since each
    interval is at most ``growth`` x the age of a job still running, a job resolves at most
    ``growth`` x its duration after the server finished it, in about two polls when its duration
    is typical. A job submitted with a ``callback_url`` waits ``callback_grace`` x longer before
    its first poll: the callback is expected to come first. A training is polled every
    ``training_min_interval``..``training_max_interval``, as the API's docs ask. A server hint
    (``Retry-After``, ``poll_after_ms``) always wins. ``jitter`` spreads polls so that a batch
    does not poll in lockstep. ``time_scale`` > 1 is for an emulator running in scaled time.
    """

    typical: Mapping[str, float] = field(default=_TYPICAL)
    first_poll: float = 0.95
    growth: float = 0.1
    min_interval: float = 1.0
    max_interval: float = 30.0
    callback_grace: float = 2.0
    training_min_interval: float = 10.0
    training_max_interval: float = 30.0
    jitter: float = 0.04
    error_backoff: float = 2.0
    error_backoff_max: float = 60.0
    time_scale: float = 1.0
    learn: bool = True

    def first_delay(
        self, endpoint: str, stats: DurationStats, rng: random.Random, *, callback: bool = False
    ) -> float:
        """Real seconds from submit to the first poll of an image job."""
        typical = self.typical.get(endpoint, 30.0)
        at = typical * self.first_poll
        learned = stats.early(endpoint) if self.learn else None
        if learned is not None:
            at = min(learned, self.first_poll * (stats.median(endpoint) or typical))
        if callback:
            at *= self.callback_grace
        return self._real(at * (1 + self.jitter * (rng.random() - 0.5)))

    def next_delay(self, age: float, rng: random.Random) -> float:
        """Real seconds to the next poll of an image job that is ``age`` real seconds old."""
        interval = self._clamp(self.growth * age * self.time_scale)
        # Only ever shorter than ``growth`` x age, which is what bounds the resolution lag.
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

    def _clamp(self, interval: float) -> float:
        return min(self.max_interval, max(self.min_interval, interval))

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
        samples = self._enough(endpoint)
        return statistics.quantiles(samples, n=10)[0] if samples else None

    def median(self, endpoint: str) -> float | None:
        """The median of recent durations, once there are enough samples."""
        samples = self._enough(endpoint)
        return statistics.median(samples) if samples else None

    def _enough(self, endpoint: str) -> deque[float] | None:
        samples = self._samples.get(endpoint)
        return samples if samples is not None and len(samples) >= 5 else None
