"""polling: polls per job against resolution lag (the poll cadence's own table and targets).

The case itself lives in ``benchmarks/bench_cadence.py`` (the cadence work owns it): its
``run(quick: bool) -> dict`` prints its table and returns its figures, which this module passes on
and draws as a PNG: one point per client (the SDK's cadence and the fixed 0.5 s, 2 s and 6 s
loops) and scenario, polls per job on one axis, resolution lag on the other. Any mapping in the
figures that holds a number keyed ``polls...`` and one keyed ``lag...`` (p90 preferred) is a
point, named by its path in the figures.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

PENDING = "polling: pending the cadence branch"


async def run(quick: bool) -> dict[str, Any] | None:
    """The cadence case's figures, or None (and a line saying so) while it is not merged."""
    try:
        cadence = importlib.import_module("benchmarks.bench_cadence")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.bench_cadence":
            raise
        print(f"\n{PENDING}")
        return None
    if inspect.iscoroutinefunction(cadence.run):
        result: dict[str, Any] = await cadence.run(quick)
    else:  # a plain function may run its own event loop: give it a thread of its own
        result = await asyncio.to_thread(cadence.run, quick)
    return result


def points(figures: Any, path: str = "") -> Iterator[tuple[str, float, float]]:
    """``(name, polls per job, lag)`` for every mapping of the figures that holds both."""
    if isinstance(figures, Mapping):
        polls = _number(figures, "polls")
        lag = _number(figures, "lag_p90") or _number(figures, "lag")
        if polls is not None and lag is not None:
            yield str(figures.get("name") or path or "?"), polls, lag
            return
        for key, value in figures.items():
            yield from points(value, f"{path} / {key}" if path else str(key))
    elif isinstance(figures, list | tuple):
        for index, value in enumerate(figures):
            yield from points(value, f"{path}[{index}]")


def _number(figures: Mapping[str, Any], prefix: str) -> float | None:
    for key, value in figures.items():
        if str(key).startswith(prefix) and isinstance(value, int | float):
            return float(value)
    return None


def plot(figures: Any, path: Path) -> bool:
    """Draw polls per job against resolution lag into ``path`` (PNG); False if no points."""
    found = list(points(figures))
    if not found:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for name, polls, lag in found:
        sdk = "sdk" in name.lower() or "phota" in name.lower() or "cadence" in name.lower()
        ax.scatter(polls, lag, s=60 if sdk else 30, marker="o" if sdk else "x",
                   color="tab:blue" if sdk else "tab:gray")
        ax.annotate(name, (polls, lag), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("polls per job (fewer is cheaper)")
    ax.set_ylabel("resolution lag (lower is sooner)")
    ax.set_xscale("log")
    ax.set_title("Polling: what each client pays for how soon a job resolves")
    ax.grid(True, which="both", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
