"""Image inputs: paths, bytes, binary files or URLs, read and encoded off the event loop.

This is the one reader of an :data:`ImageInput`, for image calls and profile photos alike. A
path is opened without waiting (a FIFO never blocks) and read only when it is a regular file no
larger than ``IMAGE_MAX_BYTES``; a file object is read in chunks and refused past that cap, so
neither ``/dev/zero`` nor a sparse gigabyte is ever read whole. What cannot be used raises
:class:`Refused` with a stable code: image calls turn it into :class:`InvalidInputError`, the
photo checks into an error in their report.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TypeAlias

import anyio
import anyio.to_thread

from .. import _constants as C
from .._exceptions import InvalidInputError

__all__ = [
    "ImageInput", "Refused", "encode_image", "image_format", "image_list", "is_url", "load_image",
    "read_image",
]

ImageInput: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]"
"""A photo: a local path, raw bytes, a binary file object, or an ``http(s)`` URL string."""

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                b"msf1"}
CONTENT_TYPES = {
    "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"
}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "heic": ".heic"}
_INPUTS = "a path, bytes, a binary file object or an http(s) URL"
# Opening never waits: a FIFO with no writer would block a worker thread beyond any cancel.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_BINARY", 0))
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


class Refused(Exception):
    """An image that cannot be used: a stable ``code`` (``unreadable``, ``empty``,
    ``too_large``, ``corrupt``...), a ``message`` that reads after the image's name, and what
    would have been ``allowed`` where that helps."""

    def __init__(self, code: str, message: str, *, allowed: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.allowed = allowed


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


def image_list(value: object, field: str) -> list[ImageInput]:
    """``value`` as a list of image inputs. A lone image is refused: a path or bytes is a
    Sequence too, and checking it letter by letter helps nobody."""
    if isinstance(value, str | bytes | bytearray | memoryview | os.PathLike) or not isinstance(
        value, Sequence
    ):
        raise InvalidInputError(field, f"must be a list of {field} (use [photo] for one)",
                                allowed=f"a list of items, each {_INPUTS}")
    return list(value)


# --- Reading ------------------------------------------------------------------------------------


def _too_large(size: int | None) -> Refused:
    found = f"{size} bytes " if size is not None else ""
    return Refused("too_large", f"is {found}larger than the {C.IMAGE_MAX_BYTES} bytes allowed "
                                "for an image")


def load_image(image: object) -> bytes:
    """The bytes of a local image (path, bytes or binary file object), within the size cap.

    Blocking: run it in a worker thread. Raises :class:`Refused` when the image cannot be used.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        size = image.nbytes if isinstance(image, memoryview) else len(image)
        if size > C.IMAGE_MAX_BYTES:
            raise _too_large(size)
        data = bytes(image)
    elif isinstance(image, str | os.PathLike):
        if isinstance(image, str) and image.lower().startswith("data:"):
            raise Refused("unreadable", "is a data: URI, which the API does not accept",
                          allowed=_INPUTS)
        data = _read_path(Path(image))
    elif hasattr(image, "read"):
        data = _read_chunks(image)
    else:
        raise Refused("unreadable", f"is a {type(image).__name__}, not an image",
                      allowed=_INPUTS)
    if not data:
        raise Refused("empty", "is empty")
    return data


def _read_path(path: Path) -> bytes:
    """A regular file's bytes; its type and size are checked on the open descriptor, so a link
    swapped after the check changes nothing."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise Refused("unreadable", f"cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "special")
            raise Refused("unreadable", f"is not a regular file ({kind})")
        if info.st_size > C.IMAGE_MAX_BYTES:
            raise _too_large(info.st_size)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as handle:
        return _read_chunks(handle)


def _read_chunks(handle: object) -> bytes:
    """Read ``handle`` to its end in bounded chunks; refused once past ``IMAGE_MAX_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = handle.read(C.IMAGE_READ_CHUNK)  # type: ignore[attr-defined]
        except UnicodeDecodeError:  # a photo opened in text mode
            chunk = ""
        except OSError as exc:
            raise Refused("unreadable", f"cannot be read: {exc.strerror or exc}") from None
        if not isinstance(chunk, bytes | bytearray):
            raise Refused("unreadable",
                          "is a file object in text mode: open it in binary mode ('rb')")
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > C.IMAGE_MAX_BYTES:
            raise _too_large(None)
        chunks.append(bytes(chunk))


async def read_image(image: ImageInput, field: str) -> bytes:
    """The bytes of a local image (path, bytes or file object), read in a worker thread;
    :class:`InvalidInputError` naming ``field`` when it cannot be used."""
    try:
        if isinstance(image, bytes | bytearray | memoryview):
            data = load_image(image)  # already in memory: not worth a thread
        else:
            data = await anyio.to_thread.run_sync(load_image, image)
    except Refused as refused:
        subject = f"{os.fspath(image)!r} " if isinstance(image, str | os.PathLike) else ""
        raise InvalidInputError(field, subject + refused.message, allowed=refused.allowed) from None
    check_image_bytes(data, field)
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
