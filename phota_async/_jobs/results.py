"""The result of an image job: decoded images or signed URLs, saved or read on demand."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
from attrs import field, frozen

from .. import _constants as C
from .._concurrency import map_concurrently
from .._exceptions import APITimeoutError, InvalidInputError, PhotaError
from .._http.transport import Transport
from .._wire.models import ImageResponse, KnownSubjects
from .downloads import DownloadSettings, fetch_bytes, fetch_to_file, file_stem, write_file

__all__ = ["ImageResult"]

T = TypeVar("T")


@frozen
class ImageResult:
    """What a finished image job made.

    ``images`` holds decoded bytes when the server sent them inline; ``download_urls`` holds
    signed URLs (valid 24 h) otherwise. ``known_subjects`` maps recognised profiles to how often
    they appear. :meth:`save` and :meth:`read` work the same for both.
    """

    images: list[bytes]
    download_urls: list[str]
    known_subjects: KnownSubjects
    job_id: str | None = None
    _transport: Transport | None = field(default=None, repr=False, eq=False, alias="transport")
    _downloads: DownloadSettings | None = field(
        default=None, repr=False, eq=False, alias="downloads"
    )

    @classmethod
    def from_response(
        cls,
        response: ImageResponse,
        *,
        job_id: str | None = None,
        transport: Transport | None = None,
        downloads: DownloadSettings | None = None,
    ) -> ImageResult:
        """Build a result from the wire response (base64 decoded here)."""
        return cls(
            images=[base64.b64decode(item) for item in response.images],
            download_urls=list(response.download_urls),
            known_subjects=response.known_subjects,
            job_id=job_id,
            transport=transport,
            downloads=downloads,
        )

    def __len__(self) -> int:
        return len(self.images) or len(self.download_urls)

    async def read(self, *, timeout: float | None = None) -> list[bytes]:
        """The bytes of every output image, downloading URLs concurrently (never with the key).

        ``timeout`` bounds the whole call (default: the client's ``timeout``, else
        ``DOWNLOAD_TIMEOUT``); each file is refused past the client's ``max_download_bytes``.
        """
        if self.images or not self.download_urls:
            return list(self.images)
        transport, settings = self._downloading()

        async def fetch(index: int) -> bytes:
            async with settings.limiter:
                return await fetch_bytes(transport, settings, self.download_urls[index])

        return await self._within(timeout, settings, lambda: map_concurrently(
            fetch, len(self.download_urls)
        ))

    async def save(
        self,
        directory: str | os.PathLike[str],
        *,
        stem: str | None = None,
        timeout: float | None = None,
    ) -> list[Path]:
        """Write every output image into ``directory`` (created if needed); return the paths.

        Files are named ``<stem>-<n>.<ext>``; ``stem`` defaults to the job id and must be a plain
        name: nothing is ever written outside ``directory``. URLs are streamed to disk
        concurrently, each under a temporary name renamed when complete, so a failure or a cancel
        never leaves a partial file. ``timeout`` works as for :meth:`read`.
        """
        if stem is not None:
            base = file_stem(stem, "stem")
        elif self.job_id is not None:
            base = file_stem(self.job_id, "job_id")
        else:
            base = f"image-{uuid.uuid4().hex[:8]}"
        root = await anyio.to_thread.run_sync(_folder, Path(directory))
        if self.images:
            return [
                await anyio.to_thread.run_sync(write_file, root, f"{base}-{i}", data)
                for i, data in enumerate(self.images)
            ]
        transport, settings = self._downloading()

        async def fetch(index: int) -> Path:
            url = self.download_urls[index]
            async with settings.limiter:
                return await fetch_to_file(transport, settings, url, root, f"{base}-{index}")

        return await self._within(timeout, settings, lambda: map_concurrently(
            fetch, len(self.download_urls)
        ))

    def _downloading(self) -> tuple[Transport, DownloadSettings]:
        if self._transport is None:
            raise PhotaError("this result is detached from a client: cannot download its URLs")
        return self._transport, self._downloads or DownloadSettings()

    async def _within(
        self,
        timeout: float | None,
        settings: DownloadSettings,
        work: Callable[[], Awaitable[T]],
    ) -> T:
        """``work()`` within the call's deadline: ``timeout``, else the client's, else the
        default, so that no server can hold a download open forever."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidInputError("timeout", f"{timeout!r} is not valid",
                                    allowed="a positive number of seconds, or None")
        limit = next(t for t in (timeout, settings.timeout, C.DOWNLOAD_TIMEOUT) if t is not None)
        try:
            async with asyncio.timeout(limit) as scope:
                return await work()
        except TimeoutError:
            if not scope.expired():
                raise
            of_job = f" of job {self.job_id}" if self.job_id else ""
            raise APITimeoutError(
                f"downloading the {len(self.download_urls)} image(s){of_job} took longer than "
                f"{limit} s (set timeout= on read()/save() or on the client)"
            ) from None


def _folder(directory: Path) -> Path:
    """``directory`` created if needed, resolved: every file is written right inside it."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory.resolve()
