"""The SDK's one price table: what each paid request costs, in whole cents.

Figures from phota-api.md section 7: enhance and remix cost $0.12 per output image ($0.15 when
a trained profile is recognised), a training $2.90 (standard) or $1.49 (fast). The docs give no
per-image price for the base models of edit and generate (GPT Image 2 is even billed per token):
those figures are **estimates**, listed in :data:`ESTIMATED_MODELS`, and equal to what the
project's emulator bills, so that a batch's estimate matches the emulator's ledger to the cent.
Against the real API, read them as a guide and keep ``max_spend`` some way below your credit.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .enums import BaseModel, TrainingTier

__all__ = [
    "ESTIMATED_MODELS",
    "IMAGE_CENTS",
    "TRAINING_CENTS",
    "image_cents",
    "is_estimate",
    "training_cents",
]

# Per output image: (plain, with identity). Enhance and remix run on Nano Banana 2 at their
# own documented price; edit and generate are priced by base model (estimates).
IMAGE_CENTS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "enhance": (12, 15),
    "remix": (12, 15),
    BaseModel.NB2.value: (9, 12),
    BaseModel.GPT_IMAGE_2.value: (10, 13),
    BaseModel.QWEN_IMAGE_2.value: (5, 8),
    BaseModel.FLUX_2.value: (4, 7),
    BaseModel.REVE.value: (5, 8),
})
ESTIMATED_MODELS: frozenset[str] = frozenset(model.value for model in BaseModel)
TRAINING_CENTS: Mapping[TrainingTier, int] = MappingProxyType({
    TrainingTier.STANDARD: 290,
    TrainingTier.FAST: 149,
})


def _price_key(endpoint: str, base_model: BaseModel | str | None) -> str:
    if endpoint in ("enhance", "remix"):
        return endpoint
    return BaseModel(base_model or BaseModel.NB2).value


def image_cents(
    endpoint: str, base_model: BaseModel | str | None, images: int, *, with_identity: bool
) -> int:
    """The cost of one image request making ``images`` outputs, in cents."""
    plain, identity = IMAGE_CENTS[_price_key(endpoint, base_model)]
    return images * (identity if with_identity else plain)


def training_cents(tier: TrainingTier | str) -> int:
    """The cost of one profile training, in cents."""
    return TRAINING_CENTS[TrainingTier(tier)]


def is_estimate(endpoint: str, base_model: BaseModel | str | None) -> bool:
    """True when the docs give no price for this request (the table's figure is a guess)."""
    return _price_key(endpoint, base_model) in ESTIMATED_MODELS
