"""Scaled time: the emulator's jobs and trainings run on an accelerated clock.

Every duration in the emulator is given in *emulated* seconds; `ScaledClock` is the single place
that turns them into real ones, so that no code path sleeps for real seconds by accident.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time

import attrs


@attrs.define
class ScaledClock:
    """Emulated seconds since start, running `scale` times faster than real time."""

    scale: float = attrs.field(validator=attrs.validators.gt(0.0))
    _real_origin: float = attrs.field(factory=time.monotonic, init=False)
    _wall_origin: float = attrs.field(factory=time.time, init=False)

    def now(self) -> float:
        return (time.monotonic() - self._real_origin) * self.scale

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
