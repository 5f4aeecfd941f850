"""Benchmarks of phota_async: ``python -m benchmarks [--quick] [--json FILE] [--only CASE ...]``.

Each case runs the emulator in its own process on loopback and compares the SDK, in the same
run, with a baseline doing the same work (raw aiohttp, or fixed poll loops); it prints a table
and returns named figures and the targets they are checked against. Figures are only printed
and written to JSON: speed is never asserted in the tests.

========  ==============================================================================
case      what
========  ==============================================================================
overhead  submits, ``await job`` and ``refresh()``, 64 in flight: CPU and wall vs raw
polling   polls per job vs resolution lag (``bench_cadence.py``), drawn as a PNG
webhooks  jobs with callbacks: GETs per job, callback-to-resolved latency
scale     10,000 pending jobs: tasks, extra RSS, loop lag
storm     submits against a 20 req/s limit: goodput, 429s, duplicate charges
uploads   24 MP photos prepared and uploaded: loop lag, wall vs raw PUTs
========  ==============================================================================
"""

CASES = ("overhead", "polling", "webhooks", "scale", "storm", "uploads")
