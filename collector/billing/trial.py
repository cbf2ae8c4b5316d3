"""The buyer's cost trial: N single-part messages at arrival rate r, billed under each model.

    on_submit   = N × price
    on_success  = N × s × price   (s: the share the vendor's DLRs call delivered; an honest
                                    vendor's s is r, one that fakes DLRs has s > r)
    coefficient = N × c × price
    worth       = N × r × price   (what arrives)

Each model's over-charge is its bill minus the worth. E.g. 1,000,000 codes at r = 0.98,
price 0.04: on_success with honest DLRs bills 980,000 parts (39,200.00), a 0.98 coefficient
980,000 too, on_submit 1,000,000 (40,000.00: 800.00 for the 20,000 that never arrived).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Trial:
    messages: int
    arrival_rate: float
    success_share: float
    coefficient: float | None
    price: float
    parts: dict[str, float]  # model -> parts billed
    bill: dict[str, float]  # model -> money
    worth: float
    over: dict[str, float]  # model -> bill - worth

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_trial(
    messages: int,
    arrival_rate: float,
    price: float,
    *,
    success_share: float | None = None,
    coefficient: float | None = None,
) -> Trial:
    """`success_share` defaults to the arrival rate (DLRs that tell the truth);
    `coefficient` None: that model is left out."""
    if messages < 0 or not 0.0 <= arrival_rate <= 1.0:
        raise ValueError("messages must be >= 0 and the arrival rate within [0, 1]")
    s = arrival_rate if success_share is None else success_share
    parts = {"on_submit": float(messages), "on_success": round(messages * s, 4)}
    if coefficient is not None:
        parts["coefficient"] = round(messages * coefficient, 4)
    bill = {m: round(n * price, 4) for m, n in parts.items()}
    worth = round(messages * arrival_rate * price, 4)
    return Trial(messages, arrival_rate, s, coefficient, price, parts, bill, worth,
                 {m: round(b - worth, 4) for m, b in bill.items()})  # fmt: skip
