"""What the emulator bills (plausible figures; phota-api.md section 7 gives the ones it knows)."""

from __future__ import annotations

from collections.abc import Mapping

# Per output image: (plain price, price when a trained profile is recognised in the output).
IMAGE_PRICES: Mapping[str, tuple[float, float]] = {
    "nb2": (0.09, 0.12),
    "gpt-image-2": (0.10, 0.13),
    "qwen-image-2": (0.05, 0.08),
    "flux-2": (0.04, 0.07),
    "reve": (0.05, 0.08),
    "enhance": (0.12, 0.15),
    "remix": (0.12, 0.15),
}

TRAINING_PRICES: Mapping[str, float] = {"standard": 2.90, "fast": 1.49}


def image_cost(kind: str, base_model: str, images: int, *, with_identity: bool) -> float:
    """Enhance and remix have their own price; edit and generate are priced by base model."""
    plain, identity = IMAGE_PRICES[kind if kind in IMAGE_PRICES else base_model]
    return round(images * (identity if with_identity else plain), 2)
