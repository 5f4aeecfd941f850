"""The batch the kill tests crash: 3 people x 3 styles against an emulator in another process.

    python tests/batch/kill_target.py BASE_URL PEOPLE_DIR OUT_DIR TIME_SCALE

Prints one JSON line per item and exits 0 when every item ended ok. ``PHOTA_BATCH_CRASH_AT``
(phase:N) makes it kill itself with SIGKILL at that checkpoint. Public names only.
"""

from __future__ import annotations

import asyncio
import json
import sys

from phota_async import (
    AsyncPhota,
    Batch,
    HeadshotPlan,
    PhotoPolicy,
    PollConfig,
    RetryPolicy,
    Style,
)

STYLES = [
    Style("studio", "Studio headshot of [[person]], grey backdrop"),
    Style("outdoor", "Outdoor portrait of [[person]], golden hour"),
    Style("office", "Corporate headshot of [[person]] in a bright office"),
]


async def main(url: str, people: str, out: str, scale: float) -> int:
    plan = HeadshotPlan.from_folder(people, STYLES, tier="fast")
    retry = RetryPolicy(backoff_initial=0.001, backoff_max=0.005, retry_after_cap=0.02)
    ok = True
    async with (
        AsyncPhota(api_key="emu-test-key", base_url=url, poll=PollConfig(time_scale=scale),
                   retry=retry) as phota,
        # Small photos (fast to make and check) pass once the SDK's own floor is lowered; a
        # re-run lets an add a killed run left in flight settle for 0.3 s before looking it up.
        Batch(phota, batch_id="kill-test", out=out, photo_policy=PhotoPolicy(min_side=64),
              add_settle=0.3) as batch,
    ):
        async for result in batch.run(plan):
            print(json.dumps({"key": result.key, "status": result.status,
                              "resumed": result.resumed, "reason": result.reason}), flush=True)
            ok = ok and result.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))))
