"""When to poll a job: a duration model learned from every poll, and the poll plan it gives.

Every poll says something about how long jobs of one kind take. A finished job's duration lies in
(the last age it was seen running, the first age it was seen done]: a job found done at its
first poll bounds it from above only; a job still running at age ``a`` bounds it from below.
:class:`Cadence` fits a log-normal distribution to these interval-censored observations per kind
of work (endpoint, base model, resolution; falling back to the endpoint's, then to the docs'
typical duration) by expectation-maximisation, and plans each job's polls from it: the plan
minimises the expected number of polls plus ``lag_weight`` x the expected lag as a share of the
job's duration. Its first poll comes about when the fastest fifth of the jobs end, the next ones
every 25%..10% of the job's age, closer together where jobs are most likely to end.

With nothing learned, a scout job polls from 0.75 s on, 1.5 x later each time, while the others
wait for 70% of the docs' typical duration; as soon as any job of that kind finishes, every
waiting job is re-planned from what was learned. A job awaited alone is polled more keenly than
the jobs of a big batch (the API bears a poll the same whoever sends it).
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Protocol

from attrs import define, field, frozen

from .. import _constants as C
from .._exceptions import InvalidInputError
from .._http.retry import full_jitter

__all__ = ["Cadence", "Estimate", "PollConfig", "Work", "work_key"]

Work = tuple[str, str | None, str | None]
"""A kind of work: the endpoint, and the base model and resolution asked for (None: default)."""

_NORMAL = NormalDist()
_STATE_VERSION = 1
# Refit once the observations changed by this share since the last fit (a new kind: at once).
_REFIT_SHARE = 0.05
# A refit moves the plans of waiting jobs only past this change in log-median or spread.
_REPLAN_CHANGE = 0.02
# Without a learned spread, assume the public benchmark's (37..95 s around 55 s).
_PRIOR_SIGMA = 0.3
_PRIOR_SIGMA_WEIGHT = 1.0  # in jobs: the first few jobs cannot collapse the spread to nothing
_PRIOR_MU_WEIGHT = 0.05  # a mere anchor: one real job outweighs the docs twenty times
_LOADED_WEIGHT = 10.0  # a loaded estimate counts as this many jobs at most
# This many jobs in a row done at their first poll (the plan expects about 1 in 4): scout again.
_SURPRISES = 4
# A callback job that has not called back is believed to be running (its callback comes soon
# after its end) while at most this many of the last _CALLBACK_MEMORY callback jobs of the
# endpoint were found done by a poll before their callback came (lost or late callbacks).
_CALLBACK_MEMORY = 10
_CALLBACK_LOSSES = 1
# A job still running at an age by which fewer than this share of jobs end is no news (it would
# only add bins to every fit).
_NO_NEWS = 0.01
_SIGMA_RANGE = (0.03, 2.0)
_MEDIAN_RANGE = (0.05, 86_400.0)


def work_key(work: Work, *, endpoint_only: bool = False) -> str:
    """The name of a kind of work in saved state: ``generate`` or ``generate/nb2/4K``."""
    endpoint, model, resolution = work
    if endpoint_only:
        return endpoint
    return f"{endpoint}/{model or '-'}/{resolution or '-'}"


def _positive(_: object, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidInputError(f"poll.{attribute.name}", f"must be a number > 0, not {value!r}")


def _non_negative(_: object, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"poll.{attribute.name}", f"must be a number >= 0, not {value!r}")


@frozen
class Estimate:
    """A log-normal job duration in server seconds: ``exp(mu + sigma * z)``, fitted to ``count``
    finished jobs (a loaded estimate counts as at most ten)."""

    mu: float
    sigma: float
    count: float

    @property
    def median(self) -> float:
        """The median duration."""
        return math.exp(self.mu)

    @property
    def spread(self) -> float:
        """The sigma to plan with: the fitted one, wider while few jobs stand behind it (the
        predictive spread when the median itself is estimated from ``count`` jobs)."""
        return self.sigma * math.sqrt(1.0 + 1.0 / max(1.0, self.count))

    def quantile(self, share: float) -> float:
        """The age by which ``share`` of the jobs have finished."""
        return math.exp(self.mu + self.spread * _NORMAL.inv_cdf(share))

    def done_by(self, age: float, running_at: float = 0.0) -> float:
        """The probability that a job seen running at ``running_at`` has finished by ``age``."""
        low, high = self._cdf(running_at), self._cdf(age)
        return 0.0 if high <= low else (high - low) / max(1e-12, 1.0 - low)

    def _cdf(self, age: float) -> float:
        if age <= 0:
            return 0.0
        return _NORMAL.cdf((math.log(age) - self.mu) / self.spread)


def _learned(value: Mapping[str, Any] | None) -> Mapping[str, Estimate]:
    """Check a document of :meth:`Cadence.state` and read its estimates."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or value.get("version") != _STATE_VERSION or not (
        isinstance(value.get("durations"), Mapping)
    ):
        raise InvalidInputError(
            "poll.learned", "is not a document of AsyncPhota.cadence_state()",
            allowed=f"{{'version': {_STATE_VERSION}, 'durations': {{...}}}}",
        )
    estimates = {}
    for key, item in value["durations"].items():
        try:
            median, sigma, count = float(item["median"]), float(item["sigma"]), float(item["count"])
        except (TypeError, KeyError, ValueError):
            raise InvalidInputError(
                f"poll.learned[{key!r}]", "needs a median, a sigma and a count"
            ) from None
        if not (isinstance(key, str) and _MEDIAN_RANGE[0] <= median <= _MEDIAN_RANGE[1]
                and _SIGMA_RANGE[0] <= sigma <= _SIGMA_RANGE[1] and 0 <= count < 1e9):
            raise InvalidInputError(
                f"poll.learned[{key!r}]", "is out of range",
                allowed=f"median {_MEDIAN_RANGE} s, sigma {_SIGMA_RANGE}, count >= 0",
            )
        estimates[key] = Estimate(math.log(median), sigma, min(count, _LOADED_WEIGHT))
    return estimates


