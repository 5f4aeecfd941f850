"""What the emulator would have billed: reservations, training fees and refunds.

With a sink (``PhotaEmulator(ledger_path=...)``, ``phota emulator --ledger FILE``) every charge and
refund is also appended to a file as one JSON line and flushed at once, so that a test or a user
can check billing from outside the emulator's process while clients are killed and restarted.
"""

from __future__ import annotations

import json
from typing import TextIO

import attrs

from ._errors import insufficient_credit

# Money is summed as floats; a cost within this of the credit left still fits.
_EPSILON = 1e-9


@attrs.frozen
class Charge:
    """One ledger line: `kind` is "image", "training" or "refund" (with a negative amount)."""

    kind: str
    amount: float
    job_id: str | None = None
    profile_id: str | None = None
    client_request_id: str | None = None
    path: str = ""


def ledger_line(charge: Charge, *, refund: bool, kind: str) -> str:
    """The JSON line of a charge (or of its refund) in a ledger file."""
    return json.dumps({
        "kind": kind,
        "ref": charge.job_id or charge.profile_id,
        "amount": charge.amount,
        "client_request_id": charge.client_request_id,
        "refund": refund,
        "path": charge.path,
    }, separators=(",", ":"))


@attrs.define
class Ledger:
    """The account's charges against an optional prepaid credit (None: unlimited)."""

    credit: float | None = None
    charges: list[Charge] = attrs.Factory(list)
    sink: TextIO | None = None

    @property
    def total(self) -> float:
        return round(sum(charge.amount for charge in self.charges), 6)

    @property
    def remaining(self) -> float | None:
        return None if self.credit is None else self.credit - self.total

    def reserve(self, charge: Charge) -> Charge:
        """Record a charge, or answer 402 when it exceeds the credit left."""
        remaining = self.remaining
        if remaining is not None and charge.amount > remaining + _EPSILON:
            raise insufficient_credit()
        self.charges.append(charge)
        self._write(charge, refund=False, kind=charge.kind)
        return charge

    def refund(self, charge: Charge) -> None:
        refund = attrs.evolve(charge, kind="refund", amount=-charge.amount)
        self.charges.append(refund)
        self._write(refund, refund=True, kind=charge.kind)

    def _write(self, charge: Charge, *, refund: bool, kind: str) -> None:
        if self.sink is not None:
            self.sink.write(ledger_line(charge, refund=refund, kind=kind) + "\n")
            self.sink.flush()
