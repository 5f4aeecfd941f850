"""``phota headshots PEOPLE_DIR --out DIR``: every person in every style, on the batch runner.

This module reads and checks the plan (people folders, styles files, presets) into the batch
package's :class:`HeadshotPlan`, refuses a ``--max-spend`` below the estimate, shows what is
left to pay and asks before spending; :class:`phota_async.batch.Batch` does the work, journaled
beside the outputs so that the same command again finishes it without paying twice;
:mod:`._batch_view` draws the progress and the summary.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import attrs
import click

from .. import _constants as C
from .._client import AsyncPhota
from .._exceptions import InvalidInputError, JournalError
from .._photos.report import PhotoPolicy
from .._wire.enums import TrainingTier
from ..batch import (
    PERSON_REF,
    Batch,
    CostEstimate,
    HeadshotPlan,
    ItemResult,
    Person,
    SqliteJournal,
    Style,
    estimate_cost,
    find_people,
)
from ..demo import STYLE_PRESETS
from ._batch_view import ProgressView, summarize, summary_table
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

__all__ = ["COMMANDS", "read_people", "read_styles"]

_STYLE_LINE = re.compile(r"\s*([^:\s]+)\s*:(.*)")
_REFERENCE = re.compile(r"\[\[(.*?)\]\]")
_PROFILE_ID = re.compile(r"[A-Za-z0-9_.-]+")
# A new journal gets a batch id of its own; a re-run reads it back (Batch keeps it in its meta).
_BATCH_ID_PREFIX = "headshots-"
_BATCH_ID_META = "batch_id"


# --- Reading the plan ---------------------------------------------------------------------------


def read_styles(path: Path) -> list[Style]:
    """The styles of a file: one ``NAME: PROMPT`` a line, ``[[person]]`` where the person goes
    (other ``[[profile_id]]`` pass through); blank lines and ``#`` comments are skipped. A usage
    error names the line of any problem."""
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
    if not prompt:
        raise usage_error(f"{where}: style {name!r} has an empty prompt")
    for inner in _REFERENCE.findall(prompt):
        # A typo such as [[ person ]] would otherwise be sent as a profile id.
        if f"[[{inner}]]" != PERSON_REF and not _PROFILE_ID.fullmatch(inner):
            raise usage_error(f"{where}: [[{inner}]] is neither {PERSON_REF} nor a profile id: "
                              f"write {PERSON_REF} where the person goes")
    try:
        return Style(name, prompt)
    except InvalidInputError as exc:
        raise usage_error(f"{where}: {exc}") from None


def _styles(styles_file: Path | None, presets: Sequence[str]) -> tuple[Style, ...]:
    chosen = read_styles(styles_file) if styles_file else []
    names = presets or (() if styles_file else C.HEADSHOT_DEFAULT_PRESETS)
    chosen += [STYLE_PRESETS[name] for name in names]
    seen: set[str] = set()
    for style in chosen:
        if style.name in seen:
            raise usage_error(f"style {style.name!r} is given twice")
        seen.add(style.name)
    return tuple(chosen)


def read_people(people_dir: Path, tier: TrainingTier) -> tuple[list[Person], list[ItemResult]]:
    """The people of ``people_dir`` (one sub-folder of photos each), and the endings of those
    skipped because their photo count does not fit the tier (named, with the reason)."""
    if not people_dir.is_dir():
        what = "is not a folder" if people_dir.exists() else "does not exist"
        raise usage_error(f"PEOPLE_DIR {people_dir} {what}")
    try:
        found = find_people(people_dir)
    except InvalidInputError as exc:
        if exc.field != "people":  # a folder name that cannot name a person
            raise usage_error(f"PEOPLE_DIR {people_dir}: {exc}") from None
        hint = (" (its photos must go in one sub-folder per person)"
                if photos_in(people_dir) else "")
        raise usage_error(f"PEOPLE_DIR {people_dir} has no person folders{hint}") from None
    low, high = C.TIER_PHOTOS[tier.value]
    people, skipped = [], []
    for person in found:
        if low <= len(person.photos) <= high:
            people.append(person)
            continue
        reason = (f"{len(person.photos)} photo(s) in {people_dir / person.name}; the "
                  f"{tier.value} tier takes {low}..{high}")
        skipped.append(ItemResult(person.name, "training", "skipped", reason=reason,
                                  person=person.name))
    if not people:
        raise usage_error(f"PEOPLE_DIR {people_dir}: no person has {low}..{high} photos "
                          f"for the {tier.value} tier: {skipped[0].reason}")
    return people, skipped


# --- The command --------------------------------------------------------------------------------


@attrs.frozen
class _Run:
    """Everything one run of the command needs, checked."""

    plan: HeadshotPlan
    whole: CostEstimate  # the plan's cost, by the price table
    skipped: list[ItemResult]
    out: Path
    journal: Path
    max_spend: float | None
    policy: PhotoPolicy | None
    yes: bool
    output: Output


@click.command("headshots", short_help="Headshots of many people in many styles.")
@click.argument("people_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the images: OUT/PERSON/STYLE-N.jpg.")
@click.option("--styles", "styles_file", type=click.Path(path_type=Path, dir_okay=False),
              help=f"A styles file: one 'NAME: PROMPT' a line, {PERSON_REF} where the person "
              "goes.")
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
              help="Send no paid work past this many dollars, over every run of the batch "
              "(refused at once when below the estimate).")
@click.option("--journal", type=click.Path(path_type=Path, dir_okay=False),
              help=f"The batch's journal (default: OUT/{C.BATCH_JOURNAL_NAME}); the same "
              "command again resumes from it.")
@click.option("--min-side", type=click.IntRange(1, C.PHOTO_GOOD_SIDE), metavar="PX",
              help=f"Accept photos whose short side is at least PX (default "
              f"{C.PHOTO_MIN_SIDE}; smaller photos train a weaker likeness).")
@click.option("--yes", is_flag=True, help="Do not ask before spending.")
@json_option
@debug_option
def headshots(people_dir: Path, out: Path, styles_file: Path | None, presets: tuple[str, ...],
              images_per_style: int, tier: str, max_spend: float | None,
              journal: Path | None, min_side: int | None, yes: bool, as_json: bool) -> int:
    """Train a profile for each person of PEOPLE_DIR (one sub-folder of photos each) and render
    every style for each, saving the images as OUT/PERSON/STYLE-N.jpg.

    Shows the cost estimate and asks before spending (unless --yes), draws the progress, and
    ends with a summary per person. Killed or interrupted, the same command again finishes the
    work without paying twice (the journal records every paid request before it is sent). A
    person whose photo count does not fit the tier, or whose photos fail the check, is skipped
    and named; the others go on. Exit code 0 when every item ended ok, 1 when some did not.
    """
    training_tier = TrainingTier(tier)
    people, skipped = read_people(people_dir, training_tier)
    plan = HeadshotPlan(people, _styles(styles_file, presets), tier=training_tier,
                        num_output_images=images_per_style)
    whole = estimate_cost(plan)
    if max_spend is not None and round(max_spend * 100) < whole.cents:
        raise usage_error(f"--max-spend ${max_spend:.2f} is below the estimate of "
                          f"${whole.total:.2f}: raise it, or drop people or styles")
    folder = writable_dir(out)
    run = _Run(plan, whole, skipped, folder,
               writable_file(journal or folder / C.BATCH_JOURNAL_NAME, "--journal"), max_spend,
               PhotoPolicy(min_side=min_side) if min_side is not None else None, yes,
               Output(as_json))
    for person in skipped:
        run.output.say(f"skipping {person.key}: {person.reason}")
    try:
        return run_with_client(lambda phota: _headshots(phota, run))
    except KeyboardInterrupt:
        run.output.say(f"stopped; run the same command again to resume (journal: {run.journal})")
        raise


async def _headshots(phota: AsyncPhota, run: _Run) -> int:
    view = ProgressView(run.output)
    batch = await _open_batch(phota, run, view)
    try:
        left = await batch.estimate(run.plan)
        run.output.say(_estimate_line(run, left))
        if not run.yes and left.cents > 0:
            confirm(f"Spend up to ${left.total:.2f}?")
        results = list(run.skipped)
        with view.showing():
            async for result in batch.run(run.plan):
                results.append(result)
                view.ended(result, batch.progress)
    finally:
        await batch.aclose()
    people = summarize([p.name for p in run.plan.people] + [s.key for s in run.skipped],
                       results)
    run.output.data(
        {"estimate": _estimate_data(run.whole, left), "journal": str(run.journal),
         "spent": round(sum(p.spent for p in people), 2),
         "people": [p.to_dict() for p in people]},
        lambda console: summary_table(console, people),
    )
    return 0 if all(result.ok for result in results) else 1


async def _open_batch(phota: AsyncPhota, run: _Run, view: ProgressView) -> Batch:
    """The batch of this journal, open: a journal that cannot be used is refused before
    anything is sent (exit code 2)."""
    journal = SqliteJournal(run.journal)
    try:
        await journal.open()
        batch = Batch(phota, batch_id=await _batch_id(journal), out=run.out, journal=journal,
                      max_spend=run.max_spend, photo_policy=run.policy, on_progress=view.update,
                      # An emulator in scaled time settles as much faster.
                      add_settle=C.BATCH_ADD_SETTLE / phota.poll.time_scale)
        await batch.open()
    except JournalError as exc:
        await journal.aclose()
        raise usage_error(str(exc)) from None
    except BaseException:
        await journal.aclose()
        raise
    return batch


async def _batch_id(journal: SqliteJournal) -> str:
    """The batch id the journal holds, or a new one for a new journal. The id is part of every
    request id and profile tag, so another folder's batch never meets this one's work."""
    stored = await journal.get_meta(_BATCH_ID_META)
    if stored is None:
        return _BATCH_ID_PREFIX + secrets.token_hex(6)
    if not stored.startswith(_BATCH_ID_PREFIX):
        raise JournalError(f"journal {journal.name} belongs to batch {stored!r}, which "
                           "phota headshots did not start: give another --journal",
                           path=journal.name)
    return stored


def _estimate_line(run: _Run, left: CostEstimate) -> str:
    plan = run.plan
    line = (f"{len(plan.people)} people x {len(plan.styles)} styles x "
            f"{plan.num_output_images} image(s): estimate {run.whole}")
    if not left.cents:
        line += "; nothing left to pay (the journal has every item)"
    elif left.cents != run.whole.cents:
        line += f"; left to pay ${left.total:.2f} (the journal has the rest)"
    return line


def _estimate_data(whole: CostEstimate, left: CostEstimate) -> dict[str, object]:
    return {"total": whole.total, "left": left.total, "estimated_prices": whole.estimated,
            "lines": [{"what": line.what, "count": line.count, "unit": line.unit_cents / 100}
                      for line in whole.lines]}


COMMANDS = [headshots]