@frozen
class PollConfig:
    """How jobs are polled. Durations are server seconds; ``time_scale`` divides them all.

    An image job's polls follow what this client learned of the jobs of the same kind (endpoint,
    base model, resolution; see the README's "Jobs"). ``lag_weight`` is the trade between polls
    and lag: a poll is worth 1/``lag_weight`` of a job's duration in lag (twice that for a job
    awaited alone). No
    interval is shorter than ``min_interval``, longer than ``max_interval``, or (while a plan
    lasts) longer than ``max_growth`` x the job's age, then ``growth`` x its age. With nothing
    learned, ``scouts`` jobs per kind poll from ``scout_first`` on while the others first poll
    at ``cold_first`` x the ``typical`` duration, each ``cold_growth`` x its age later.

    A job submitted with a ``callback_url`` is first polled ``callback_grace`` x later, and not
    before nearly every job of its kind has ended: the callback is expected first, the poll is
    a safety net for a lost one. A server hint (``Retry-After``, ``poll_after_ms``) wins, up to
    ``max_hint``. ``max_polls_per_second`` caps the client's polls; under the cap the jobs most
    likely to have finished are polled first. Trainings are polled every
    ``training_min_interval``..``training_max_interval``. ``jitter`` spreads a batch's polls.
    ``learned`` is a document from :meth:`AsyncPhota.cadence_state` (a restarted batch starts
    warm); ``learn=False`` keeps to it (or to the docs). ``time_scale`` > 1 matches an emulator
    in scaled time (``$PHOTA_TIME_SCALE`` against a loopback address).
    """

    typical: Mapping[str, float] = field(factory=lambda: MappingProxyType(dict(C.POLL_TYPICAL)))
    lag_weight: float = field(default=C.POLL_LAG_WEIGHT, validator=_positive)
    min_interval: float = field(default=C.POLL_MIN_INTERVAL, validator=_positive)
    max_interval: float = field(default=C.POLL_MAX_INTERVAL, validator=_positive)
    growth: float = field(default=C.POLL_GROWTH, validator=_positive)
    max_growth: float = field(default=C.POLL_MAX_GROWTH, validator=_positive)
    scouts: int = field(default=C.POLL_SCOUTS, validator=_non_negative)
    scout_first: float = field(default=C.POLL_SCOUT_FIRST, validator=_positive)
    cold_first: float = field(default=C.POLL_COLD_FIRST, validator=_positive)
    cold_growth: float = field(default=C.POLL_COLD_GROWTH, validator=_positive)
    callback_grace: float = field(default=C.POLL_CALLBACK_GRACE, validator=_positive)
    max_hint: float = field(default=C.POLL_MAX_HINT, validator=_positive)
    max_polls_per_second: float | None = field(default=None)
    training_min_interval: float = field(default=C.POLL_TRAINING_MIN_INTERVAL, validator=_positive)
    training_max_interval: float = field(default=C.POLL_TRAINING_MAX_INTERVAL, validator=_positive)
    jitter: float = field(default=C.POLL_JITTER, validator=_non_negative)
    error_backoff: float = field(default=C.POLL_ERROR_BACKOFF, validator=_positive)
    error_backoff_max: float = field(default=C.POLL_ERROR_BACKOFF_MAX, validator=_positive)
    learned: Mapping[str, Any] | None = field(default=None)
    learn: bool = True
    time_scale: float = field(default=1.0, validator=_positive)

    @max_polls_per_second.validator
    def _check_budget(self, attribute: Any, value: float | None) -> None:
        if value is not None:
            _positive(self, attribute, value)

    @learned.validator
    def _check_learned(self, _: Any, value: Mapping[str, Any] | None) -> None:
        _learned(value)

    def typical_for(self, endpoint: str) -> float:
        """The docs' typical duration of ``endpoint`` (the prior before anything is learned)."""
        return float(self.typical.get(endpoint, C.POLL_TYPICAL_UNKNOWN))

    def real(self, server_seconds: float) -> float:
        """Real seconds (of the loop's clock) for ``server_seconds``."""
        return server_seconds / self.time_scale

    def hint_delay(self, hint: float) -> float:
        """A server hint (real seconds) as a delay, within ``min_interval``..``max_hint``: a
        hint of 0, NaN or 1e12 ms must neither make a client hammer the API nor strand a job."""
        if math.isnan(hint):
            hint = 0.0
        return min(max(hint, self.real(self.min_interval)), self.real(self.max_hint))

    def training_delay(self, age: float, rng: random.Random) -> float:
        """Real seconds to the next poll of a profile training ``age`` server seconds old."""
        interval = min(self.training_max_interval, max(self.training_min_interval, 0.1 * age))
        return self.real(interval * (1 - self.jitter * rng.random()))

    def error_delay(self, errors: int, rng: random.Random) -> float:
        """Real seconds to wait after ``errors`` polls in a row failed (full jitter)."""
        wait = full_jitter(self.error_backoff, self.error_backoff_max, errors, rng)
        return self.real(max(self.min_interval, wait))


