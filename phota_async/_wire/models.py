"""Request and response models: frozen, slotted attrs classes with no wire concerns.

The mapping to and from JSON lives in ``_converter.py`` alone.
"""

from __future__ import annotations

from attrs import Factory, field, frozen

from .enums import (
    AspectRatio,
    BaseModel,
    JobState,
    OutputFormat,
    ProfileStatus,
    Quality,
    Resolution,
    ResponseMode,
    TrainingTier,
)

__all__ = [
    "AddProfileRequest",
    "DeletedProfile",
    "EditRequest",
    "EnhanceRequest",
    "ErrorInfo",
    "GenerateRequest",
    "ImageResponse",
    "JobHandle",
    "JobSnapshot",
    "KnownSubjects",
    "Profile",
    "ProfileSummary",
    "RemixRequest",
]


# --- Requests ----------------------------------------------------------------
# Images are already encoded: plain base64 or an http(s) URL. ``None`` means "not sent".


@frozen(kw_only=True)
class _SubmitFields:
    output_format: OutputFormat
    response_mode: ResponseMode
    async_: bool
    num_output_images: int | None = None
    callback_url: str | None = None
    client_request_id: str | None = None


@frozen(kw_only=True)
class _ModelFields(_SubmitFields):
    aspect_ratio: AspectRatio | None = None
    resolution: Resolution | None = None
    base_model: BaseModel | None = None
    quality: Quality | None = None


@frozen(kw_only=True)
class GenerateRequest(_ModelFields):
    """Body of ``POST /generate``."""

    prompt: str


@frozen(kw_only=True)
class EditRequest(_ModelFields):
    """Body of ``POST /edit``."""

    prompt: str
    images: list[str]
    profile_ids: list[str] | None = None


@frozen(kw_only=True)
class EnhanceRequest(_SubmitFields):
    """Body of ``POST /enhance``."""

    image: str
    prompt: str | None = None
    profile_ids: list[str] | None = None


@frozen(kw_only=True)
class RemixRequest(_SubmitFields):
    """Body of ``POST /remix``."""

    input_image: str
    reference_image: str
    prompt: str | None = None
    profile_ids: list[str] | None = None


@frozen(kw_only=True)
class AddProfileRequest:
    """Body of ``POST /profiles/add``."""

    image_urls: list[str]
    training_tier: TrainingTier
    tag: str | None = None


# --- Responses ---------------------------------------------------------------


@frozen
class KnownSubjects:
    """Profiles recognised in the outputs, with how often each appears across all of them."""

    counts: dict[str, int] = Factory(dict)


@frozen
class ImageResponse:
    """The images of a finished image request: base64 strings or signed URLs (one is empty)."""

    images: list[str] = Factory(list)
    download_urls: list[str] = Factory(list)
    known_subjects: KnownSubjects = Factory(KnownSubjects)


@frozen
class JobHandle:
    """The 202 answer to an asynchronous submit."""

    job_id: str
    poll_url: str | None = None


@frozen
class ErrorInfo:
    """Why a job failed, as far as the server said."""

    type: str | None = None
    message: str | None = None


@frozen
class JobSnapshot:
    """One reading of ``GET /jobs/{id}``, normalised.

    ``status`` is the server's raw word; ``state`` is what it means (an unknown word is pending).
    ``poll_after`` is the server's hint for the next poll, in seconds.
    """

    job_id: str
    status: str
    state: JobState
    result: ImageResponse | None = None
    error: ErrorInfo | None = None
    poll_after: float | None = None


@frozen
class Profile:
    """A profile's training status (``GET /profiles/{id}/status``).

    ``status`` is a :class:`ProfileStatus`, or the raw string when the server sent a new one.
    """

    profile_id: str
    status: ProfileStatus | str
    message: str | None = None

    @property
    def ready(self) -> bool:
        """True when the profile can be used in requests."""
        return self.status == ProfileStatus.READY


@frozen
class ProfileSummary:
    """One item of ``GET /profiles/ids``; ``tag`` and ``status`` only when the server sent them."""

    profile_id: str
    tag: str | None = None
    status: ProfileStatus | str | None = None


@frozen
class DeletedProfile:
    """The answer to ``DELETE /profiles/{id}``."""

    profile_id: str
    status: str = field(default="ok")
