"""``python -m benchmarks``: run the cases, print their tables and the targets, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from . import CASES
from ._common import ROOT, load_average, print_table
from .polling import plot

PLOT = ROOT / "docs" / "polling.png"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "date": datetime.date.today().isoformat()}


async def main(args: argparse.Namespace) -> int:
    about = machine()
    load = load_average()
    print(f"phota_async benchmarks{' (quick)' if args.quick else ''}: {about['cpu']}, "
          f"{about['cores']} cores, Python {about['python']}, {about['date']}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before", flush=True)
    report: dict[str, Any] = {"machine": about, "quick": args.quick, "load_before": load,
                              "cases": {}}
    summary: list[list[Any]] = []
    started = time.perf_counter()
    for name in args.only or CASES:
        case = importlib.import_module(f"benchmarks.{name}")
        case_started = time.perf_counter()
        result = await case.run(args.quick)
        if result is None:
            continue
        result["seconds"] = time.perf_counter() - case_started
        report["cases"][name] = result
        for target in result.get("checks", []):
            summary.append([name, target["metric"], target["value"], target["target"],
                            "met" if target["ok"] else "MISSED"])
        if name == "polling" and plot(result, args.plot):
            print(f"  plot: {args.plot}")
    report["load_after"] = load_average()
    report["seconds"] = time.perf_counter() - started
    print_table(f"targets ({report['seconds']:.0f} s in all; load average "
                f"{report['load_after'][0]:.2f} after)",
                ["case", "metric", "value", "target", ""], summary)
    if args.json:
        Path(args.json).write_text(  # noqa: ASYNC240 - once, after every case has run
            json.dumps(report, indent=2, default=str) + "\n"
        )
        print(f"figures written to {args.json}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=((__package__ and sys.modules[__package__].__doc__)
                                                  or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer operations and rounds (under 3 minutes on 2 cores)")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    parser.add_argument("--only", nargs="+", choices=CASES, metavar="CASE",
                        help=f"run only these cases ({', '.join(CASES)})")
    parser.add_argument("--plot", type=Path, default=PLOT,
                        help=f"where the polling plot goes (default {PLOT.relative_to(ROOT)})")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