# --- Fitting ----------------------------------------------------------------------------------


def _moments(low: float, high: float, mu: float, sigma: float) -> tuple[float, float]:
    """E[x] and E[x^2] of Normal(mu, sigma) restricted to (low, high] (log-durations)."""
    a, b = (low - mu) / sigma, (high - mu) / sigma
    mass = _NORMAL.cdf(b) - _NORMAL.cdf(a)
    if mass < 1e-9:  # the model finds this observation impossible: trust its nearest end
        x = low if a > 0 else high if b < 0 else (low + high) / 2
        return x, x * x
    pa = _NORMAL.pdf(a) if math.isfinite(a) else 0.0
    pb = _NORMAL.pdf(b) if math.isfinite(b) else 0.0
    ta = a * pa if math.isfinite(a) else 0.0
    tb = b * pb if math.isfinite(b) else 0.0
    mean = mu + sigma * (pa - pb) / mass
    central = sigma * sigma * (1 + (ta - tb) / mass)
    return mean, central + 2 * mu * mean - mu * mu


def _fit(
    observations: Mapping[tuple[float, float], float], start: Estimate, prior: Estimate,
    prior_mu_weight: float, prior_sigma_weight: float,
) -> tuple[float, float]:
    """The log-normal (mu, sigma) most likely to give the interval-censored ``observations``
    ({(log low, log high): weight}), by expectation-maximisation from ``start``, with a weak
    prior pull: a few jobs cannot make the spread vanish, upper bounds alone cannot run away."""
    mu, sigma = start.mu, start.sigma
    for _ in range(40):
        total = s1 = s2 = 0.0
        for (low, high), weight in observations.items():
            m1, m2 = _moments(low, high, mu, sigma)
            total, s1, s2 = total + weight, s1 + weight * m1, s2 + weight * m2
        new_mu = (s1 + prior_mu_weight * prior.mu) / (total + prior_mu_weight)
        scatter = s2 - 2 * new_mu * s1 + new_mu * new_mu * total
        variance = (max(0.0, scatter) + prior_sigma_weight * prior.sigma ** 2) / (
            total + prior_sigma_weight
        )
        new_mu = min(max(new_mu, math.log(_MEDIAN_RANGE[0])), math.log(_MEDIAN_RANGE[1]))
        new_sigma = min(max(math.sqrt(variance), _SIGMA_RANGE[0]), _SIGMA_RANGE[1])
        done = abs(new_mu - mu) < 1e-4 and abs(new_sigma - sigma) < 1e-4
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return mu, sigma


