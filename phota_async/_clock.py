"""The SDK's one clock: every timer reads the running event loop's time.

Run the loop on a fast-forwarding clock (the ``looptime`` pytest plugin, or
``looptime.new_event_loop()`` in a script) and every wait of the SDK follows it: hours of job
time pass in milliseconds, exactly and repeatably. Wall time is used only where a value must
survive a restart (the submit time in a job token).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["now", "now_from_wall"]


def now() -> float:
    """Seconds on the running event loop's clock (call it from inside the loop)."""
    return asyncio.get_running_loop().time()


def now_from_wall(wall: float) -> float:
    """The loop-clock reading of a past wall-clock instant (a submit time read from a token)."""
    return now() - max(0.0, time.time() - wall)
