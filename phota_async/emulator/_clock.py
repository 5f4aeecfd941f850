"""Scaled time: the emulator's jobs and trainings run on an accelerated clock.

Every duration in the emulator is given in *emulated* seconds; `ScaledClock` is the single place
that turns them into real ones, so that no code path sleeps for real seconds by accident.

The clock reads the time of the event loop the emulator runs on (bound at start), never
`time.monotonic()` directly: on a fast-forwarding loop (the `looptime` plugin) the emulator's jobs
then run in virtual time together with the client's timers, hours of work in milliseconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time

import attrs

# The environment variable that `phota emulator` and the SDK's client both read: the emulator's
# time scale, so that a client polls a scaled emulator at the matching (scaled) cadence.
TIME_SCALE_ENV = "PHOTA_TIME_SCALE"


@attrs.define
class ScaledClock:
    """Emulated seconds since start, running `scale` times faster than the loop's clock."""

    scale: float = attrs.field(validator=attrs.validators.gt(0.0))
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _origin: float = attrs.field(default=0.0, init=False)
    _wall_origin: float = attrs.field(factory=time.time, init=False)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start counting on `loop`'s clock (the loop the emulator serves on)."""
        if self._loop is None:
            self._loop, self._origin = loop, loop.time()

    def now(self) -> float:
        """Emulated seconds since start (0 before the emulator started)."""
        if self._loop is None:
            return 0.0
        return (self._loop.time() - self._origin) * self.scale

    def to_real(self, emulated_seconds: float) -> float:
        return max(0.0, emulated_seconds) / self.scale

    async def sleep(self, emulated_seconds: float) -> None:
        await asyncio.sleep(self.to_real(emulated_seconds))

    def isoformat(self, emulated_time: float) -> str:
        """The wall-clock timestamp of an emulated instant (emulated time 0 is the real start)."""
        stamp = dt.datetime.fromtimestamp(self._wall_origin + emulated_time, tz=dt.UTC)
        return stamp.isoformat().replace("+00:00", "Z")


def http_date(seconds_from_now: float) -> str:
    """An HTTP date (as in Retry-After) this many real seconds from now."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)
