"""Image inputs: paths, bytes, binary files or URLs, read and encoded off the event loop."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import IO, TypeAlias

import anyio
import anyio.to_thread

from .. import _constants as C
from .._exceptions import InvalidInputError

__all__ = ["ImageInput", "encode_image", "image_format", "is_url", "read_image"]

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
"""A photo: a local path, raw bytes, a binary file object, or an ``http(s)`` URL string."""

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                b"msf1"}
CONTENT_TYPES = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"
}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "heic": ".heic"}


def is_url(value: object) -> bool:
    """True for an ``http(s)://`` string."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def image_format(data: bytes) -> str | None:
    """The format a file really is, read from its first bytes: jpeg, png, webp, heic or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


async def read_image(image: ImageInput, field: str) -> bytes:
    """The bytes of a local image (path, bytes or file object), read in a worker thread."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
    elif isinstance(image, str | os.PathLike):
        path = Path(image)
        if isinstance(image, str) and image.lower().startswith("data:"):
            raise InvalidInputError(field, "data: URIs are not accepted",
                                    allowed="a path, bytes, a binary file, or an http(s) URL")
        try:
            data = await anyio.Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInputError(field, f"cannot read {str(path)!r}: {exc.strerror}") from None
    elif hasattr(image, "read"):
        data = await _read_file_object(image, field)
    else:
        raise InvalidInputError(
            field, f"{type(image).__name__} is not an image input",
            allowed="a path, bytes, a binary file object, or an http(s) URL string",
        )
    check_image_bytes(data, field)
    return data


async def _read_file_object(handle: IO[bytes], field: str) -> bytes:
    try:
        data: object = await anyio.to_thread.run_sync(handle.read)
    except UnicodeDecodeError:  # a photo opened in text mode
        data = None
    if not isinstance(data, bytes):
        raise InvalidInputError(field, "file objects must be opened in binary mode ('rb')")
    return data


def check_image_bytes(data: bytes, field: str) -> str:
    """The format of ``data``, or InvalidInputError when it is not an accepted image."""
    if not data:
        raise InvalidInputError(field, "is empty")
    kind = image_format(data)
    if kind is None:
        raise InvalidInputError(field, "is not an image (checked by content)",
                                allowed="JPEG, PNG, WebP, HEIC/HEIF")
    return kind


async def encode_image(image: ImageInput, field: str) -> str:
    """The wire form of an image input: the URL unchanged, or the bytes as plain base64."""
    if is_url(image):
        return str(image)
    data = await read_image(image, field)
    if len(data) < C.THREAD_ENCODE_THRESHOLD:
        return _b64(data)
    # A 20 MB photo takes tens of milliseconds to encode: never on the event loop.
    return await anyio.to_thread.run_sync(_b64, data)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