def _log_bin(seconds: float) -> float:
    """Observations are grouped by 1% steps of duration: a fit costs the same for 10 or 10,000."""
    return round(math.log(seconds), 2) if seconds > 0 else -math.inf


def _coarse_bin(seconds: float) -> float:
    """A lower bound rounded down to a 5% step: the silence of hundreds of callbacks, as few
    bins (a fit's cost) as a handful of polled jobs."""
    return round(math.floor(math.log(seconds) * 20) / 20, 2) if seconds > 0 else -math.inf


@define(eq=False)
class _LowerBounds:
    """Ages that jobs still waited on have run for at least: each job's 1% bin, and how many jobs
    each bin holds, kept as they change, so that a fit costs the same for 10 or 10,000 jobs."""

    step: Callable[[float], float] = _log_bin  # an age to its bin
    by_job: dict[Hashable, float] = field(factory=dict)
    counts: dict[float, int] = field(factory=dict)

    def __len__(self) -> int:
        return len(self.by_job)

    def __contains__(self, job: Hashable) -> bool:
        return job in self.by_job

    def set(self, job: Hashable, age: float) -> None:
        self.drop(job)
        low = self.by_job[job] = self.step(age)
        self.counts[low] = self.counts.get(low, 0) + 1

    def drop(self, job: Hashable) -> bool:
        """Forget ``job``'s bound; True if it had one."""
        low = self.by_job.pop(job, None)
        if low is None:
            return False
        left = self.counts[low] - 1
        if left:
            self.counts[low] = left
        else:
            del self.counts[low]
        return True

    def clear(self) -> None:
        self.by_job.clear()
        self.counts.clear()


