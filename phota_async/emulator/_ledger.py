"""What the emulator would have billed: reservations, training fees and refunds."""

from __future__ import annotations

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


@attrs.define
class Ledger:
    """The account's charges against an optional prepaid credit (None: unlimited)."""

    credit: float | None = None
    charges: list[Charge] = attrs.Factory(list)

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
        return charge

    def refund(self, charge: Charge) -> None:
        self.charges.append(attrs.evolve(charge, kind="refund", amount=-charge.amount))
