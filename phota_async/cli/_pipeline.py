"""The seam between ``phota headshots`` and the batch runner that does the work.

The command builds a :class:`HeadshotPlan` (people and their photos, styles, options), checks it,
asks a :class:`HeadshotRunner` for an :class:`Estimate`, confirms the spend, then runs the plan,
drawing each :class:`Progress` it is given and printing the :class:`PersonOutcome` list it gets
back. Everything about journals, resuming, budgets and prices belongs to the runner.

LEAD(#11): :func:`runner_for` is where the batch runner plugs in: return an adapter that maps a
plan onto its per-person pipeline (get-or-create the profile by tag, then one image job per
style), its progress callback onto :class:`Progress`, and its per-item outcomes onto
:class:`PersonOutcome`. Until then the command stops, in one line, after its checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

from attrs import frozen

from .._client import AsyncPhota
from .._wire.enums import TrainingTier
from ._common import CliError

__all__ = [
    "Estimate",
    "HeadshotPlan",
    "HeadshotRunner",
    "Person",
    "PersonOutcome",
    "Progress",
    "Style",
    "runner_for",
]

PLACEHOLDER = "[[id]]"


@frozen
class Person:
    """One person: a name (their folder's) and their photos, in order."""

    name: str
    photos: tuple[Path, ...]


@frozen
class Style:
    """One style: a name (a folder name for its outputs) and a prompt in which ``[[id]]`` marks
    where the person's profile goes."""

    name: str
    prompt: str

    def prompt_for(self, profile_id: str) -> str:
        """The prompt to send for one person."""
        return self.prompt.replace(PLACEHOLDER, f"[[{profile_id}]]")


@frozen
class HeadshotPlan:
    """What to do: every person in every style, ``images_per_style`` images each, saved under
    ``out/PERSON/STYLE/``; the journal makes a re-run resume; ``max_spend`` caps what is paid."""

    people: tuple[Person, ...]
    styles: tuple[Style, ...]
    out: Path
    journal: Path
    images_per_style: int = 2
    tier: TrainingTier = TrainingTier.STANDARD
    max_spend: float | None = None


@frozen
class Estimate:
    """What running the plan should cost, in dollars: ``total`` for the work still to do (work a
    journal says is done is not counted again; it is in ``already_spent``)."""

    total: float
    trainings: int
    images: int
    already_spent: float = 0.0


@frozen
class Progress:
    """Where a run stands; ``eta_seconds`` is None while the runner cannot tell yet."""

    people_total: int
    people_trained: int
    jobs_total: int
    jobs_done: int
    jobs_failed: int
    jobs_in_flight: int
    spent: float
    eta_seconds: float | None = None


@frozen
class PersonOutcome:
    """How one person ended: ``ok`` (every style saved), ``failed`` (some style or the training
    failed: ``reason`` says what) or ``skipped`` (nothing was paid for them: ``reason`` says
    why, e.g. the budget or their photos)."""

    name: str
    status: Literal["ok", "failed", "skipped"]
    profile_id: str | None = None
    images: tuple[Path, ...] = ()
    styles_failed: tuple[str, ...] = ()
    spent: float = 0.0
    reason: str | None = None


class HeadshotRunner(Protocol):
    """Runs a plan. Both methods may raise :class:`PhotaError` (the command turns it into one
    line); ``run`` must survive being killed at any point and resume when called again with the
    same plan and journal, without paying twice."""

    async def estimate(self, plan: HeadshotPlan) -> Estimate: ...

    async def run(
        self, plan: HeadshotPlan, on_progress: Callable[[Progress], None]
    ) -> Sequence[PersonOutcome]: ...


def runner_for(phota: AsyncPhota) -> HeadshotRunner:
    """The runner of ``phota headshots`` on ``phota``. LEAD(#11): the batch runner goes here."""
    raise CliError("the batch runner this command runs on (issue #11) is not wired in yet; "
                   "nothing was sent or paid", 1)