@define(eq=False)
class _Durations:
    """What one kind of work has shown: finished jobs' (low, high] intervals (grouped by 1%
    steps, older ones fading with a half-life of ``POLL_MEMORY`` jobs so that the estimate
    follows a server that changes), the ages at which waited jobs were last seen running (by a
    poll, or by the silence of their callbacks while callbacks come), and the estimate fitted
    to all of it."""

    prior: Estimate
    loaded: bool
    finished: dict[tuple[float, float], float] = field(factory=dict)
    # The last age each job was seen running by a poll; else, for a job with a callback, the
    # age its callback's silence vouches for (one bound per job: a poll's comes first).
    running: _LowerBounds = field(factory=_LowerBounds)
    silent: _LowerBounds = field(factory=lambda: _LowerBounds(_coarse_bin))
    estimate: Estimate | None = None
    changes: int = 0
    _fresh: int = 0  # finished jobs added since the last fit
    _seen: float = 0.0  # the (faded) weight of the finished jobs
    # Whether each of the last finished jobs was done at its first poll (an upper bound only).
    _first_poll_done: deque[bool] = field(factory=lambda: deque(maxlen=_SURPRISES))

    def __attrs_post_init__(self) -> None:
        if self.loaded:
            self.estimate = self.prior

    def set_running(self, job: Hashable, age: float) -> None:
        """``job`` was seen running at ``age`` (its latest, and so its tightest, lower bound)."""
        self.silent.drop(job)
        self.running.set(job, age)
        self.changes += 1

    def drop_running(self, job: Hashable) -> bool:
        """``job`` is no longer waited on as running; True if it was."""
        return self.running.drop(job) | self.silent.drop(job)

    def learned_anything(self) -> bool:
        return self.loaded or bool(self.finished)

    def add_finished(self, low: float, high: float) -> None:
        key = (_log_bin(low), _log_bin(high))
        self.finished[key] = self.finished.get(key, 0.0) + 1.0
        self._fresh += 1
        self._seen += 1.0
        if low > 0:
            self._first_poll_done.append(False)
        elif self.estimate is None or high < self.estimate.median:
            self._first_poll_done.append(True)  # done sooner than most: unexpected
        # (done at a first poll later than most jobs take, e.g. awaited late: no news)

    def surprised(self) -> bool:
        """True when the last jobs were all done at their first poll: the plan's first poll
        comes late (the server got faster), and upper bounds alone teach slowly; a scout then
        measures where jobs end now."""
        return len(self._first_poll_done) == _SURPRISES and all(self._first_poll_done)

    def due(self) -> bool:
        """Whether enough changed since the last fit to fit again."""
        threshold = max(1.0, _REFIT_SHARE * (self._seen + len(self.running) + len(self.silent)))
        return bool(self.finished) and self.changes >= threshold

    def refit(self) -> bool:
        """Fit again if enough changed; True when the estimate moved enough to re-plan."""
        if not self.due():
            return False
        self._fade()
        bins = dict(self.finished)
        for bounds in (self.running, self.silent):
            for low, jobs in bounds.counts.items():
                key = (low, math.inf)
                bins[key] = bins.get(key, 0.0) + jobs
        weights = (_LOADED_WEIGHT if self.loaded else _PRIOR_MU_WEIGHT,
                   _LOADED_WEIGHT if self.loaded else _PRIOR_SIGMA_WEIGHT)
        old = self.estimate
        count = self._seen + (self.prior.count if self.loaded else 0.0)
        mu, sigma = _fit(bins, old or self.prior, self.prior, *weights)
        self.estimate = Estimate(mu, sigma, count)
        return old is None or (
            abs(mu - old.mu) > _REPLAN_CHANGE or abs(self.estimate.spread - old.spread)
            > _REPLAN_CHANGE
        )

    def _fade(self) -> None:
        factor = 0.5 ** (self._fresh / C.POLL_MEMORY)
        self.changes = self._fresh = 0
        for key in list(self.finished):
            self.finished[key] *= factor
            if self.finished[key] < 0.01:
                del self.finished[key]
        self._seen = sum(self.finished.values())


# --- Planning ---------------------------------------------------------------------------------

_Z = tuple(-3.5 + 0.05 * i for i in range(141))  # the standard normal quantiles a poll may take


@functools.lru_cache(maxsize=512)
def _policy(sigma: float, lag_weight: float) -> tuple[int, tuple[int, ...]]:
    """When to poll log-normal jobs of spread ``sigma`` so as to minimise expected polls +
    ``lag_weight`` x expected relative lag: the index into ``_Z`` of the first poll, and for a
    job last polled (still running) at ``_Z[i]``, the index of its next poll (``len(_Z)``: past
    the plan, where 1 job in 1000 is left). Dynamic programming over the grid of quantiles."""
    n = len(_Z)
    cdf = [_NORMAL.cdf(z) for z in _Z]
    shifted = [_NORMAL.cdf(z + sigma) for z in _Z]
    scale = [math.exp(sigma * z + sigma * sigma / 2) for z in _Z]

    def lag(i: int, j: int) -> float:  # E[(t_j - D) / D; t_i < D <= t_j], from 0 when i < 0
        f, g = (cdf[i], shifted[i]) if i >= 0 else (0.0, 0.0)
        return scale[j] * (shifted[j] - g) - (cdf[j] - f)

    cost, after = [0.0] * n, [n] * n
    for i in reversed(range(n)):
        survive = 1.0 - cdf[i]
        if survive < 1e-3:
            continue  # the tail rule takes over from here
        cost[i], after[i] = min(
            (survive + lag_weight * lag(i, j) + cost[j], j) for j in range(i + 1, n)
        )
    _, first = min((1.0 + lag_weight * lag(-1, j) + cost[j], j) for j in range(n))
    return first, tuple(after)


