"""The result of an image job: decoded images or signed URLs, saved or read on demand."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import anyio
import anyio.to_thread
from attrs import field, frozen

from .. import _constants as C
from .._concurrency import map_concurrently
from .._exceptions import PhotaError
from .._http.transport import Transport
from .._photos.inputs import EXTENSIONS, image_format
from .._wire.models import ImageResponse, KnownSubjects

__all__ = ["ImageResult"]

_CONTENT_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


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
    _downloads: anyio.CapacityLimiter | None = field(
        default=None, repr=False, eq=False, alias="downloads"
    )

    @classmethod
    def from_response(
        cls,
        response: ImageResponse,
        *,
        job_id: str | None = None,
        transport: Transport | None = None,
        downloads: anyio.CapacityLimiter | None = None,
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

    async def read(self) -> list[bytes]:
        """The bytes of every output image, downloading URLs concurrently (never with the key)."""
        if self.images or not self.download_urls:
            return list(self.images)
        limiter = self._limiter()

        async def fetch(index: int) -> bytes:
            url = self.download_urls[index]
            async with limiter, self._require_transport().download(url) as resp:
                return await resp.read()

        return await map_concurrently(fetch, len(self.download_urls))

    async def save(
        self, directory: str | os.PathLike[str], *, stem: str | None = None
    ) -> list[Path]:
        """Write every output image into ``directory`` (created if needed); return the paths.

        URLs are streamed to disk concurrently; each file is written under a temporary name and
        renamed when complete, so a crash never leaves a truncated image under the final name.
        """
        target = anyio.Path(directory)
        await target.mkdir(parents=True, exist_ok=True)
        base = stem or self.job_id or f"image-{uuid.uuid4().hex[:8]}"
        if self.images:
            return [
                await _write_bytes(target, f"{base}-{i}", data)
                for i, data in enumerate(self.images)
            ]
        limiter = self._limiter()

        async def fetch(index: int) -> Path:
            async with limiter:
                return await self._stream_to(target, f"{base}-{index}", self.download_urls[index])

        return await map_concurrently(fetch, len(self.download_urls))

    def _require_transport(self) -> Transport:
        if self._transport is None:
            raise PhotaError("this result is detached from a client: cannot download its URLs")
        return self._transport

    def _limiter(self) -> anyio.CapacityLimiter:
        if self._downloads is None:
            return anyio.CapacityLimiter(C.DEFAULT_DOWNLOAD_CONCURRENCY)
        return self._downloads

    async def _stream_to(self, directory: anyio.Path, stem: str, url: str) -> Path:
        partial = directory / f".{stem}.{uuid.uuid4().hex[:6]}.part"
        async with self._require_transport().download(url) as resp:
            ext = _CONTENT_EXTENSIONS.get(resp.content_type, "")
            async with await partial.open("wb") as out:
                first = True
                async for chunk in resp.content.iter_chunked(C.DOWNLOAD_CHUNK_SIZE):
                    if first and not ext:
                        ext = EXTENSIONS.get(image_format(chunk) or "", ".bin")
                    first = False
                    await out.write(chunk)
        final = directory / f"{stem}{ext or '.bin'}"
        await partial.rename(final)
        return Path(final)


async def _write_bytes(directory: anyio.Path, stem: str, data: bytes) -> Path:
    ext = EXTENSIONS.get(image_format(data) or "", ".bin")
    final = directory / f"{stem}{ext}"
    partial = directory / f".{stem}.part"
    await partial.write_bytes(data)
    await partial.rename(final)
    return Path(final)

