"""The adaptive limiter: a cap on requests in flight that halves on pushback and grows back."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from phota_async._http.limiter import AdaptiveLimiter


class Gauge:
    """Counts how many holders are inside a slot at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []
        self.changed = asyncio.Event()

    async def until(self, count: int) -> None:
        """Wait until ``count`` holders are inside a slot."""
        while self.now < count:
            self.changed.clear()
            await self.changed.wait()

    async def hold(self, limiter: AdaptiveLimiter, seconds: float = 0.0,
                   gate: asyncio.Event | None = None) -> None:
        async with limiter.slot():
            self.starts.append(asyncio.get_running_loop().time())
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.changed.set()
            assert limiter.in_flight <= limiter.limit or gate is not None
            try:
                if gate is not None:
                    await gate.wait()
                await asyncio.sleep(seconds)
            finally:
                self.now -= 1


@pytest.mark.parametrize("ceiling", [0, -1])
def test_a_ceiling_below_one_is_refused(ceiling: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimiter(ceiling)


def test_starts_at_the_ceiling() -> None:
    limiter = AdaptiveLimiter(16)
    assert limiter.limit == 16
    assert limiter.in_flight == 0


@pytest.mark.parametrize("ceiling", [1, 3, 8])
async def test_never_more_than_the_limit_in_flight(ceiling: int) -> None:
    limiter = AdaptiveLimiter(ceiling)
    gauge = Gauge()
    await asyncio.gather(*(gauge.hold(limiter, 0.002) for _ in range(30)))
    assert gauge.peak == ceiling
    assert len(gauge.starts) == 30
    assert limiter.in_flight == 0


def test_halves_on_pushback_down_to_one() -> None:
    limiter = AdaptiveLimiter(16)
    seen = []
    for _ in range(6):
        limiter.on_pushback()
        seen.append(limiter.limit)
    assert seen == [8, 4, 2, 1, 1, 1]
    assert limiter.pushbacks == 6


def test_odd_limits_halve_down() -> None:
    limiter = AdaptiveLimiter(7)
    limiter.on_pushback()
    assert limiter.limit == 3


def test_grows_by_one_per_success_up_to_the_ceiling() -> None:
    limiter = AdaptiveLimiter(5)
    for _ in range(3):
        limiter.on_pushback()
    assert limiter.limit == 1
    seen = []
    for _ in range(7):
        limiter.on_success()
        seen.append(limiter.limit)
    assert seen == [2, 3, 4, 5, 5, 5, 5]


def test_not_adaptive_keeps_the_ceiling_but_counts_pushbacks() -> None:
    limiter = AdaptiveLimiter(4, adaptive=False)
    limiter.on_pushback()
    limiter.on_pushback()
    limiter.on_success()
    assert limiter.limit == 4
    assert limiter.pushbacks == 2


async def test_a_halved_limit_holds_back_new_requests_while_old_ones_finish() -> None:
    limiter = AdaptiveLimiter(4)
    gate = asyncio.Event()
    first = Gauge()
    holders = [asyncio.create_task(first.hold(limiter, gate=gate)) for _ in range(4)]
    await first.until(4)
    assert limiter.in_flight == 4
    limiter.on_pushback()  # the server pushed back while four were in flight
    assert limiter.limit == 2

    second = Gauge()
    later = [asyncio.create_task(second.hold(limiter, 0.002)) for _ in range(6)]
    await asyncio.sleep(0.01)
    assert second.starts == []  # 4 in flight >= limit 2: nobody new may start
    gate.set()
    await asyncio.gather(*holders, *later)
    assert second.peak == 2
    assert len(second.starts) == 6


async def test_growth_lets_more_in() -> None:
    limiter = AdaptiveLimiter(4)
    limiter.on_pushback()
    limiter.on_pushback()
    assert limiter.limit == 1
    gauge = Gauge()
    await asyncio.gather(*(gauge.hold(limiter, 0.002) for _ in range(5)))
    assert gauge.peak == 1
    for _ in range(3):
        limiter.on_success()
    gauge = Gauge()
    await asyncio.gather(*(gauge.hold(limiter, 0.002) for _ in range(12)))
    assert gauge.peak == 4


async def test_a_slot_is_released_when_the_request_fails() -> None:
    limiter = AdaptiveLimiter(2)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            async with limiter.slot():
                raise RuntimeError("attempt failed")
    assert limiter.in_flight == 0


async def test_a_slot_is_released_when_the_waiter_is_cancelled() -> None:
    limiter = AdaptiveLimiter(1)
    gate = asyncio.Event()
    gauge = Gauge()
    holder = asyncio.create_task(gauge.hold(limiter, gate=gate))
    await gauge.until(1)
    waiter = asyncio.create_task(Gauge().hold(limiter))
    await asyncio.sleep(0.005)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await holder
    assert limiter.in_flight == 0
    await asyncio.wait_for(Gauge().hold(limiter), 1.0)  # the slot is usable again


# The rate tests run on looptime's fast-forwarding loop clock, which the limiter reads: the
# spacing they check is exact, whatever the machine's load.


@pytest.mark.looptime
async def test_rate_spaces_concurrent_requests() -> None:
    limiter = AdaptiveLimiter(10, rate=2.0)  # one every 0.5 s
    gauge = Gauge()
    await asyncio.gather(*(gauge.hold(limiter) for _ in range(10)))
    starts = sorted(gauge.starts)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.5] * 9, abs=1e-3)


