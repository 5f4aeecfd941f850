"""Bulk headshots on the batch runner: several people, several styles, safe to kill and re-run.

    python examples/headshots_batch.py [--people 3] [--out headshots] [--max-spend 20]

Each person is trained once (found again by a tag on a re-run), then rendered in each style.
The journal (headshots/journal.sqlite) records every paid request before it is sent: run the
same command again after a crash and it finishes the work without paying twice. Without
PHOTA_API_KEY it runs on a fresh embedded emulator, which knows none of an earlier run's work,
so the journal starts over there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from phota_async import Batch, HeadshotPlan, Person, Style, estimate_cost
from phota_async.demo import demo_client, demo_photos

STYLES = [
    Style("studio", "Studio headshot of [[person]], grey backdrop, soft key light"),
    Style("outdoor", "Outdoor portrait of [[person]], golden hour, shallow depth of field"),
    Style("office", "Corporate headshot of [[person]] in a bright modern office"),
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("headshots"))
    parser.add_argument("--max-spend", type=float, default=None, help="dollars")
    args = parser.parse_args()
    people = [Person(f"person-{i}", demo_photos(10, seed=i)) for i in range(args.people)]
    plan = HeadshotPlan(people, STYLES, num_output_images=2)
    print(f"estimated cost: {estimate_cost(plan)}")
    journal = args.out / "journal.sqlite"
    if not os.environ.get("PHOTA_API_KEY"):
        journal.unlink(missing_ok=True)  # a new emulator knows none of the journaled work
    async with (
        demo_client() as phota,
        Batch(phota, batch_id="headshots-example", out=args.out, journal=journal,
              max_spend=args.max_spend) as batch,
    ):
        async for result in batch.run(plan):
            print(result)
        print(batch.progress)


if __name__ == "__main__":
    asyncio.run(main())
