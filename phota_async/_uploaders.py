"""Uploaders: put local profile photos where the API can fetch them, and say at which URL.

``POST /profiles/add`` takes only URLs. An uploader is any object with
``async def upload(data, *, filename, content_type) -> str``; built in are the emulator's bucket,
S3-compatible storage through presigned URLs (:class:`S3Uploader`, extra ``phota-async[s3]``) and
storage that hands out PUT/GET URL pairs (:class:`PresignedPutUploader`).

:func:`upload_photos` uploads a prepared set a bounded number at a time, retrying transient
failures, and returns the URLs in input order, or raises :class:`UploadError` naming every photo
that failed: nothing half-done goes to ``profiles/add``.

Uploaders never see the Phota API key. Presigned URLs are credentials: they are returned to the
caller, never logged, and error messages carry them without their query string.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp
import anyio
import tenacity
from attrs import frozen

from . import _constants as C
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    StorageError,
    UploadError,
)
from ._images import CONTENT_TYPES, EXTENSIONS
from ._photos import PreparedPhoto
from ._redaction import display_url, redact

__all__ = [
    "EmulatorBucketUploader",
    "PresignedPutUploader",
    "S3Uploader",
    "StorageError",
    "UploadError",
    "UploadProgress",
    "Uploader",
    "is_transient",
    "upload_photos",
]

log = logging.getLogger("phota_async")

_S3_EXTRA = "pip install 'phota-async[s3]'"
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException",
                                 "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"})

@runtime_checkable
class Uploader(Protocol):
    """Stores one photo and returns a URL the Phota API can fetch (for the whole training)."""

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """Store ``data`` and return its URL."""
        ...


def is_transient(exc: BaseException) -> bool:
    """Whether an upload that failed with ``exc`` may succeed when tried again."""
    if isinstance(exc, StorageError):
        return exc.transient
    if isinstance(exc, APIStatusError):
        return exc.status in _TRANSIENT_STATUSES
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status in _TRANSIENT_STATUSES
    return isinstance(exc, APIConnectionError | aiohttp.ClientConnectionError | TimeoutError
                      | ConnectionError)


# --- Plain HTTP PUT (the emulator's bucket, presigned PUT URLs) -------------------------------


class _HTTPPutter:
    """PUTs bytes with an ``aiohttp`` session created lazily (inside the running loop) unless
    one is given. It sends no credentials of its own: the URL carries whatever is needed."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session
        self._owns_session = session is None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(sock_connect=C.UPLOAD_CONNECT_TIMEOUT,
                                              sock_read=C.UPLOAD_READ_TIMEOUT),
                headers={"User-Agent": C.USER_AGENT},
            )
            self._owns_session = True
        return self._session

    async def put(self, url: str, data: bytes, content_type: str) -> bytes:
        """PUT ``data``; the response body on 2xx, else :class:`StorageError`."""
        shown = display_url(url)
        try:
            # No redirects: they would carry the photo to a host nobody chose.
            async with self._get_session().put(
                url, data=data, headers={"Content-Type": content_type}, allow_redirects=False
            ) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # Chained causes may print the full URL: drop them, keep the kind and the text.
            raise StorageError(f"PUT {shown}: {type(exc).__name__}: {exc}",
                               transient=True) from None
        if not 200 <= resp.status < 300:
            snippet = body[:200].decode("utf-8", "replace")
            raise StorageError(f"PUT {shown}: HTTP {resp.status}: {snippet}",
                               transient=resp.status in _TRANSIENT_STATUSES, status=resp.status)
        return body

    async def aclose(self) -> None:
        """Close the session if it was created here."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()


class EmulatorBucketUploader:
    """The emulator's bucket: ``PUT {bucket_url}/{name}`` answers ``{"url": ...}``. Used by
    default against the emulator; needs no key. Close with :meth:`aclose` (or ``async with``)."""

    def __init__(self, bucket_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.bucket_url = bucket_url.rstrip("/")
        self._http = _HTTPPutter(session)

    def __repr__(self) -> str:
        return f"EmulatorBucketUploader({self.bucket_url!r})"

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """Store ``data`` under a fresh name (two users' ``IMG_0001.jpg`` must not collide)."""
        name = f"{uuid.uuid4().hex[:16]}-{PurePosixPath(filename).name}"
        body = await self._http.put(f"{self.bucket_url}/{quote(name)}", data, content_type)
        try:
            url = json.loads(body)["url"]
        except (ValueError, KeyError, TypeError):
            raise StorageError(f"bucket answered without a URL: {body[:200]!r}",
                               transient=False) from None
        return str(url)

    async def aclose(self) -> None:
        """Close the HTTP session this uploader created."""
        await self._http.aclose()

    async def __aenter__(self) -> EmulatorBucketUploader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class PresignedPutUploader:
    """Storage that hands out URL pairs: ``presign(filename, content_type)`` returns
    ``(put_url, get_url)``; the photo is PUT with its ``Content-Type`` and ``get_url`` returned.
    ``presign`` is called again for every retry, so an expired URL is never reused."""

    def __init__(
        self,
        presign: Callable[[str, str], Awaitable[tuple[str, str]]],
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._presign = presign
        self._http = _HTTPPutter(session)

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """PUT ``data`` to a fresh presigned URL and return its GET twin."""
        put_url, get_url = await self._presign(filename, content_type)
        await self._http.put(put_url, data, content_type)
        return get_url

    async def aclose(self) -> None:
        """Close the HTTP session this uploader created."""
        await self._http.aclose()

    async def __aenter__(self) -> PresignedPutUploader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# --- S3-compatible storage --------------------------------------------------------------------


def _aiobotocore() -> tuple[Any, Any]:
    """aiobotocore's session and config modules, or a clear ImportError."""
    try:
        session = importlib.import_module("aiobotocore.session")
        config = importlib.import_module("aiobotocore.config")
    except ImportError:
        raise ImportError(f"S3Uploader needs the optional extra: {_S3_EXTRA}") from None
    return session, config


def _extension(filename: str, content_type: str) -> str:
    for fmt, known in CONTENT_TYPES.items():
        if known == content_type:
            return EXTENSIONS[fmt]
    return PurePosixPath(filename).suffix.lower()


class S3Uploader:
    """S3-compatible storage (AWS S3, Cloudflare R2, MinIO, GCS interoperability) through
    aiobotocore: ``put_object`` under ``prefix`` + a random name, then a presigned GET URL valid
    ``expires_in`` seconds (default 2 h: the API fetches photos while it trains).

    Credentials come from the arguments or botocore's usual chain (environment, profile, role).
    With temporary credentials a presigned URL dies with them. One client is reused, created on
    first use; close it with :meth:`aclose` (or ``async with``). Needs ``phota-async[s3]``.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = C.S3_DEFAULT_PREFIX,
        expires_in: int = C.S3_URL_EXPIRES,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        session: Any = None,
        addressing_style: Literal["auto", "virtual", "path"] | None = None,
    ) -> None:
        if not 1 <= expires_in <= C.S3_URL_EXPIRES_MAX:
            raise ValueError(f"expires_in must be 1..{C.S3_URL_EXPIRES_MAX} seconds")
        session_module, self._config_module = _aiobotocore()
        self.bucket = bucket
        self.prefix = prefix
        self.expires_in = expires_in
        self._session = session or session_module.get_session()
        self._client_args = {
            "endpoint_url": endpoint_url, "region_name": region_name,
            "aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
        }
        self._addressing_style = addressing_style
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"S3Uploader(bucket={self.bucket!r}, prefix={self.prefix!r})"

    async def _get_client(self) -> Any:
        async with self._lock:  # concurrent first uploads must share one client
            if self._client is None:
                await anyio.to_thread.run_sync(self._warm_up)
                config = self._config_module.AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": self._addressing_style or "auto"},
                    # upload_photos is the one retry layer (its waits, its progress events).
                    retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=C.UPLOAD_CONNECT_TIMEOUT,
                    read_timeout=C.UPLOAD_READ_TIMEOUT,
                )
                self._client = await self._stack.enter_async_context(
                    self._session.create_client("s3", config=config, **self._client_args)
                )
        return self._client

    def _warm_up(self) -> None:
        # Creating a client parses several MB of botocore JSON models (about 100 ms, blocking).
        # Loading them here, in a worker thread, fills the session's cache so that
        # create_client does not stall the event loop.
        loader = self._session.get_component("data_loader")
        for name in ("service-2", "endpoint-rule-set-1"):
            loader.load_service_model("s3", name)
        for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
            with contextlib.suppress(Exception):
                loader.load_data(name)

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """``put_object`` with ``ContentType``, then a presigned GET URL of the new object."""
        key = f"{self.prefix}{uuid.uuid4().hex}{_extension(filename, content_type)}"
        client = await self._get_client()
        try:
            await client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                    ContentType=content_type)
        except Exception as exc:
            raise _s3_error(exc, f"s3://{self.bucket}/{key}") from None
        url: str = await client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_in
        )
        return url

    async def aclose(self) -> None:
        """Close the S3 client."""
        await self._stack.aclose()
        self._client = None

    async def __aenter__(self) -> S3Uploader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _s3_error(exc: Exception, where: str) -> StorageError:
    """A botocore failure as a :class:`StorageError`, transient or not."""
    exceptions = importlib.import_module("botocore.exceptions")
    if isinstance(exc, exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code", "")
        transient = status in _TRANSIENT_STATUSES or code in _TRANSIENT_S3_CODES
        return StorageError(f"PUT {where}: {code} {error.get('Message', '')}".rstrip(),
                            transient=transient, status=status)
    connection = (exceptions.ConnectionError, exceptions.HTTPClientError,
                  aiohttp.ClientConnectionError, TimeoutError, OSError)
    return StorageError(f"PUT {where}: {type(exc).__name__}: {exc}",
                        transient=isinstance(exc, connection))


# --- Uploading a set --------------------------------------------------------------------------


@frozen
class UploadProgress:
    """One step of one photo's upload: ``started``, ``retrying`` (after a transient failure,
    with its ``error``), ``uploaded`` or ``failed``. ``done`` of ``total`` photos to upload have
    finished (URLs given as input are not counted: they are not uploaded)."""

    index: int
    filename: str
    state: Literal["started", "uploaded", "failed", "retrying"]
    done: int
    total: int
    error: str | None = None
    attempt: int = 1


class _Progress:
    """Counts finished uploads and calls the user's callback, which must not break the set."""

    def __init__(self, total: int, callback: Callable[[UploadProgress], None] | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback

    def emit(self, photo: PreparedPhoto, state: Literal["started", "uploaded", "failed",
             "retrying"], error: str | None = None, attempt: int = 1) -> None:
        if state in ("uploaded", "failed"):
            self.done += 1
        if self._callback is None:
            return
        event = UploadProgress(photo.index, photo.filename, state, self.done, self.total, error,
                               attempt)
        try:
            self._callback(event)
        except Exception:
            # A broken progress bar must not lose an upload: log it and go on.
            log.exception("upload progress callback failed")


def _reason(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}" if not isinstance(exc, StorageError)
                  else str(exc))


async def _upload_one(
    photo: PreparedPhoto, uploader: Uploader, progress: _Progress, retries: int,
    wait: float, wait_max: float,
) -> str:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        error = _reason(exc) if exc else "unknown error"
        log.info("retrying the upload of photos[%d] (%s): %s", photo.index, photo.filename, error)
        progress.emit(photo, "retrying", error, state.attempt_number + 1)

    retrying = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=tenacity.wait_exponential_jitter(multiplier=wait, max=wait_max, jitter=wait),
        before_sleep=before_sleep, reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            url = await uploader.upload(photo.data, filename=photo.filename,
                                        content_type=photo.content_type)
            if not isinstance(url, str) or not url:
                raise StorageError(f"the uploader returned {type(url).__name__}, not a URL",
                                   transient=False)
            return url
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def upload_photos(
    photos: Sequence[PreparedPhoto],
    uploader: Uploader,
    *,
    concurrency: int = C.UPLOAD_CONCURRENCY,
    retries: int = C.UPLOAD_RETRIES,
    retry_wait: float = C.UPLOAD_RETRY_WAIT,
    retry_wait_max: float = C.UPLOAD_RETRY_WAIT_MAX,
    on_progress: Callable[[UploadProgress], None] | None = None,
) -> list[str]:
    """Upload prepared photos, ``concurrency`` at a time; their URLs in input order.

    Photos that already are URLs are passed through. Each upload is retried up to ``retries``
    times on transient errors (connection errors, timeouts, 429, 5xx), waiting an exponential,
    jittered ``retry_wait``..``retry_wait_max`` seconds. ``on_progress`` gets an
    :class:`UploadProgress` per step of each photo (on the event loop: it must not block).
    Raises :class:`UploadError` when any photo failed, after all the others finished.
    """
    if concurrency < 1 or retries < 0:
        raise ValueError("concurrency must be >= 1 and retries >= 0")
    local = [photo for photo in photos if photo.url is None]
    progress = _Progress(len(local), on_progress)
    limiter = anyio.CapacityLimiter(concurrency)
    urls: dict[int, str] = {}
    failed: dict[int, str] = {}

    async def one(position: int, photo: PreparedPhoto) -> None:
        async with limiter:
            progress.emit(photo, "started")
            try:
                urls[position] = await _upload_one(photo, uploader, progress, retries,
                                                   retry_wait, retry_wait_max)
            except Exception as exc:
                failed[position] = _reason(exc)
                log.warning("upload of photos[%d] (%s) failed: %s", photo.index, photo.filename,
                            failed[position])
                progress.emit(photo, "failed", failed[position])
                return
            progress.emit(photo, "uploaded")

    async with anyio.create_task_group() as group:
        for position, photo in enumerate(photos):
            if photo.url is not None:
                urls[position] = photo.url
            else:
                group.start_soon(one, position, photo)
    if failed:
        raise UploadError({photos[p].index: reason for p, reason in failed.items()},
                          {photos[p].index: url for p, url in urls.items()})
    return [urls[position] for position in range(len(photos))]