@pytest.mark.looptime
async def test_rate_spaces_sequential_requests() -> None:
    limiter = AdaptiveLimiter(1, rate=1.0)  # one a second
    gauge = Gauge()
    for _ in range(6):
        await gauge.hold(limiter)
    gaps = [b - a for a, b in itertools.pairwise(gauge.starts)]
    assert gaps == pytest.approx([1.0] * 5, abs=1e-3)


@pytest.mark.looptime
async def test_no_rate_means_no_spacing() -> None:
    limiter = AdaptiveLimiter(10)
    gauge = Gauge()
    await asyncio.gather(*(gauge.hold(limiter) for _ in range(50)))
    assert max(gauge.starts) - min(gauge.starts) == pytest.approx(0.0, abs=1e-6)


async def test_a_free_slot_is_taken_without_suspending() -> None:
    """Private unit: the hot path of every API call takes a free slot with no await at all."""
    limiter = AdaptiveLimiter(2)
    acquiring = limiter.acquire(5.0)
    with pytest.raises(StopIteration):
        acquiring.send(None)  # finished on its first step: it never yielded to the loop
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_waiters_get_slots_in_arrival_order() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    order: list[int] = []

    async def wait(index: int) -> None:
        await limiter.acquire()
        order.append(index)
        limiter.release()

    waiters = []
    for index in range(5):
        waiters.append(asyncio.create_task(wait(index)))
        await asyncio.sleep(0)  # each one queues before the next arrives
    limiter.release()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2, 3, 4]
    assert limiter.in_flight == 0


async def test_a_slot_handed_to_a_waiter_that_gives_up_passes_on() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    leaving = asyncio.create_task(limiter.acquire())
    staying = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    limiter.release()  # the slot is handed to the first waiter...
    leaving.cancel()  # ...which gives up before it could use it
    with pytest.raises(asyncio.CancelledError):
        await leaving
    await asyncio.wait_for(staying, 1.0)  # the next waiter gets it
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_a_wait_past_its_timeout_raises_and_takes_nothing() -> None:
    limiter = AdaptiveLimiter(1)
    await limiter.acquire()
    with pytest.raises(TimeoutError):
        await limiter.acquire(0.01)
    limiter.release()
    assert limiter.in_flight == 0
    await asyncio.wait_for(limiter.acquire(), 1.0)
