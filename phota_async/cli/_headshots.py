"""``phota headshots PEOPLE_DIR --out DIR``: every person in every style, on the batch runner.

This module reads and checks the plan (people folders, styles), shows the estimate and asks
before spending, draws the progress and prints the summary; :mod:`._pipeline` holds the runner
that does the work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as Bar
from rich.table import Table
from rich.text import Text

from .. import _constants as C
from .._client import AsyncPhota
from .._wire.enums import TrainingTier
from ..demo import STYLE_PRESETS
from . import _pipeline
from ._common import (
    Output,
    confirm,
    debug_option,
    json_option,
    photos_in,
    run_with_client,
    usage_error,
    writable_dir,
    writable_file,
)
from ._pipeline import Estimate, HeadshotPlan, Person, PersonOutcome, Progress, Style

__all__ = ["COMMANDS", "read_people", "read_styles"]

_STYLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_STYLE_LINE = re.compile(r"\s*([^:\s]+)\s*:(.*)")
_BRACKETED = re.compile(r"\[\[(.*?)\]\]")
_STATUS_STYLES = {"ok": "green", "failed": "bold red", "skipped": "yellow"}


# --- Reading the plan ---------------------------------------------------------------------------


def read_styles(path: Path) -> list[Style]:
    """The styles of a file: one ``NAME: PROMPT`` a line, ``[[id]]`` where the person goes;
    blank lines and ``#`` comments are skipped. A usage error names the line of any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"--styles {path}: cannot read it ({exc})") from None
    styles: list[Style] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        styles.append(_style(line, f"{path}:{number}"))
    if not styles:
        raise usage_error(f"--styles {path}: no styles in it (one 'NAME: PROMPT' a line)")
    return styles


def _style(line: str, where: str) -> Style:
    match = _STYLE_LINE.fullmatch(line)
    if match is None:
        raise usage_error(f"{where}: expected 'NAME: PROMPT', got {line.strip()!r}")
    name, prompt = match.group(1), match.group(2).strip()
    if not _STYLE_NAME.fullmatch(name):
        raise usage_error(f"{where}: style name {name!r} must be 1..40 letters, digits, "
                          "'.', '_' or '-' (it names a folder)")
    if not prompt:
        raise usage_error(f"{where}: style {name!r} has an empty prompt")
    for inner in _BRACKETED.findall(prompt):
        if inner != "id":
            raise usage_error(f"{where}: [[{inner}]] is not a placeholder: write [[id]] "
                              "where the person goes")
    rest = _BRACKETED.sub("", prompt)
    if "[[" in rest or "]]" in rest or re.search(r"\[\s*id\s*\]", rest, re.IGNORECASE):
        raise usage_error(f"{where}: malformed placeholder in {prompt!r}: write [[id]]")
    if _pipeline.PLACEHOLDER not in prompt:
        raise usage_error(f"{where}: style {name!r} never names the person: put [[id]] "
                          "where they go")
    return Style(name, prompt)


def _styles(styles_file: Path | None, presets: Sequence[str]) -> tuple[Style, ...]:
    chosen = read_styles(styles_file) if styles_file else []
    names = presets or (() if styles_file else C.HEADSHOT_DEFAULT_PRESETS)
    chosen += [Style(name, STYLE_PRESETS[name]) for name in names]
    seen: set[str] = set()
    for style in chosen:
        if style.name in seen:
            raise usage_error(f"style {style.name!r} is given twice")
        seen.add(style.name)
    return tuple(chosen)


