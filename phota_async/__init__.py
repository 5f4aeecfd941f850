"""phota_async: an async-first Python SDK for the Phota API.

    async with AsyncPhota() as phota:
        job = await phota.generate("Studio headshot of [[%s]]" % profile_id)
        result = await job
        await result.save("out/")

Everything public is importable from here; modules with a leading underscore are private.
"""

from __future__ import annotations

from ._client import AsyncPhota
from ._enums import (
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
from ._events import EventHook, RequestEvent
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentModerationError,
    InsufficientCreditError,
    InvalidInputError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    MissingAPIKeyError,
    NotFoundError,
    PhotaError,
    RateLimitError,
    ServerError,
    StorageError,
    TrainingFailedError,
    UnprocessableEntityError,
    UploadError,
    WebhookVerificationError,
)
from ._images import ImageInput
from ._jobs import Job, TrainingJob
from ._limiter import AdaptiveLimiter
from ._models import (
    DeletedProfile,
    ErrorInfo,
    JobSnapshot,
    KnownSubjects,
    Profile,
    ProfileSummary,
)
from ._photo_report import PhotoCheck, PhotoIssue, PhotoReport
from ._polling import PollConfig
from ._results import ImageResult
from ._retry import RetryPolicy
from ._s3_uploader import S3Uploader
from ._uploaders import EmulatorBucketUploader, PresignedPutUploader, Uploader
from ._uploading import UploadProgress
from ._waiting import as_completed, gather
from ._webhooks import signature_matches

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AdaptiveLimiter",
    "AspectRatio",
    "AsyncPhota",
    "AuthenticationError",
    "BadRequestError",
    "BaseModel",
    "ContentModerationError",
    "DeletedProfile",
    "EmulatorBucketUploader",
    "ErrorInfo",
    "EventHook",
    "ImageInput",
    "ImageResult",
    "InsufficientCreditError",
    "InvalidInputError",
    "Job",
    "JobError",
    "JobFailedError",
    "JobSnapshot",
    "JobState",
    "JobTimeoutError",
    "KnownSubjects",
    "MissingAPIKeyError",
    "NotFoundError",
    "OutputFormat",
    "PhotaError",
    "PhotoCheck",
    "PhotoIssue",
    "PhotoReport",
    "PollConfig",
    "PresignedPutUploader",
    "Profile",
    "ProfileStatus",
    "ProfileSummary",
    "Quality",
    "RateLimitError",
    "RequestEvent",
    "Resolution",
    "ResponseMode",
    "RetryPolicy",
    "S3Uploader",
    "ServerError",
    "StorageError",
    "TrainingFailedError",
    "TrainingJob",
    "TrainingTier",
    "UnprocessableEntityError",
    "UploadError",
    "UploadProgress",
    "Uploader",
    "WebhookVerificationError",
    "__version__",
    "as_completed",
    "gather",
    "signature_matches",
]
