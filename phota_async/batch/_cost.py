"""What a batch will cost before it runs, from the SDK's one price table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attrs import frozen

from .._wire.pricing import is_estimate
from ._plan import HeadshotPlan, ImageTask

__all__ = ["CostEstimate", "CostLine", "estimate_cost"]


def dollars(cents: int) -> str:
    """``$10.86``."""
    return f"${cents / 100:.2f}"


@frozen
class CostLine:
    """``count`` requests of one kind at ``unit_cents`` each; ``estimated`` when the docs give
    no price for it (the table's figure is a guess)."""

    what: str
    count: int
    unit_cents: int
    estimated: bool = False

    @property
    def cents(self) -> int:
        """The line's total, in cents."""
        return self.count * self.unit_cents

    def __str__(self) -> str:
        mark = " (estimated price)" if self.estimated else ""
        return f"{self.count} x {self.what} at {dollars(self.unit_cents)}{mark}"


@frozen
class CostEstimate:
    """What a batch costs by the price table: its ``lines`` and their ``total`` in dollars."""

    lines: tuple[CostLine, ...]

    @property
    def cents(self) -> int:
        """The total, in cents."""
        return sum(line.cents for line in self.lines)

    @property
    def total(self) -> float:
        """The total, in dollars."""
        return self.cents / 100

    @property
    def estimated(self) -> bool:
        """True when any line's price is a guess (see ``phota_async._wire.pricing``)."""
        return any(line.estimated for line in self.lines)

    def __str__(self) -> str:
        parts = "; ".join(str(line) for line in self.lines if line.count)
        return f"{dollars(self.cents)} ({parts})" if parts else dollars(0)


def estimate_cost(work: HeadshotPlan | Iterable[ImageTask]) -> CostEstimate:
    """The cost of a whole batch by the price table (nothing is sent). For what a resumed
    batch still has to pay, use ``Batch.estimate``."""
    if isinstance(work, HeadshotPlan):
        return headshot_cost(work, people=len(work.people), images=len(work.people)
                             * len(work.styles))
    return tasks_cost(list(work))


def headshot_cost(plan: HeadshotPlan, *, people: int, images: int) -> CostEstimate:
    """``people`` trainings and ``images`` generate calls of ``plan``."""
    model = plan.options.get("base_model")
    return CostEstimate((
        CostLine(f"{plan.tier.value} training", people, plan.training_cents),
        CostLine(f"generate ({plan.num_output_images} image(s), with identity)", images,
                 plan.image_cents, is_estimate("generate", model)),
    ))


def tasks_cost(tasks: Sequence[ImageTask]) -> CostEstimate:
    """Studio calls grouped by endpoint and price."""
    groups: dict[tuple[str, int, bool], int] = {}
    for task in tasks:
        group = (task.endpoint, task.cost_cents, task.estimated)
        groups[group] = groups.get(group, 0) + 1
    return CostEstimate(tuple(CostLine(endpoint, count, cents, estimated)
                              for (endpoint, cents, estimated), count in groups.items()))
