"""The examination of one photo, run in a worker thread: :func:`examine` reads it once, finds its
real format from the content, decodes it, measures it as displayed (EXIF orientation applied)
and, when asked, readies it for upload as a :class:`PreparedPhoto` (long side fitted, turned
upright, re-encoded only when something changed, HEIC as JPEG, a safe file name). It returns an
:class:`Outcome`: the photo's :class:`PhotoCheck`, the hashes the set-level duplicate checks need
and the prepared photo. This is the unit of work that :mod:`.checks` runs a bounded number at a
time, kept apart from the set-level checks; a bad photo ends as an error issue, never as an
exception. Reading is :func:`.inputs.load_image`'s, the one reader of image inputs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from attrs import field, frozen
from PIL import Image, ImageOps

from .. import _constants as C
from .._redaction import display_url
from .inputs import CONTENT_TYPES, EXTENSIONS, Refused, image_format, is_url, load_image
from .pillow import decode, dhash, encode, fitted
from .report import PhotoCheck, PhotoIssue

__all__ = ["Outcome", "PreparedPhoto", "examine", "source_name"]

_ORIENTATION_TAG = 0x0112
_SWAPPED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # a quarter turn: width and height swap


def _data_repr(data: bytes) -> str:
    return f"<{len(data)} bytes>"


def _url_repr(url: str | None) -> str:
    return "None" if url is None else repr(display_url(url))


@frozen
class PreparedPhoto:
    """A photo ready to upload: ``data`` with its ``content_type`` and an upload ``filename``
    (extension matching the content), ``width``/``height`` in pixels. For a URL given as input,
    ``url`` is set, ``data`` is empty and nothing is uploaded."""

    index: int
    data: bytes = field(repr=_data_repr)
    content_type: str
    filename: str
    width: int | None = None
    height: int | None = None
    url: str | None = field(default=None, repr=_url_repr)

    @classmethod
    def from_url(cls, index: int, url: str) -> PreparedPhoto:
        """A photo the API fetches itself."""
        return cls(index, b"", "", PurePosixPath(urlsplit(url).path).name or "photo", url=url)


@frozen
class Outcome:
    """One photo's check, plus what the set-level checks and the upload need."""

    check: PhotoCheck
    digest: bytes | None = None  # SHA-256 of the file, for exact duplicates
    dhash: int | None = None  # perceptual hash, for near duplicates
    prepared: PreparedPhoto | None = None


def source_name(photo: object) -> str:
    if isinstance(photo, str) and is_url(photo):
        return display_url(photo)
    if isinstance(photo, str | os.PathLike):
        return Path(photo).name or str(photo)
    name = getattr(photo, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "bytes" if isinstance(photo, bytes | bytearray | memoryview) else "file"


def _upload_name(source: str, index: int, fmt: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem).strip("._")[:64]
    if source in ("bytes", "file") or not stem:
        stem = f"photo-{index}"
    return stem + EXTENSIONS[fmt]


def _prepare(
    index: int, source: str, data: bytes, fmt: str, working: Image.Image, changed: bool
) -> PreparedPhoto:
    """The upload form of an oriented, fitted photo: the original bytes when nothing changed."""
    out_fmt = "jpeg" if fmt == "heic" else fmt  # the API does not take HEIC
    if changed or out_fmt != fmt:
        data = encode(working, out_fmt)
    width, height = working.size
    return PreparedPhoto(index, data, CONTENT_TYPES[out_fmt], _upload_name(source, index, out_fmt),
                         width, height)


def examine(
    index: int, source: str, photo: object, prepare: bool, min_side: int = C.PHOTO_MIN_SIDE
) -> Outcome:
    """Read, check and (when ``prepare``) ready one photo; a short side under ``min_side`` is an
    error. Runs in a worker thread."""
    fmt = None
    try:
        data = load_image(photo)
        fmt = image_format(data)
        if fmt is None:
            raise Refused("not_an_image", "is not a JPEG, PNG, WebP or HEIC/HEIF image "
                                           "(checked by its content, whatever its name)")
        return _examine_image(index, source, data, fmt, prepare, min_side)
    except Refused as refused:
        code, message = refused.code, refused.message
        if refused.allowed:
            message += f" (give {refused.allowed})"
    except Exception as exc:  # Pillow out of memory, a plugin bug...: still only this photo
        code, message = "corrupt", f"cannot be processed ({type(exc).__name__}: {exc})"
    issue = PhotoIssue("error", code, message, (index,))
    return Outcome(PhotoCheck(index, source, fmt, issues=(issue,)))


def _examine_image(
    index: int, source: str, data: bytes, fmt: str, prepare: bool, min_side: int
) -> Outcome:
    decode_side = C.PHOTO_MAX_SIDE if prepare else C.PHOTO_CHECK_DECODE_SIDE
    image, (stored_w, stored_h) = decode(data, fmt, decode_side)
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
        swapped = orientation in _SWAPPED_ORIENTATIONS
        width, height = (stored_h, stored_w) if swapped else (stored_w, stored_h)
        issues = _photo_issues(index, image, fmt, width, height, min_side)
        check = PhotoCheck(index, source, fmt, width, height, issues)
        if check.status == "error":
            return Outcome(check)
        working = fitted(image) if prepare else image
        if orientation != 1:
            # After the resize: turning a 4096 px image costs a third of turning a 24 MP one.
            working = ImageOps.exif_transpose(working)
        prepared = None
        if prepare:
            changed = working.size != (stored_w, stored_h) or orientation != 1
            prepared = _prepare(index, source, data, fmt, working, changed)
        digest = hashlib.sha256(data).digest()
        return Outcome(check, digest, dhash(working), prepared)
    finally:
        image.close()


def _photo_issues(
    index: int, image: Image.Image, fmt: str, width: int, height: int, min_side: int
) -> tuple[PhotoIssue, ...]:
    """Size (as displayed) and animation issues of one decoded photo."""
    short = min(width, height)
    issues = []
    if short < min_side:
        issues.append(PhotoIssue("error", "too_small",
                                 f"too small: {width}x{height} px; the short side must be at "
                                 f"least {min_side} px", (index,)))
    elif short < C.PHOTO_GOOD_SIDE:
        issues.append(PhotoIssue("warning", "low_resolution",
                                 f"low resolution: {width}x{height} px; {C.PHOTO_GOOD_SIDE} px "
                                 "or more on the short side trains better", (index,)))
    if fmt in ("png", "webp") and getattr(image, "n_frames", 1) > 1:
        issues.append(PhotoIssue("warning", "animated",
                                 "is animated; only its first frame is used", (index,)))
    return tuple(issues)

