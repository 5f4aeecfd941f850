"""Bulk headshots: several people, several styles, every job journaled so a crash loses nothing.

    python examples/headshots_batch.py [--people 3] [--journal headshots.jsonl]

Each submitted job's token is appended to a journal (one JSON line) before waiting on it; run the
script again after a crash and it re-attaches the journaled jobs instead of paying for them twice.
Without PHOTA_API_KEY it runs against the embedded emulator (a fresh one each run, so the journal
starts empty there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from phota_async import AsyncPhota, Job, JobFailedError, as_completed
from phota_async.demo import demo_client, demo_photos

STYLES = {
    "studio": "Studio headshot of [[{pid}]], grey backdrop, soft key light",
    "outdoor": "Outdoor portrait of [[{pid}]], golden hour, shallow depth of field",
    "office": "Corporate headshot of [[{pid}]] in a bright modern office",
}


async def train(phota: AsyncPhota, people: int) -> list[str]:
    """One profile per person, trained concurrently."""
    trainings = [
        await phota.profiles.create(demo_photos(10, seed=person), tag=f"person-{person}")
        for person in range(people)
    ]
    return [profile.profile_id for profile in await asyncio.gather(*trainings)]


def read_journal(journal: Path) -> list[dict[str, str]]:
    """The journal's entries (a small file, read once at start-up)."""
    if not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


async def submit_all(phota: AsyncPhota, profile_ids: list[str], journal: Path) -> list[Job]:
    """Submit every (person, style) job not already in the journal; journal each at once."""
    entries = read_journal(journal)
    jobs = [phota.jobs.from_token(entry["token"]) for entry in entries]
    done = {(entry["person"], entry["style"]) for entry in entries}
    with journal.open("a") as out:
        for pid in profile_ids:
            for style, prompt in STYLES.items():
                if (pid, style) in done:
                    continue
                # A client_request_id derived from the intent: a resend after a crash between
                # the submit and the journal line returns the same job, never a second one.
                job = await phota.generate(prompt.format(pid=pid), num_output_images=2,
                                           client_request_id=f"headshot-{pid}-{style}")
                out.write(json.dumps({"person": pid, "style": style,
                                      "token": job.to_token()}) + "\n")
                out.flush()
                jobs.append(job)
    return [job for job in jobs if isinstance(job, Job)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--journal", type=Path, default=Path("headshots.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("headshots"))
    args = parser.parse_args()
    if not os.environ.get("PHOTA_API_KEY"):
        args.journal.unlink(missing_ok=True)  # a new emulator knows none of the old jobs
    async with demo_client() as phota:
        profile_ids = await train(phota, args.people)
        jobs = await submit_all(phota, profile_ids, args.journal)
        print(f"{len(jobs)} jobs pending")
        async for job in as_completed(jobs):
            try:
                paths = await (await job).save(args.out)
            except JobFailedError as exc:
                print(f"failed: {exc}")
                continue
            print(f"{job.id}: {', '.join(p.name for p in paths)}")


if __name__ == "__main__":
    asyncio.run(main())
