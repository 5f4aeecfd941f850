"""Uploading a prepared photo set: :func:`upload_photos` runs a bounded number of uploads at a
time through any :class:`Uploader`, retries each one on transient failures (:func:`is_transient`:
connection errors, timeouts, 429, 5xx, a storage error marked transient) with exponential,
jittered waits, reports each step as an :class:`UploadProgress` event, and returns the URLs in
input order, or raises :class:`UploadError` naming every photo that failed, so that nothing
half-done goes to ``profiles/add``. This is the one retry layer of uploads, kept apart from the
uploaders themselves (:mod:`._uploaders`, :mod:`._s3_uploader`), which each try once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

import aiohttp
import anyio
import tenacity
from attrs import frozen

from .. import _constants as C
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    StorageError,
    UploadError,
)
from .._http.retry import TRANSIENT_STATUSES
from .._redaction import redact
from .examine import PreparedPhoto
from .uploaders import Uploader

__all__ = ["UploadProgress", "is_transient", "upload_photos"]

log = logging.getLogger("phota_async")


def is_transient(exc: BaseException) -> bool:
    """Whether an upload that failed with ``exc`` may succeed when tried again."""
    if isinstance(exc, StorageError):
        return exc.transient
    if isinstance(exc, APIStatusError):
        return exc.status in TRANSIENT_STATUSES
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status in TRANSIENT_STATUSES
    return isinstance(exc, APIConnectionError | aiohttp.ClientConnectionError | TimeoutError
                      | ConnectionError)


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