def _next_age(
    estimate: Estimate, last_poll: float | None, config: PollConfig, lag_weight: float
) -> float:
    """The server age of a job's next poll under ``estimate``, after a poll at ``last_poll``
    that found it running (None: never polled), within the config's bounds."""
    spread = round(estimate.spread, 2)
    first, after = _policy(spread, round(lag_weight))
    if last_poll is None:
        return max(config.min_interval, estimate.median * math.exp(spread * _Z[first]))
    position = (math.log(max(last_poll, 1e-9)) - estimate.mu) / spread
    index = bisect.bisect_right(_Z, position) - 1
    following = first if index < 0 else after[index]
    if following >= len(_Z):  # slower than nearly every job seen: every ``growth`` x its age
        step = config.growth * last_poll
    else:
        step = estimate.median * math.exp(spread * _Z[following]) - last_poll
    longest = max(config.min_interval, min(config.max_interval, config.max_growth * last_poll))
    return last_poll + min(max(step, config.min_interval), longest)


# --- The cadence of one client ------------------------------------------------------------------


class Awaited(Protocol):
    """What the cadence asks of a job submitted with a callback."""

    def silent_age(self) -> float | None:
        """The age (server s) it has run for at least, judging by its callback not having
        come yet; None once the callback came (or the job ended)."""