def read_people(
    people_dir: Path, tier: TrainingTier
) -> tuple[list[Person], list[PersonOutcome]]:
    """The people of ``people_dir`` (one sub-folder of photos each), and those skipped because
    their photo count does not fit the tier (named, with the reason)."""
    if not people_dir.is_dir():
        what = "is not a folder" if people_dir.exists() else "does not exist"
        raise usage_error(f"PEOPLE_DIR {people_dir} {what}")
    folders = sorted(p for p in people_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        hint = (" (its photos must go in one sub-folder per person)"
                if photos_in(people_dir) else "")
        raise usage_error(f"PEOPLE_DIR {people_dir} has no person folders{hint}")
    low, high = C.TIER_PHOTOS[TrainingTier(tier).value]
    people, skipped = [], []
    for folder in folders:
        photos = photos_in(folder)
        if low <= len(photos) <= high:
            people.append(Person(folder.name, tuple(photos)))
            continue
        reason = (f"{len(photos)} photo(s) in {folder}; the {tier.value} tier takes "
                  f"{low}..{high}")
        skipped.append(PersonOutcome(folder.name, "skipped", reason=reason))
    if not people:
        raise usage_error(f"PEOPLE_DIR {people_dir}: no person has {low}..{high} photos "
                          f"for the {tier.value} tier: {skipped[0].reason}")
    return people, skipped


# --- The command --------------------------------------------------------------------------------


@click.command("headshots", short_help="Headshots of many people in many styles.")
@click.argument("people_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the images: OUT/PERSON/STYLE/.")
@click.option("--styles", "styles_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A styles file: one 'NAME: PROMPT' a line, [[id]] where the person goes.")
@click.option("--preset", "presets", multiple=True,
              type=click.Choice(sorted(STYLE_PRESETS)),
              help="A built-in style (repeatable); default: "
              f"{', '.join(C.HEADSHOT_DEFAULT_PRESETS)}.")
@click.option("--images-per-style", type=click.IntRange(C.OUTPUT_IMAGES_MIN,
              C.OUTPUT_IMAGES_MAX), default=C.HEADSHOT_IMAGES_PER_STYLE, show_default=True,
              help="Images per person and style.")
@click.option("--tier", type=click.Choice([t.value for t in TrainingTier]),
              default=TrainingTier.STANDARD.value, show_default=True,
              help="Training tier: standard takes 10..50 photos, fast 5..10.")
@click.option("--max-spend", type=click.FloatRange(min=0, min_open=True), metavar="USD",
              help="Stop submitting paid work past this many dollars.")
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Where progress is journaled (default: OUT/{C.HEADSHOT_JOURNAL_NAME}); "
              "the same command again resumes from it.")
@click.option("--yes", is_flag=True, help="Do not ask before spending.")
@json_option
@debug_option
def headshots(people_dir: Path, out: Path, styles_file: Path | None, presets: tuple[str, ...],
              images_per_style: int, tier: str, max_spend: float | None,
              journal: Path | None, yes: bool, as_json: bool) -> int:
    """Train a profile for each person of PEOPLE_DIR (one sub-folder of photos each) and render
    every style for each, saving the images under OUT/PERSON/STYLE/.

    Shows the cost estimate and asks before spending (unless --yes), draws the progress, and
    ends with a summary per person. Killed or interrupted, the same command again finishes the
    work without paying twice. A person whose photo count does not fit the tier is skipped and
    named; the others go on.
    """
    training_tier = TrainingTier(tier)
    people, skipped = read_people(people_dir, training_tier)
    styles = _styles(styles_file, presets)
    folder = writable_dir(out)
    plan = HeadshotPlan(
        people=tuple(people), styles=styles, out=folder,
        journal=writable_file(journal or folder / C.HEADSHOT_JOURNAL_NAME, "--journal"),
        images_per_style=images_per_style, tier=training_tier, max_spend=max_spend,
    )
    output = Output(as_json)
    for person in skipped:
        output.say(f"skipping {person.name}: {person.reason}")
    return run_with_client(lambda phota: _headshots(phota, plan, skipped, yes, output))


