"""What ``phota headshots`` shows of a batch run: the progress (a live display on a terminal, a
line per item elsewhere) and the summary per person, both drawn from the batch runner's
:class:`BatchProgress` snapshots and :class:`ItemResult` endings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from attrs import frozen
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn
from rich.progress import Progress as Bar
from rich.table import Column, Table
from rich.text import Text

from ..batch import BatchProgress, ItemResult
from ._common import Output

__all__ = ["PersonSummary", "ProgressView", "progress_text", "summarize", "summary_table"]

_STATUS_STYLES = {"ok": "green", "failed": "bold red", "skipped": "yellow"}


# --- Progress -----------------------------------------------------------------------------------


def progress_text(progress: BatchProgress) -> str:
    """``people trained 2/3, images 4/9 done, 0 failed, 3 in flight, $7.10 spent, ETA 4s``."""
    images_done = progress.done - progress.trainings_done
    return (f"people trained {progress.trainings_done}/{progress.trainings}, images "
            f"{images_done}/{progress.total - progress.trainings} done, {_note(progress)}")


def _note(progress: BatchProgress) -> str:
    """What the bars do not show: failures, work in flight, spending, the ETA."""
    parts = [f"{progress.failed + progress.expired} failed"]
    if progress.skipped:
        parts.append(f"{progress.skipped} skipped")
    parts += [f"{progress.in_flight} in flight", f"${progress.spent:.2f} spent"]
    if progress.eta is not None and progress.finished < progress.total:
        parts.append(f"ETA {_duration(progress.eta)}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressView:
    """The progress of a run, on stderr. On a terminal, two live bars (people trained, images
    done) with failures, work in flight, spending and the ETA beside them; elsewhere (a log, a
    pipe) one line per item that ends in this run, with the same figures. Nothing with
    ``--json`` off a terminal: stdout is the data and stderr stays quiet."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._live = out.err.is_terminal
        self._bar: Bar | None = None
        self._tasks: tuple[TaskID, TaskID] | None = None
        self._resumed = 0

    @contextmanager
    def showing(self) -> Iterator[ProgressView]:
        """Draw while the block runs."""
        if not self._live:
            try:
                yield self
            finally:
                self._say_resumed()
            return
        columns = (TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"))
        with Bar(*columns, console=self._out.err, transient=False) as bar:
            self._bar = bar
            self._tasks = (bar.add_task("people trained", total=None, note=""),
                           bar.add_task("images done", total=None, note=""))
            try:
                yield self
            finally:
                self._bar = None

    def update(self, progress: BatchProgress) -> None:
        """The batch's ``on_progress`` hook: redraw the bars (a terminal only)."""
        if self._bar is None or self._tasks is None:
            return
        people, images = self._tasks
        self._bar.update(people, completed=progress.trainings_done, total=progress.trainings)
        self._bar.update(images, completed=progress.done - progress.trainings_done,
                         total=progress.total - progress.trainings, note=_note(progress))

    def ended(self, result: ItemResult, progress: BatchProgress | None) -> None:
        """An item ended: a line in a log; on a terminal, only what did not end ok."""
        if result.resumed:
            self._resumed += 1
            return
        self._say_resumed()
        if self._bar is not None:
            if not result.ok:
                self._bar.console.print(_item_line(result), style=_STATUS_STYLES.get(
                    result.status, "bold red"), markup=False, highlight=False)
        elif not self._out.as_json:
            figures = f"  [{progress_text(progress)}]" if progress is not None else ""
            self._out.say(_item_line(result) + figures)

    def _say_resumed(self) -> None:
        if self._resumed and not self._out.as_json:
            self._out.say(f"resumed: {self._resumed} item(s) had ended in earlier runs "
                          "(the journal)")
        self._resumed = 0


def _item_line(result: ItemResult) -> str:
    if result.ok and result.kind == "training":
        return f"{result.key}: trained (profile {result.profile_id})"
    if result.ok:
        return f"{result.key}: saved {', '.join(str(p) for p in result.paths)}"
    return f"{result.key}: {result.status}: {result.reason or 'no reason given'}"


# --- The summary --------------------------------------------------------------------------------


@frozen
class PersonSummary:
    """How one person ended: ``ok`` (trained, every style saved), ``failed`` (their training or
    some style failed or expired) or ``skipped`` (never started, or some style was not sent:
    photos, budget, credit); ``note`` says what went wrong. ``spent`` is the price table's
    figure for what was sent for them, in every run."""

    name: str
    status: Literal["ok", "failed", "skipped"]
    profile_id: str | None
    images: tuple[Path, ...]
    spent: float
    note: str

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {"name": self.name, "status": self.status, "profile_id": self.profile_id,
                "images": [str(path) for path in self.images], "spent": round(self.spent, 2),
                "note": self.note or None}


def summarize(names: Sequence[str], results: Sequence[ItemResult]) -> list[PersonSummary]:
    """One summary per person of ``names`` (in that order) from the items' endings."""
    mine: dict[str, list[ItemResult]] = {name: [] for name in names}
    for result in results:
        mine.setdefault(result.person or result.key.split("/")[0], []).append(result)
    return [_person(name, items) for name, items in mine.items()]


def _person(name: str, items: Sequence[ItemResult]) -> PersonSummary:
    training = next((r for r in items if r.kind == "training"), None)
    images = [r for r in items if r.kind == "image"]
    spent = sum(r.cost for r in items)
    paths = tuple(path for r in images for path in r.paths)
    profile_id = training.profile_id if training is not None else None
    if training is None or not training.ok:
        status = training.status if training is not None else "skipped"
        reason = training.reason if training is not None else "not run"
        return PersonSummary(name, "failed" if status in ("failed", "expired") else "skipped",
                             profile_id, paths, spent, reason or "")
    bad = [r for r in images if not r.ok]
    if not bad:
        return PersonSummary(name, "ok", profile_id, paths, spent, "")
    failed = any(r.status in ("failed", "expired") for r in bad)
    note = "; ".join(f"{r.style or r.key} {r.status}: {r.reason}" for r in bad)
    return PersonSummary(name, "failed" if failed else "skipped", profile_id, paths, spent, note)


def summary_table(console: Console, people: Sequence[PersonSummary]) -> None:
    """The summary as a table, each note on a line of its own (photo reports are long), then
    the total line."""
    table = Table("person", "status", Column("profile", no_wrap=True), "images", "spent",
                  title="headshots", title_justify="left")
    for person in people:
        table.add_row(person.name, Text(person.status, style=_STATUS_STYLES[person.status]),
                      person.profile_id or "", str(len(person.images)), f"${person.spent:.2f}")
    console.print(table)
    for person in people:
        if person.note:
            console.print(f"{person.name}: {person.status}: {person.note}")
    ok = sum(person.status == "ok" for person in people)
    console.print(f"{ok} of {len(people)} people done, "
                  f"${sum(person.spent for person in people):.2f} spent")