class Cadence:
    """What one client learned of job durations, and the poll plan it gives each job.

    Jobs report what they see (:meth:`seen_running`, :meth:`seen_done`, :meth:`forget`); when
    an estimate moves, :meth:`seen_done` says so and the caller re-plans :meth:`waiting` jobs.
    """

    def __init__(self, config: PollConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self._loaded = dict(_learned(config.learned))
        self._durations: dict[str, _Durations] = {}
        # The same, by the work tuple itself: the hot path of every poll plan skips the key.
        self._lookup: dict[tuple[Work, bool], _Durations] = {}
        self._waiting: dict[str, weakref.WeakSet[Any]] = {}
        self._scouts: dict[str, weakref.WeakSet[Any]] = {}
        # The waiting jobs with a callback, and whether the last callback jobs were called back.
        self._silent: dict[str, weakref.WeakKeyDictionary[Any, Work]] = {}
        self._called_back: dict[str, deque[bool]] = {}

    # --- Planning -----------------------------------------------------------------------------

    def estimate(self, work: Work) -> Estimate | None:
        """What the plans of ``work`` follow: its own estimate, else its endpoint's, else None
        (nothing learned yet; with ``learn=False``, the docs' typical duration instead)."""
        for durations in (self._of(work), self._of(work, endpoint_only=True)):
            if durations.learned_anything():
                durations.refit()
                return durations.estimate
        return None if self.config.learn else self._of(work, endpoint_only=True).prior

    def enlist(
        self, job: Hashable, work: Work, *, may_scout: bool = True, callback: Awaited | None = None
    ) -> bool:
        """Register a job whose polls are about to be planned; True if it is to scout: it may
        (never polled, no callback), scouts are needed (nothing is known of its kind, or the
        plan proved late) and fewer than ``scouts`` jobs of the endpoint scout already. A job
        with a callback passes itself as ``callback``: while callbacks come, its silence says
        it is still running."""
        endpoint = work[0]
        _registry(self._waiting, endpoint).add(job)
        if callback is not None:
            silent = self._silent.get(endpoint)
            if silent is None:
                silent = self._silent[endpoint] = weakref.WeakKeyDictionary()
            silent[callback] = work
        scouts = _registry(self._scouts, endpoint)
        if job in scouts:
            return True
        if may_scout and self._scouting(work) and len(scouts) < self.config.scouts:
            scouts.add(job)
            return True
        return False

    def delay(
        self, work: Work, age: float, last_poll: float | None, *, scout: bool, callback: bool
    ) -> float:
        """Real seconds until the next poll of a job ``age`` server seconds old, last polled at
        age ``last_poll`` (None: never)."""
        config = self.config
        estimate = self.estimate(work)
        if estimate is None or (scout and self._scouting(work)):
            # Scouts probe from early on; with nothing learned, the others wait for the docs.
            first = config.scout_first if scout else config.cold_first * config.typical_for(work[0])
            target = first if last_poll is None else last_poll * (1 + config.cold_growth)
        else:
            # A poll costs the API the same whoever sends it: while few jobs wait, each may
            # be polled more keenly (a job awaited alone, twice as keenly as in a big batch).
            waiting = max(1, len(self._waiting.get(work[0], ())))
            target = _next_age(estimate, last_poll, config, config.lag_weight * (1 + 1 / waiting))
        if last_poll is None and callback:
            # The callback is expected first: this poll is a safety net for a lost one, later
            # than a plan's first poll and, while callbacks come, than the end of nearly every
            # job of the kind (while they get lost, a callback is not worth waiting so long for).
            target *= config.callback_grace
            if estimate is not None and self._callbacks_come(work[0]):
                target = max(target, estimate.quantile(C.POLL_CALLBACK_QUANTILE))
        else:
            target = max(target, (last_poll or 0.0) + config.min_interval)
        wait = min(max(0.0, target - age), config.max_interval)
        return config.real(wait * (1 - config.jitter * self._rng.random()))

    def _scouting(self, work: Work) -> bool:
        """Whether ``work`` needs scouts: nothing learned, or its plan proved late."""
        if self.estimate(work) is None:
            return self.config.learn
        durations = self._of(work)
        if not durations.learned_anything():
            durations = self._of(work, endpoint_only=True)
        return self.config.learn and durations.surprised()

    def done_probability(self, work: Work, age: float, running_at: float) -> float:
        """How likely a job seen running at ``running_at`` is to have finished at ``age``."""
        estimate = self.estimate(work) or Estimate(
            math.log(self.config.typical_for(work[0])), _PRIOR_SIGMA, 0.0
        )
        return estimate.done_by(age, running_at)

    # --- Learning -----------------------------------------------------------------------------

    def seen_running(self, job: Hashable, work: Work, age: float) -> bool:
        """A poll found ``job`` still running at ``age``; True when plans should be re-made."""
        moved = False
        for durations in self._both(work):
            durations.set_running(job, age)
            moved = durations.refit() or moved
        return moved

    def seen_done(
        self, job: Hashable, work: Work, low: float, high: float, *,
        called_back: bool | None = None,
    ) -> bool:
        """``job`` finished after ``low`` and by ``high`` (server seconds of age); True when the
        estimate moved and the waiting jobs of the endpoint should be re-planned.
        ``called_back``: for a job with a callback, whether the callback came before a poll
        found it done."""
        both = self._both(work)
        for durations in both:
            durations.drop_running(job)
            durations.add_finished(low, high)
            durations.changes += 1
        if called_back is not None:
            heard = self._called_back.get(work[0])
            if heard is None:
                heard = self._called_back[work[0]] = deque(maxlen=_CALLBACK_MEMORY)
            heard.append(called_back)
            if not self._callbacks_come(work[0]):
                self._unhear_silence(work[0])
            elif called_back and any(d.due() for d in both):
                self._hear_silence(work[0])
        moved = False
        for durations in both:
            moved = durations.refit() or moved
        self._release(job, work)
        return moved

    def forget(self, job: Hashable, work: Work) -> None:
        """``job`` is no longer waited on, or failed: it teaches nothing more."""
        for durations in self._both(work):
            if durations.drop_running(job):
                durations.changes += 1
        self._release(job, work)

    def waiting(self, endpoint: str) -> Iterator[Any]:
        """The jobs of ``endpoint`` whose polls are planned now."""
        return iter(list(self._waiting.get(endpoint, ())))

    def state(self) -> dict[str, Any]:
        """What was learned, as a small JSON-able document (``PollConfig(learned=...)``): this
        client's estimates, and those it was given for kinds of work it has not seen (a run
        that saw no generate job must not forget what an earlier run learned of them)."""
        estimates = dict(self._loaded)
        for key, item in self._durations.items():
            item.refit()
            if item.estimate is not None:
                estimates[key] = item.estimate
        durations = {
            key: {"median": round(e.median, 3), "sigma": round(e.sigma, 4), "count": round(e.count)}
            for key, e in sorted(estimates.items())
        }
        return {"version": _STATE_VERSION, "durations": durations}

    def load(self, document: Mapping[str, Any]) -> None:
        """Start from a document of :meth:`state` for every kind of work not yet seen here
        (what this client observed itself wins over what an earlier run saved)."""
        for key, estimate in _learned(document).items():
            if key not in self._durations:
                self._loaded[key] = estimate

    def _callbacks_come(self, endpoint: str) -> bool:
        """Whether the callbacks of ``endpoint``'s jobs come (nearly all of the last ones did,
        or none was missed yet)."""
        record = self._called_back.get(endpoint)
        return record is None or record.count(False) <= _CALLBACK_LOSSES

    def _hear_silence(self, endpoint: str) -> None:
        """The jobs still waiting for their callback are still running: without them, the jobs
        of a batch that called back first (the quickest) would teach too short a duration."""
        floors: dict[int, float] = {}  # by id of the durations: the youngest age that is news
        for job, work in list(self._silent.get(endpoint, {}).items()):
            age = job.silent_age()
            if age is None:
                continue
            for durations in self._both(work):
                floor = floors.get(id(durations))
                if floor is None:
                    known = durations.estimate
                    floor = floors[id(durations)] = (
                        0.0 if known is None else known.quantile(_NO_NEWS)
                    )
                # A poll's bound comes first (a job polled once is polled again soon).
                if age > floor and job not in durations.running:
                    durations.silent.set(job, age)

    def _unhear_silence(self, endpoint: str) -> None:
        """Callbacks get lost: their silence says nothing any more."""
        for key, durations in self._durations.items():
            if durations.silent and key.split("/")[0] == endpoint:
                durations.changes += len(durations.silent)
                durations.silent.clear()

    def _release(self, job: Hashable, work: Work) -> None:
        for registry in (self._waiting, self._scouts):
            jobs = registry.get(work[0])
            if jobs is not None:
                jobs.discard(job)
        silent = self._silent.get(work[0])
        if silent is not None:
            silent.pop(job, None)

    def _both(self, work: Work) -> tuple[_Durations, ...]:
        if not self.config.learn:
            return ()
        return self._of(work), self._of(work, endpoint_only=True)

    def _of(self, work: Work, *, endpoint_only: bool = False) -> _Durations:
        durations = self._lookup.get((work, endpoint_only))
        if durations is None:
            durations = self._lookup[work, endpoint_only] = self._make(work, endpoint_only)
        return durations

    def _make(self, work: Work, endpoint_only: bool) -> _Durations:
        key = work_key(work, endpoint_only=endpoint_only)
        durations = self._durations.get(key)
        if durations is None:
            loaded = self._loaded.get(key)
            prior = loaded or Estimate(
                math.log(self.config.typical_for(work[0])), _PRIOR_SIGMA, 0.0
            )
            durations = self._durations[key] = _Durations(prior, loaded=loaded is not None)
        return durations


def _registry(registries: dict[str, weakref.WeakSet[Any]], endpoint: str) -> weakref.WeakSet[Any]:
    """The endpoint's set in ``registries``, made on first use (not built as a default that
    ``setdefault`` would throw away on every call: the hot path of every poll plan)."""
    jobs = registries.get(endpoint)
    if jobs is None:
        jobs = registries[endpoint] = weakref.WeakSet()
    return jobs
