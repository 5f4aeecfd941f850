"""The request fields of each endpoint (phota-api.md sections 3 and 5), as 422-level specs."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._schema import Spec

IMAGE_KINDS = ("edit", "generate", "enhance", "remix")
ASPECT_RATIOS = ("auto", "1:1", "3:4", "4:3", "9:16", "16:9")
RESOLUTIONS = ("1K", "2K", "4K")
BASE_MODELS = ("nb2", "gpt-image-2", "qwen-image-2", "flux-2", "reve")
QUALITIES = ("auto", "low", "medium", "high")
OUTPUT_FORMATS = ("png", "jpg")
RESPONSE_MODES = ("bytes", "urls")
TRAINING_TIERS = ("standard", "fast")
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")

# Business rules (400, not 422): the resolutions of each model, the photo counts of each tier.
MODEL_RESOLUTIONS: Mapping[str, tuple[str, ...]] = {
    "nb2": ("1K", "2K", "4K"),
    "gpt-image-2": ("1K", "2K", "4K"),
    "qwen-image-2": ("1K", "2K"),
    "flux-2": ("1K", "2K"),
    "reve": ("1K",),
}
QUALITY_MODELS = ("gpt-image-2",)
TIER_PHOTO_COUNTS: Mapping[str, tuple[int, int]] = {"fast": (5, 10), "standard": (10, 50)}

_PROMPT = Spec("str", required=True, min=1)
_OPTIONAL_PROMPT = Spec("str", nullable=True)
_IMAGE = Spec("str", required=True, min=1)
_PROFILE_IDS = Spec("str_list", nullable=True, default=())

_COMMON: Mapping[str, Spec] = {
    "num_output_images": Spec("int", default=1, min=1, max=4),
    # Optional: absent means the (deprecated) server default, signalled by a response header.
    "output_format": Spec("str", nullable=True, choices=OUTPUT_FORMATS),
    "response_mode": Spec("str", default="bytes", choices=RESPONSE_MODES),
    "async": Spec("bool", default=False),
    "callback_url": Spec("str", nullable=True),
    "client_request_id": Spec("str", nullable=True, min=1, max=128, pattern=CLIENT_REQUEST_ID),
}

_MODEL_OPTIONS: Mapping[str, Spec] = {
    "aspect_ratio": Spec("str", default="auto", choices=ASPECT_RATIOS),
    "resolution": Spec("str", default="1K", choices=RESOLUTIONS),
    "base_model": Spec("str", default="nb2", choices=BASE_MODELS),
    "quality": Spec("str", nullable=True, choices=QUALITIES),
}

IMAGE_FIELDS: Mapping[str, Mapping[str, Spec]] = {
    "edit": {
        "prompt": _PROMPT,
        "images": Spec("str_list", required=True, min=1, max=10),
        "profile_ids": _PROFILE_IDS,
        **_MODEL_OPTIONS,
        **_COMMON,
    },
    "generate": {"prompt": _PROMPT, **_MODEL_OPTIONS, **_COMMON},
    "enhance": {
        "image": _IMAGE,
        "prompt": _OPTIONAL_PROMPT,
        "profile_ids": _PROFILE_IDS,
        **_COMMON,
    },
    "remix": {
        "input_image": _IMAGE,
        "reference_image": _IMAGE,
        "prompt": _OPTIONAL_PROMPT,
        "profile_ids": _PROFILE_IDS,
        **_COMMON,
    },
}

PROFILE_FIELDS: Mapping[str, Spec] = {
    "image_urls": Spec("str_list", required=True, min=5, max=50),
    "training_tier": Spec("str", default="standard", choices=TRAINING_TIERS),
    "tag": Spec("str", nullable=True, min=1, max=128),
}
