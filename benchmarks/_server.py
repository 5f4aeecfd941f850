"""The emulator in its own process, for the benchmarks: ``python -m benchmarks._server JSON``.

JSON holds the emulator's options (``time_scale``, ``record_requests``, ``poll_hints``,
``rate_limit`` [rps, burst], ``faults``, ``plain_outputs``, ``api_key``). The process prints
``READY <url>`` on stdout once it listens on loopback, then answers one command per line of
stdin: ``stats`` prints one JSON line (billed jobs, duplicate charges, API requests seen);
``quit`` (or the end of stdin) stops it.
Its work is therefore never counted as the client's CPU time or loop lag.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

from phota_async.emulator import Dialect, PhotaEmulator


def stats(emu: PhotaEmulator) -> dict[str, Any]:
    """What the server saw and billed: the figures that only the server can give."""
    charges = Counter(c.client_request_id for c in emu.ledger if c.kind == "image")
    return {
        "jobs_billed": len(charges),
        "duplicate_charges": sum(n - 1 for n in charges.values() if n > 1),
        "api_requests": sum(1 for r in emu.requests if r.api_path is not None),
        "job_gets": sum(1 for r in emu.requests if (r.api_path or "").startswith("/jobs/")),
    }


async def serve(options: dict[str, Any]) -> None:
    emu = PhotaEmulator(
        api_keys=(options.get("api_key", "bench-key"),),
        time_scale=options.get("time_scale", 600.0),
        dialect=Dialect(poll_hints=options.get("poll_hints", False)),
        record_requests=options.get("record_requests", False),
        seed=options.get("seed", 0),
        plain_outputs=options.get("plain_outputs", False),
    )
    if options.get("rate_limit"):
        rps, burst = options["rate_limit"]
        emu.rate_limit(rps, burst=burst, retry_after="1")
    if options.get("faults"):  # 5% of answers a 5xx; 2% of submits billed, then dropped
        emu.inject("*", status=[500, 502, 503], probability=0.05)
        emu.inject("/generate", method="POST", drop="after", probability=0.02)
    async with emu:
        print(f"READY {emu.url}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "stats":
                print(json.dumps(stats(emu)), flush=True)
            elif line in ("quit", ""):
                return


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