async def _headshots(phota: AsyncPhota, plan: HeadshotPlan, skipped: list[PersonOutcome],
                     yes: bool, out: Output) -> int:
    runner = _pipeline.runner_for(phota)
    estimate = await runner.estimate(plan)
    out.say(_estimate_line(plan, estimate))
    if plan.max_spend is not None and plan.max_spend < estimate.total:
        raise usage_error(f"--max-spend ${plan.max_spend:.2f} is below the estimate of "
                          f"${estimate.total:.2f}: raise it, or drop people or styles")
    if not yes and estimate.total > 0:
        confirm(f"Spend up to ${estimate.total:.2f}?")
    try:
        with _progress_display(out) as on_progress:
            outcomes = [*await runner.run(plan, on_progress), *skipped]
    except (KeyboardInterrupt, asyncio.CancelledError):
        out.say(f"stopped; run the same command again to resume (journal: {plan.journal})")
        raise
    out.data(_summary_data(estimate, outcomes), lambda console: _summary(console, outcomes))
    return 0 if all(o.status == "ok" for o in outcomes) else 1


def _estimate_line(plan: HeadshotPlan, estimate: Estimate) -> str:
    line = (f"{len(plan.people)} people x {len(plan.styles)} styles x {plan.images_per_style} "
            f"images: {estimate.trainings} training(s) and {estimate.images} image(s) to pay, "
            f"about ${estimate.total:.2f}")
    if estimate.already_spent:
        line += f" (${estimate.already_spent:.2f} already spent, per the journal)"
    return line


@contextmanager
def _progress_display(out: Output) -> Iterator[Callable[[Progress], None]]:
    """A live display on a terminal; elsewhere a line each time a person or a job ends."""
    if not out.err.is_terminal:
        last: list[tuple[int, int, int]] = []

        def log(progress: Progress) -> None:
            key = (progress.people_trained, progress.jobs_done, progress.jobs_failed)
            if key != (last[-1] if last else None) and not out.as_json:
                out.say(_progress_text(progress))
            last[:] = [key]

        yield log
        return
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[note]}"))
    with Bar(*columns, console=out.err, transient=False) as bar:
        people = bar.add_task("people trained", total=None, note="")
        jobs = bar.add_task("jobs done", total=None, note="")

        def draw(progress: Progress) -> None:
            bar.update(people, completed=progress.people_trained, total=progress.people_total)
            bar.update(jobs, completed=progress.jobs_done, total=progress.jobs_total,
                       note=_progress_note(progress))

        yield draw


def _progress_note(progress: Progress) -> str:
    eta = "" if progress.eta_seconds is None else f", ETA {_duration(progress.eta_seconds)}"
    return (f"{progress.jobs_failed} failed, {progress.jobs_in_flight} in flight, "
            f"${progress.spent:.2f} spent{eta}")


def _progress_text(progress: Progress) -> str:
    return (f"people trained {progress.people_trained}/{progress.people_total}, jobs done "
            f"{progress.jobs_done}/{progress.jobs_total}: {_progress_note(progress)}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _summary(console: Console, outcomes: Sequence[PersonOutcome]) -> None:
    table = Table("person", "status", "profile", "images", "spent", "note",
                  title="headshots", title_justify="left")
    for o in outcomes:
        note = o.reason or (f"failed: {', '.join(o.styles_failed)}" if o.styles_failed else "")
        table.add_row(o.name, Text(o.status, style=_STATUS_STYLES[o.status]), o.profile_id or "",
                      str(len(o.images)), f"${o.spent:.2f}", note)
    console.print(table)
    total = sum(o.spent for o in outcomes)
    ok = sum(o.status == "ok" for o in outcomes)
    console.print(f"{ok} of {len(outcomes)} people done, ${total:.2f} spent")


def _summary_data(estimate: Estimate, outcomes: Sequence[PersonOutcome]) -> dict[str, Any]:
    return {
        "estimate": {"total": estimate.total, "trainings": estimate.trainings,
                     "images": estimate.images, "already_spent": estimate.already_spent},
        "spent": round(sum(o.spent for o in outcomes), 2),
        "people": [{"name": o.name, "status": o.status, "profile_id": o.profile_id,
                    "images": [str(p) for p in o.images], "styles_failed": list(o.styles_failed),
                    "spent": o.spent, "reason": o.reason} for o in outcomes],
    }


COMMANDS = [headshots]
