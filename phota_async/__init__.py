"""phota_async: an async-first Python SDK for the Phota API.

    async with AsyncPhota() as phota:
        job = await phota.generate("Studio headshot of [[%s]]" % profile_id)
        result = await job
        await result.save("out/")

Everything public is importable from here (and ``phota_async.demo``, ``phota_async.emulator``);
names with a leading underscore are private.

The package is grouped by layer. Each layer imports only the layers below it (checked by
``tests/test_architecture.py``), and the emulator shares no code with the SDK:

    cli, demo           the ``phota`` command and the demo helpers
    batch/              the journaled batch runner (public as ``phota_async.batch``)
    _client             AsyncPhota: builds the layers below and owns their lifetime
    resources/          one module per endpoint family (images, profiles, jobs, webhooks)
    _jobs/              job handles, the poll scheduler and cadence, waiting, results
    _photos/            ImageInput reading, profile photo checks, preparation, uploaders
    _http/              transport (the one place HTTP to the API happens), retry, limiter
    _coord/             what processes share (rate budget, pauses, webhook fan-out): Redis
    _wire/              models, enums, the cattrs converter, local validation
    _exceptions         the exception tree
    _constants, _redaction, _concurrency    defaults and small helpers

Concurrency: the SDK is asyncio-native (tasks, futures, ``asyncio.timeout``); anyio is used
for worker threads (``anyio.to_thread``), capacity limiters and task groups.
"""

from __future__ import annotations

from ._client import AsyncPhota
from ._coord.base import Coordination, InProcessCoordination
from ._coord.redis import RedisCoordination
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ContentModerationError,
    CoordinationError,
    InsufficientCreditError,
    InvalidInputError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    JournalError,
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
from ._http.events import EventHook, RequestEvent
from ._http.limiter import AdaptiveLimiter
from ._http.retry import RetryPolicy
from ._jobs.cadence import PollConfig
from ._jobs.handles import Job, TrainingJob
from ._jobs.results import ImageResult
from ._jobs.waiting import as_completed, gather
from ._photos.inputs import ImageInput
from ._photos.report import PhotoCheck, PhotoIssue, PhotoPolicy, PhotoReport
from ._photos.s3 import S3Uploader
from ._photos.upload import UploadProgress
from ._photos.uploaders import EmulatorBucketUploader, PresignedPutUploader, Uploader
from ._wire.enums import (
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
from ._wire.models import (
    DeletedProfile,
    ErrorInfo,
    JobSnapshot,
    KnownSubjects,
    Profile,
    ProfileSummary,
)
from .batch import (
    Batch,
    BatchProgress,
    CostEstimate,
    HeadshotPlan,
    ImageTask,
    ItemResult,
    Journal,
    Person,
    RedisJournal,
    SqliteJournal,
    Style,
    estimate_cost,
    find_people,
)
from .resources.webhooks import signature_matches

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AdaptiveLimiter",
    "AspectRatio",
    "AsyncPhota",
    "AuthenticationError",
    "BadRequestError",
    "BaseModel",
    "Batch",
    "BatchProgress",
    "ClientClosedError",
    "ContentModerationError",
    "Coordination",
    "CoordinationError",
    "CostEstimate",
    "DeletedProfile",
    "EmulatorBucketUploader",
    "ErrorInfo",
    "EventHook",
    "HeadshotPlan",
    "ImageInput",
    "ImageResult",
    "ImageTask",
    "InProcessCoordination",
    "InsufficientCreditError",
    "InvalidInputError",
    "ItemResult",
    "Job",
    "JobError",
    "JobFailedError",
    "JobSnapshot",
    "JobState",
    "JobTimeoutError",
    "Journal",
    "JournalError",
    "KnownSubjects",
    "MissingAPIKeyError",
    "NotFoundError",
    "OutputFormat",
    "Person",
    "PhotaError",
    "PhotoCheck",
    "PhotoIssue",
    "PhotoPolicy",
    "PhotoReport",
    "PollConfig",
    "PresignedPutUploader",
    "Profile",
    "ProfileStatus",
    "ProfileSummary",
    "Quality",
    "RateLimitError",
    "RedisCoordination",
    "RedisJournal",
    "RequestEvent",
    "Resolution",
    "ResponseMode",
    "RetryPolicy",
    "S3Uploader",
    "ServerError",
    "SqliteJournal",
    "StorageError",
    "Style",
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
    "estimate_cost",
    "find_people",
    "gather",
    "signature_matches",
]
