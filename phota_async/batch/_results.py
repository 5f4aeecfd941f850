"""How each item of a batch ended: :class:`ItemResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from attrs import field, frozen

__all__ = ["ItemResult", "ItemStatus"]

ItemStatus = Literal["ok", "failed", "skipped", "expired"]


@frozen
class ItemResult:
    """One item's ending: ``ok`` (``paths`` saved, or the ``profile_id`` trained), ``failed``
    (``reason``; ``error`` is the exception when it failed in this run), ``skipped`` (``reason``:
    budget, credit, photo problems, a failed training...) or ``expired`` (its outputs can no
    longer be downloaded). ``kind`` is ``training`` or ``image``; headshot items also name their
    ``person`` and ``style``. ``cost`` is the price table's figure in dollars (0 when nothing was
    sent); ``resumed`` is True when the item ended in an earlier run (read from the journal).

    A ``failed`` item whose request may not have reached the server (a network error, a 5xx)
    is tried again by the next run with the same ids; one the server refused or failed is not.
    """

    key: str
    kind: Literal["training", "image"]
    status: ItemStatus
    paths: tuple[Path, ...] = ()
    reason: str | None = None
    error: BaseException | None = field(default=None, eq=False, repr=False)
    profile_id: str | None = None
    job_id: str | None = None
    person: str | None = None
    style: str | None = None
    cost: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """True when the item ended ``ok``."""
        return self.status == "ok"

    def __str__(self) -> str:
        if self.status == "ok":
            detail = ", ".join(str(p) for p in self.paths) or f"profile {self.profile_id}"
        else:
            detail = self.reason or "no reason given"
        earlier = " (earlier run)" if self.resumed else ""
        return f"{self.key}: {self.status}{earlier}: {detail}"
