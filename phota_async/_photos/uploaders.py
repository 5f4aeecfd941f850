"""Uploaders: put local profile photos where the API can fetch them, and say at which URL.

``POST /profiles/add`` takes only URLs. An uploader is any object with
``async def upload(data, *, filename, content_type) -> str`` (:class:`Uploader`); built in are the
emulator's bucket (:class:`EmulatorBucketUploader`), storage that hands out PUT/GET URL pairs
(:class:`PresignedPutUploader`), both a plain HTTP PUT, and S3-compatible storage
(:class:`S3Uploader`, in :mod:`._s3_uploader`). Uploading a whole set, with retries and progress,
is :func:`upload_photos` (:mod:`._uploading`).

Uploaders never see the Phota API key. Presigned URLs are credentials: they are returned to the
caller, never logged, and error messages carry them without their query string.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Protocol, Self, runtime_checkable
from urllib.parse import quote

import aiohttp

from .. import _constants as C
from .._exceptions import StorageError
from .._http.retry import TRANSIENT_STATUSES
from .._redaction import display_url

__all__ = [
    "EmulatorBucketUploader",
    "PresignedPutUploader",
    "Uploader",
]



@runtime_checkable
class Uploader(Protocol):
    """Stores one photo and returns a URL the Phota API can fetch (for the whole training)."""

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """Store ``data`` and return its URL."""
        ...


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
                               transient=resp.status in TRANSIENT_STATUSES, status=resp.status)
        return body

    async def aclose(self) -> None:
        """Close the session if it was created here."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()


class _PutUploader:
    """What the plain-PUT uploaders share: an HTTP session they may own, closed with them."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self._http = _HTTPPutter(session)

    async def aclose(self) -> None:
        """Close the HTTP session this uploader created."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class EmulatorBucketUploader(_PutUploader):
    """The emulator's bucket: ``PUT {bucket_url}/{name}`` answers ``{"url": ...}``. Used by
    default against the emulator; needs no key. Close with :meth:`aclose` (or ``async with``)."""

    def __init__(self, bucket_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(session)
        self.bucket_url = bucket_url.rstrip("/")

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


class PresignedPutUploader(_PutUploader):
    """Storage that hands out URL pairs: ``presign(filename, content_type)`` returns
    ``(put_url, get_url)``; the photo is PUT with its ``Content-Type`` and ``get_url`` returned.
    ``presign`` is called again for every retry, so an expired URL is never reused."""

    def __init__(
        self,
        presign: Callable[[str, str], Awaitable[tuple[str, str]]],
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(session)
        self._presign = presign

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """PUT ``data`` to a fresh presigned URL and return its GET twin."""
        put_url, get_url = await self._presign(filename, content_type)
        await self._http.put(put_url, data, content_type)
        return get_url
