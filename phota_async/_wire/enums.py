"""Enumerations of the wire protocol. Every enum accepts its string value wherever it is used."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AspectRatio",
    "BaseModel",
    "JobState",
    "OutputFormat",
    "ProfileStatus",
    "Quality",
    "Resolution",
    "ResponseMode",
    "TrainingTier",
]


class BaseModel(StrEnum):
    """The image model behind edit and generate (``base_model``)."""

    NB2 = "nb2"
    GPT_IMAGE_2 = "gpt-image-2"
    QWEN_IMAGE_2 = "qwen-image-2"
    FLUX_2 = "flux-2"
    REVE = "reve"


class AspectRatio(StrEnum):
    """Output aspect ratio (``aspect_ratio``); ``auto`` follows the input."""

    AUTO = "auto"
    SQUARE = "1:1"
    PORTRAIT_3_4 = "3:4"
    LANDSCAPE_4_3 = "4:3"
    PORTRAIT_9_16 = "9:16"
    LANDSCAPE_16_9 = "16:9"


class Resolution(StrEnum):
    """Output resolution (``resolution``); what is allowed depends on the base model."""

    R1K = "1K"
    R2K = "2K"
    R4K = "4K"


class Quality(StrEnum):
    """Rendering quality (``quality``); only with ``gpt-image-2``."""

    AUTO = "auto"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class OutputFormat(StrEnum):
    """Encoding of the output images (``output_format``)."""

    PNG = "png"
    JPG = "jpg"


class ResponseMode(StrEnum):
    """Whether results come inline as base64 (``bytes``) or as signed URLs (``urls``)."""

    BYTES = "bytes"
    URLS = "urls"


class TrainingTier(StrEnum):
    """Profile training tier: ``standard`` (10..50 photos) or ``fast`` (5..10 photos)."""

    STANDARD = "standard"
    FAST = "fast"


class ProfileStatus(StrEnum):
    """The six statuses of a profile's training."""

    VALIDATING = "VALIDATING"
    QUEUING = "QUEUING"
    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    ERROR = "ERROR"
    INACTIVE = "INACTIVE"

    @property
    def is_final(self) -> bool:
        """True once training has ended, well or badly."""
        return self in (ProfileStatus.READY, ProfileStatus.ERROR, ProfileStatus.INACTIVE)


class JobState(StrEnum):
    """Where a remote job stands, whatever words the server used for it."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
