"""The coordination seam: what the processes of one deployment share, and the in-process default.

Several processes (gunicorn workers, machines) calling the API with one account share three
things: the account's requests-per-second budget, a ``429 Retry-After`` pause (the server spoke
about the account, not about the process that heard it), and webhook callbacks (one worker
receives the callback, another awaits the job). A :class:`Coordination` provides them; the
client consults it for every request and for every verified callback. Its own adaptive limiter
stays in front (requests in flight, AIMD).

:class:`InProcessCoordination` is the default: one per client, it shares nothing beyond that
client, which is the behaviour of a single process. Given to several clients of one process, it
shares the budget, the pause and the callbacks between them. ``RedisCoordination`` shares them
between processes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .. import _clock as clock
from .. import _constants as C
from .._exceptions import InvalidInputError

__all__ = ["Coordination", "DueListener", "Gcra", "InProcessCoordination", "Member", "burst_for"]

log = logging.getLogger("phota_async")

DueListener = Callable[[str], None]
"""Called with the id of a job a verified callback named (the job is due for a confirming GET)."""


@runtime_checkable
class Coordination(Protocol):
    """What the processes of one deployment share; pass one as ``AsyncPhota(coordination=...)``.

    ``start``/``aclose`` come in pairs, one pair per client using it: the first start connects,
    the last close disconnects, so one instance may serve several clients of a process.
    """

    async def start(self) -> None:
        """Get ready (connect); raise :class:`CoordinationError` if that is impossible."""

    async def aclose(self) -> None:
        """One client is done with it; the last one closes it."""

    async def turn(self, deadline: float | None) -> None:
        """Wait out the shared pause and take one place in the shared budget.

        ``deadline`` is a loop-clock reading (``_clock.now()``): raise ``TimeoutError`` at
        once, taking nothing, when the place cannot come before it.
        """

    def pause(self, seconds: float) -> None:
        """Hold every new request of every process for ``seconds`` (a 429's ``Retry-After``)."""

    def subscribe(self, listener: DueListener) -> Callable[[], None]:
        """Call ``listener(job_id)`` when any process verified a callback for that job; returns
        the function that unsubscribes."""

    async def announce_due(self, job_id: str, *, source: DueListener | None = None) -> None:
        """A callback for ``job_id`` was verified here: tell every listener but ``source``.

        Only the job's id crosses processes, never the callback's body, and never an unverified
        one. It never raises for a lost connection: polling remains the authority.
        """


def burst_for(rate: float, burst: int | None) -> int:
    """A budget's burst: as given, else ``COORD_BURST_SECONDS`` worth of requests (at least 1)."""
    if burst is None:
        return max(1, math.ceil(rate * C.COORD_BURST_SECONDS))
    if not isinstance(burst, int) or burst < 1:
        raise InvalidInputError("burst", f"{burst!r} is not allowed", allowed="an int >= 1")
    return burst


def check_rate(rate: float | None) -> float | None:
    """``rate_limit``: None (no budget) or a positive number of requests per second."""
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
        raise InvalidInputError(
            "rate_limit", f"{rate!r} is not allowed", allowed="a number of requests per second > 0"
        )
    return float(rate)


class Gcra:
    """A requests-per-second budget with a burst, as a schedule (GCRA), and a pause.

    The same algorithm as the Redis script of ``RedisCoordination``, on this process's clock: a
    request reserves the next free place and waits for it; a place that cannot come before the
    caller's deadline is not taken.
    """

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.interval = 0.0 if rate is None else 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._tat = 0.0  # the theoretical arrival time of the next request
        self._resume_at = 0.0

    def pause(self, seconds: float) -> None:
        """No place before ``seconds`` from now."""
        self._resume_at = max(self._resume_at, clock.now() + seconds)

    def pause_left(self) -> float:
        """Seconds of pause left (0 when not paused)."""
        return max(0.0, self._resume_at - clock.now())

    def reserve(self, deadline: float | None) -> float | None:
        """Seconds to wait for a reserved place; None (nothing taken) when past ``deadline``."""
        now = clock.now()
        start = max(now, self._resume_at)
        tat = max(self._tat, start)
        allowed = max(start, tat - self.tolerance)
        if deadline is not None and allowed > deadline:
            return None
        self._tat = tat + self.interval
        return allowed - now

    def give_back(self) -> None:
        """An abandoned wait hands its place to those behind it."""
        self._tat = max(clock.now(), self._tat - self.interval)


async def wait_reserved(gcra: Gcra, deadline: float | None) -> None:
    """Reserve a place in ``gcra`` and wait for it (``TimeoutError`` when it comes too late)."""
    wait = gcra.reserve(deadline)
    if wait is None:
        raise TimeoutError("no place in the rate budget before the deadline")
    if wait <= 0:
        return
    try:
        await asyncio.sleep(wait)
    except BaseException:
        gcra.give_back()
        raise


class Listeners:
    """The due-listeners of one process, and delivery to them."""

    def __init__(self) -> None:
        self._listeners: list[DueListener] = []

    def subscribe(self, listener: DueListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def deliver(self, job_id: str, *, source: DueListener | None = None) -> None:
        for listener in list(self._listeners):
            if listener is source:
                continue
            try:
                listener(job_id)
            except Exception:  # one client's bug must not keep the job from the others
                log.exception("a due-listener raised")


class InProcessCoordination:
    """Shares a budget, a pause and callbacks between the clients of one process.

    Every client gets its own by default (nothing shared: a single process's behaviour). Give
    one instance to several clients to share ``rate_limit`` (requests per second, with
    ``burst``; None: no budget here, each client's own ``rate_limit`` still applies) and the
    callbacks any of them verifies.
    """

    # Without a budget and a pause, turn() does not wait (the limiter skips it then).
    turn_free_without_budget = True

    def __init__(self, *, rate_limit: float | None = None, burst: int | None = None) -> None:
        rate = check_rate(rate_limit)
        self.rate_limit = rate
        self.burst = 1 if rate is None else burst_for(rate, burst)
        self._gcra = Gcra(rate, self.burst)
        self._listeners = Listeners()

    def __repr__(self) -> str:
        return f"InProcessCoordination(rate_limit={self.rate_limit!r}, burst={self.burst})"

    @property
    def pause_left(self) -> float:
        """Seconds new requests are still held for a 429's pause."""
        return self._gcra.pause_left()

    async def start(self) -> None:
        """Nothing to connect."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def turn(self, deadline: float | None) -> None:
        """Wait for the pause and a place in the budget (if any)."""
        await wait_reserved(self._gcra, deadline)

    def pause(self, seconds: float) -> None:
        """Hold this coordination's requests for ``seconds``."""
        self._gcra.pause(seconds)

    def subscribe(self, listener: DueListener) -> Callable[[], None]:
        """Listen for verified callbacks announced by any client of this coordination."""
        return self._listeners.subscribe(listener)

    async def announce_due(self, job_id: str, *, source: DueListener | None = None) -> None:
        """Tell the other clients of this coordination that ``job_id`` is due."""
        self._listeners.deliver(job_id, source=source)


class Member:
    """One client's use of a coordination: started once, closed once, one due-listener.

    The limiter and the webhook handler talk to this, so that a coordination shared by several
    clients is started and closed once per client, never more.
    """

    def __init__(self, coordination: Coordination) -> None:
        if not isinstance(coordination, Coordination):
            raise InvalidInputError(
                "coordination", f"{coordination!r} is not a coordination",
                allowed="InProcessCoordination, RedisCoordination or a Coordination",
            )
        self.coordination = coordination
        self._started = False
        self._closed = False
        self._lock: asyncio.Lock | None = None
        self._listener: DueListener | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def ensure_started(self) -> None:
        """Start the coordination for this client (once); ``CoordinationError`` if it cannot."""
        if self._started:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._started and not self._closed:
                await self.coordination.start()
                self._started = True

    def is_free(self) -> bool:
        """True when a turn would not wait: started, with no shared budget and no pause now
        (the limiter's fast path then takes no await). Unknown coordinations always take turns."""
        coordination: Any = self.coordination
        return bool(self._started and getattr(coordination, "turn_free_without_budget", False)
                    and coordination.rate_limit is None and coordination.pause_left <= 0)

    async def turn(self, deadline: float | None) -> None:
        """The shared pause and budget, for one request attempt."""
        await self.ensure_started()
        await self.coordination.turn(deadline)

    def pause(self, seconds: float) -> None:
        """Share a 429's pause (only once started: a closed client has nothing to say)."""
        if self._started:
            self.coordination.pause(seconds)

    def listen(self, listener: DueListener) -> None:
        """This client's handler of jobs announced due elsewhere."""
        self._listener = listener
        self._unsubscribe = self.coordination.subscribe(listener)

    async def announce_due(self, job_id: str) -> None:
        """Tell the other clients (and processes) that a verified callback named ``job_id``."""
        await self.ensure_started()
        await self.coordination.announce_due(job_id, source=self._listener)

    async def aclose(self) -> None:
        """Unsubscribe, and close the coordination if this client started it."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._started:
            self._started = False
            await self.coordination.aclose()
