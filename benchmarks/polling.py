"""polling: polls per job against resolution lag (the poll cadence's own table and targets).

The case itself lives in ``benchmarks/bench_cadence.py`` (the cadence work owns it): its
``run(quick: bool) -> dict`` returns its figures and ``print_table`` prints them; this module
passes them on with each case's target, and draws the batch cases as a PNG: per case, the SDK's
cadence and the fixed 0.5 s, 2 s and 6 s loops on the same jobs, polls per job against the lag
p90. Figures of another shape are drawn as loose points: any mapping holding a number keyed
``polls...`` and one keyed ``lag...`` (p90 preferred), named by its path.
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
    """The cadence case's figures and targets, or None (and a line saying so) before it exists."""
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
    print("\npolling: polls per job and resolution lag (virtual time), against fixed loops")
    if hasattr(cadence, "print_table"):
        cadence.print_table(result)
    result.setdefault("checks", [
        {"metric": f"{case['case']}: polls/job", "value": round(case["sdk"]["polls_per_job"], 2),
         "target": case["target"], "ok": bool(case["met"])}
        for case in result.get("cases", []) if "met" in case and "sdk" in case
    ])
    return result


def series(figures: Any, min_jobs: int = 50) -> list[tuple[str, tuple[float, float],
                                                             dict[str, tuple[float, float]]]]:
    """Per case of at least ``min_jobs`` jobs: its name, the SDK's (polls per job, lag p90) and
    each fixed loop's, from ``bench_cadence``'s figures (``cases[].sdk`` and ``cases[].fixed``)."""
    found = []
    for case in figures.get("cases", []) if isinstance(figures, Mapping) else []:
        sdk, fixed = case.get("sdk", {}), case.get("fixed", {})
        if sdk.get("jobs", 0) >= min_jobs and "lag_p90" in sdk:
            found.append((str(case["case"]), (sdk["polls_per_job"], sdk["lag_p90"]),
                          {name: (f["polls_per_job"], f["lag_p90"]) for name, f in fixed.items()}))
    return found


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
    cases = series(figures)
    loose = [] if cases else list(points(figures))
    if not cases and not loose:
        return False
    try:
        import matplotlib
    except ImportError:  # the bench extra's: the figures are printed and written without it
        print("  plot: skipped, matplotlib is not installed (pip install -e '.[bench]')")
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.2), dpi=110)
    named: set[str] = set()
    for (name, sdk, fixed), colour in zip(cases, plt.get_cmap("tab10").colors, strict=False):
        loops = sorted(fixed.items(), key=lambda item: item[1][0])
        ax.plot([p for _, (p, _) in loops], [lag * 100 for _, (_, lag) in loops], "x--",
                color=colour, alpha=0.6, linewidth=1)
        for label, (polls, lag) in loops:
            if label not in named:  # the loops land on the same spots case after case
                named.add(label)
                ax.annotate(f"poll every {label}", (polls, lag * 100), fontsize=7,
                            xytext=(3, 5), textcoords="offset points")
        ax.plot(sdk[0], sdk[1] * 100, "o", color=colour, markersize=9,
                label=f"{name}: phota_async {sdk[0]:.1f} polls, p90 {sdk[1]:.0%}")
    for name, polls, lag in loose:
        ax.plot(polls, lag * 100, "o")
        ax.annotate(name, (polls, lag * 100), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("polls per job (log; fewer is cheaper)")
    ax.set_ylabel("resolution lag p90, % of the job's duration (log; lower is sooner)")
    ax.set_title("Polling: phota_async's cadence (dots) against fixed loops (crosses)")
    ax.grid(True, which="both", alpha=0.3)
    if cases:
        ax.legend(fontsize=7, loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
