"""Profile photos: the pre-flight check of a training set, and its preparation for upload.

:func:`check_photos` reports what is wrong with a set before $2.90 is paid for a training that would
fail twenty minutes later; :func:`prepare_photos` does the same check and, in the same single read
and decode of each photo, readies it for upload (EXIF orientation applied, long side at most
4096 px, HEIC turned into JPEG). Every byte of Pillow work runs in worker threads, a bounded number
at a time, so that fifty 24 MP photos never stall the event loop.

A bad photo never raises: it goes into the :class:`PhotoReport`, which a web backend can show to its
user (:meth:`PhotoReport.summary`, :meth:`PhotoReport.to_dict`). :func:`raise_for_report` turns a
report with errors into :class:`InvalidInputError` (what ``profiles.create`` does).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from attrs import field, frozen
from PIL import Image, ImageOps

from . import _constants as C
from ._enums import TrainingTier
from ._exceptions import InvalidInputError
from ._images import CONTENT_TYPES, EXTENSIONS, ImageInput, image_format, is_url
from ._redaction import display_url
from ._validation import TIER_PHOTOS, enum_value

__all__ = [
    "PhotoCheck",
    "PhotoIssue",
    "PhotoReport",
    "PreparedPhoto",
    "check_photos",
    "default_photo_workers",
    "prepare_photos",
    "raise_for_report",
]

Level = Literal["warning", "error"]
Status = Literal["ok", "warning", "error"]

_ORIENTATION_TAG = 0x0112
_SWAPPED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # a quarter turn: width and height swap
# Pillow plugins allowed per detected format: a file is never parsed as anything else.
_PILLOW_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "webp": ["WEBP"], "heic": ["HEIF"]}
_HEIC_EXTRA = "pip install 'phota-async[heic]'"


def default_photo_workers() -> int:
    """Worker threads for photos by default: one per core, at most ``PHOTO_MAX_WORKERS_CAP``."""
    return max(1, min(C.PHOTO_MAX_WORKERS_CAP, os.cpu_count() or 2))


# --- The report -------------------------------------------------------------------------------


@frozen
class PhotoIssue:
    """One problem: ``level`` (an error refuses the set, a warning does not), a stable ``code``
    (``too_small``, ``duplicate``...), a human ``message``, and the ``indexes`` of the photos
    concerned (empty for a problem of the whole set, such as the count)."""

    level: Level
    code: str
    message: str
    indexes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The issue as JSON-ready data."""
        return {"level": self.level, "code": self.code, "message": self.message,
                "indexes": list(self.indexes)}


def _status(issues: Sequence[PhotoIssue]) -> Status:
    levels = {issue.level for issue in issues}
    return "error" if "error" in levels else "warning" if "warning" in levels else "ok"


@frozen
class PhotoCheck:
    """What the check found about one photo: ``source`` is a display name (the file name,
    ``bytes``, or the URL without its query), ``format`` the real format read from the content,
    ``width``/``height`` as displayed (EXIF orientation applied). ``remote`` photos are URLs,
    passed through unchecked: the API fetches them itself."""

    index: int
    source: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    issues: tuple[PhotoIssue, ...] = ()
    remote: bool = False

    @property
    def status(self) -> Status:
        """``error``, ``warning`` or ``ok``: the worst of the photo's issues."""
        return _status(self.issues)

    @property
    def label(self) -> str:
        """How the photo is named in messages: ``photos[3] (IMG_0004.jpg)``."""
        return f"photos[{self.index}] ({self.source})"

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return {"index": self.index, "source": self.source, "format": self.format,
                "width": self.width, "height": self.height, "status": self.status,
                "remote": self.remote, "issues": [i.to_dict() for i in self.issues]}


@frozen
class PhotoReport:
    """The pre-flight report of a photo set for a training ``tier``: one :class:`PhotoCheck` per
    photo, in input order, and the ``issues`` of the set as a whole (count, duplicates)."""

    tier: TrainingTier
    photos: tuple[PhotoCheck, ...]
    issues: tuple[PhotoIssue, ...] = ()

    @property
    def all_issues(self) -> tuple[PhotoIssue, ...]:
        """Every issue: the set's first, then each photo's in order."""
        return self.issues + tuple(i for photo in self.photos for i in photo.issues)

    @property
    def errors(self) -> tuple[PhotoIssue, ...]:
        """The issues that refuse the set."""
        return tuple(i for i in self.all_issues if i.level == "error")

    @property
    def warnings(self) -> tuple[PhotoIssue, ...]:
        """The issues worth telling the user about that do not refuse the set."""
        return tuple(i for i in self.all_issues if i.level == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing refuses the set (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """Human text: a headline, then one line per problem naming the photo and the problem."""
        count = len(self.photos)
        head = f"{count} photo(s) for training tier {self.tier.value!r}"
        if not self.all_issues:
            return f"{head}: no problems found"
        errors, warnings = len(self.errors), len(self.warnings)
        lines = [f"{head}: {errors} error(s), {warnings} warning(s)"]
        lines += [f"- {issue.level}: {issue.message}" for issue in self.issues]
        for photo in self.photos:
            lines += [f"- {i.level}: {photo.label}: {i.message}" for i in photo.issues]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"tier": self.tier.value, "ok": self.ok,
                "issues": [i.to_dict() for i in self.issues],
                "photos": [p.to_dict() for p in self.photos]}


def raise_for_report(report: PhotoReport) -> None:
    """Raise :class:`InvalidInputError` (field ``photos``, carrying the report) if it has errors."""
    if not report.ok:
        raise InvalidInputError("photos", report.summary(), report=report)


# --- Prepared photos --------------------------------------------------------------------------


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


# --- The check of one photo, in a worker thread -----------------------------------------------


class _Refused(Exception):
    """Ends the examination of one photo with an error issue (never leaves this module)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@frozen
class _Outcome:
    """One photo's check, plus what the set-level checks and the upload need."""

    check: PhotoCheck
    digest: bytes | None = None  # SHA-256 of the file, for exact duplicates
    dhash: int | None = None  # perceptual hash, for near duplicates
    prepared: PreparedPhoto | None = None


def _source_name(photo: object) -> str:
    if isinstance(photo, str) and is_url(photo):
        return display_url(photo)
    if isinstance(photo, str | os.PathLike):
        return Path(photo).name or str(photo)
    name = getattr(photo, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "bytes" if isinstance(photo, bytes | bytearray | memoryview) else "file"


def _read(photo: object) -> bytes:
    """The photo's bytes (this runs in a worker thread, so plain blocking reads are fine)."""
    if isinstance(photo, bytes | bytearray | memoryview):
        data = bytes(photo)
    elif isinstance(photo, str | os.PathLike):
        if isinstance(photo, str) and photo.lower().startswith("data:"):
            raise _Refused("unreadable", "data: URIs are not accepted; give the bytes instead")
        try:
            data = Path(photo).read_bytes()
        except OSError as exc:
            raise _Refused("unreadable", f"cannot be read: {exc.strerror or exc}") from None
    elif hasattr(photo, "read"):
        data = photo.read()
        if not isinstance(data, bytes):
            raise _Refused("unreadable", "file objects must be opened in binary mode ('rb')")
    else:
        raise _Refused("unreadable", f"a {type(photo).__name__} is not a photo (give a path, "
                                     "bytes, a binary file object or an http(s) URL)")
    if not data:
        raise _Refused("empty", "the file is empty")
    return data


_heif_lock = threading.Lock()
_heif_ready: bool | None = None  # None until pillow-heif was looked for


def _heif_available() -> bool:
    """Register pillow-heif's opener once; False when the optional extra is not installed."""
    global _heif_ready
    with _heif_lock:  # worker threads may all meet their first HEIC at once
        if _heif_ready is None:
            try:
                importlib.import_module("pillow_heif").register_heif_opener()
                _heif_ready = True
            except ImportError:
                _heif_ready = False
        return _heif_ready


def _open(data: bytes, fmt: str) -> Image.Image:
    return Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[fmt])


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its long side is at most ``max_side``."""
    width, height = size
    long_side = max(width, height)
    if long_side <= max_side:
        return size
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode(data: bytes, fmt: str, decode_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded photo (a JPEG at a reduced DCT scale when ``decode_side`` allows: faster and
    smaller, and still every byte is decoded) and its full stored size."""
    if fmt == "heic" and not _heif_available():
        raise _Refused("heic_unsupported",
                       f"HEIC/HEIF photos need the optional extra: {_HEIC_EXTRA}")
    try:
        with _open(data, fmt) as probe:
            size = probe.size
            if size[0] * size[1] > C.PHOTO_MAX_PIXELS:
                raise _Refused("too_large", f"{size[0]}x{size[1]} px is too many pixels to decode")
            probe.verify()
        image = _open(data, fmt)  # verify() leaves an image unusable: open it again
        if fmt == "jpeg":
            image.draft(None, _fit(size, decode_side))
        image.load()
    except Image.DecompressionBombError as exc:
        raise _Refused("too_large", f"too many pixels to decode safely ({exc})") from None
    except _Refused:
        raise
    except Exception as exc:
        # Pillow reports damage as OSError, SyntaxError, ValueError, EOFError, struct.error...:
        # whatever it is, the photo cannot be used.
        raise _Refused("corrupt", f"cannot be decoded as {fmt.upper()}: {exc}") from None
    return image, size


def _dhash(image: Image.Image) -> int:
    """A 64-bit difference hash: each bit says whether a pixel of a 9x8 grayscale thumbnail is
    brighter than its right-hand neighbour. Robust to re-encoding and resizing."""
    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return bits


def _upload_name(source: str, index: int, fmt: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).stem).strip("._")[:64]
    if source in ("bytes", "file") or not stem:
        stem = f"photo-{index}"
    return stem + EXTENSIONS[fmt]


def _encode(image: Image.Image, fmt: str) -> bytes:
    """``image`` saved as ``fmt``, keeping its colour profile and EXIF (orientation removed)."""
    extra: dict[str, Any] = {}
    exif = image.getexif()
    if len(exif):  # an empty Exif would still write an empty EXIF segment
        extra["exif"] = exif.tobytes()
    if image.info.get("icc_profile"):
        extra["icc_profile"] = image.info["icc_profile"]
    buffer = io.BytesIO()
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=C.PHOTO_JPEG_QUALITY, **extra)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=C.PHOTO_WEBP_QUALITY, **extra)
    else:
        image.save(buffer, "PNG", compress_level=C.PHOTO_PNG_COMPRESS_LEVEL, **extra)
    return buffer.getvalue()


def _prepare(
    index: int, source: str, data: bytes, fmt: str, working: Image.Image, changed: bool
) -> PreparedPhoto:
    """The upload form of an oriented, fitted photo: the original bytes when nothing changed."""
    out_fmt = "jpeg" if fmt == "heic" else fmt  # the API does not take HEIC
    if changed or out_fmt != fmt:
        data = _encode(working, out_fmt)
    width, height = working.size
    return PreparedPhoto(index, data, CONTENT_TYPES[out_fmt], _upload_name(source, index, out_fmt),
                         width, height)


def _examine(index: int, source: str, photo: object, prepare: bool) -> _Outcome:
    """Read, check and (when ``prepare``) ready one photo. Runs in a worker thread."""
    fmt = None
    try:
        data = _read(photo)
        fmt = image_format(data)
        if fmt is None:
            raise _Refused("not_an_image", "is not a JPEG, PNG, WebP or HEIC/HEIF image "
                                           "(checked by its content, whatever its name)")
        return _examine_image(index, source, data, fmt, prepare)
    except _Refused as refused:
        issue = PhotoIssue("error", refused.code, refused.message, (index,))
        return _Outcome(PhotoCheck(index, source, fmt, issues=(issue,)))


def _examine_image(index: int, source: str, data: bytes, fmt: str, prepare: bool) -> _Outcome:
    decode_side = C.PHOTO_MAX_SIDE if prepare else C.PHOTO_CHECK_DECODE_SIDE
    image, (stored_w, stored_h) = _decode(data, fmt, decode_side)
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
        swapped = orientation in _SWAPPED_ORIENTATIONS
        width, height = (stored_h, stored_w) if swapped else (stored_w, stored_h)
        issues = _photo_issues(index, image, fmt, width, height)
        check = PhotoCheck(index, source, fmt, width, height, issues)
        if check.status == "error":
            return _Outcome(check)
        working = _fitted(image) if prepare else image
        if orientation != 1:
            # After the resize: turning a 4096 px image costs a third of turning a 24 MP one.
            working = ImageOps.exif_transpose(working)
        prepared = None
        if prepare:
            changed = working.size != (stored_w, stored_h) or orientation != 1
            prepared = _prepare(index, source, data, fmt, working, changed)
        digest = hashlib.sha256(data).digest()
        return _Outcome(check, digest, _dhash(working), prepared)
    finally:
        image.close()


def _photo_issues(
    index: int, image: Image.Image, fmt: str, width: int, height: int
) -> tuple[PhotoIssue, ...]:
    """Size (as displayed) and animation issues of one decoded photo."""
    short = min(width, height)
    issues = []
    if short < C.PHOTO_MIN_SIDE:
        issues.append(PhotoIssue("error", "too_small",
                                 f"too small: {width}x{height} px; the short side must be at "
                                 f"least {C.PHOTO_MIN_SIDE} px", (index,)))
    elif short < C.PHOTO_GOOD_SIDE:
        issues.append(PhotoIssue("warning", "low_resolution",
                                 f"low resolution: {width}x{height} px; {C.PHOTO_GOOD_SIDE} px "
                                 "or more on the short side trains better", (index,)))
    if fmt in ("png", "webp") and getattr(image, "n_frames", 1) > 1:
        issues.append(PhotoIssue("warning", "animated",
                                 "is animated; only its first frame is used", (index,)))
    return tuple(issues)


def _fitted(image: Image.Image) -> Image.Image:
    """``image`` with its long side at most ``PHOTO_MAX_SIDE`` (itself when it already is)."""
    size = _fit(image.size, C.PHOTO_MAX_SIDE)
    if size == image.size:
        return image
    if image.mode in ("P", "1"):  # palette images resize badly: widen them first
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.resize(size, Image.Resampling.LANCZOS)


# --- The set ----------------------------------------------------------------------------------


def _names(checks: Sequence[PhotoCheck]) -> str:
    labels = [check.label for check in checks]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _count_issue(count: int, tier: TrainingTier) -> PhotoIssue | None:
    low, high = TIER_PHOTOS[tier]
    if low <= count <= high:
        return None
    return PhotoIssue("error", "count",
                      f"{count} photo(s) given; training tier {tier.value!r} takes {low}..{high} "
                      "(fast: 5..10, standard: 10..50)")


def _exact_groups(outcomes: Sequence[_Outcome], photos: Sequence[object]) -> list[list[int]]:
    """Indexes of photos that are the same file (same bytes) or the same URL, by group."""
    groups: dict[object, list[int]] = {}
    for outcome in outcomes:
        check = outcome.check
        key: object = photos[check.index] if check.remote else outcome.digest
        if key is not None:
            groups.setdefault(key, []).append(check.index)
    return [group for group in groups.values() if len(group) > 1]


def _near_groups(outcomes: Sequence[_Outcome], skip: set[int]) -> list[list[int]]:
    """Photos whose perceptual hashes are close, joined into groups (union-find)."""
    hashed = [(o.check.index, o.dhash) for o in outcomes
              if o.dhash is not None and o.check.index not in skip]
    parent = {index: index for index, _ in hashed}

    def root(index: int) -> int:
        while parent[index] != index:
            index = parent[index]
        return index

    for pos, (a, hash_a) in enumerate(hashed):
        for b, hash_b in hashed[pos + 1:]:
            if (hash_a ^ hash_b).bit_count() <= C.PHOTO_NEAR_DUPLICATE_DISTANCE:
                parent[max(root(a), root(b))] = min(root(a), root(b))
    groups: dict[int, list[int]] = {}
    for index, _ in hashed:
        groups.setdefault(root(index), []).append(index)
    return [group for group in groups.values() if len(group) > 1]


def _set_issues(
    outcomes: Sequence[_Outcome], photos: Sequence[object], tier: TrainingTier
) -> tuple[PhotoIssue, ...]:
    checks = [o.check for o in outcomes]
    issues = [issue for issue in [_count_issue(len(outcomes), tier)] if issue]
    copies: set[int] = set()
    for group in _exact_groups(outcomes, photos):
        copies.update(group[1:])
        issues.append(PhotoIssue("error", "duplicate",
                                 f"{_names([checks[i] for i in group])} are the same photo; "
                                 "keep one", tuple(group)))
    for group in _near_groups(outcomes, copies):
        issues.append(PhotoIssue("warning", "near_duplicate",
                                 f"{_names([checks[i] for i in group])} look almost the same; "
                                 "varied photos train better", tuple(group)))
    return tuple(issues)


def _photo_list(photos: Sequence[ImageInput]) -> Sequence[ImageInput]:
    # A lone path or URL is a Sequence of characters: refuse it rather than check each letter.
    if isinstance(photos, str | bytes | bytearray | memoryview | os.PathLike) or not isinstance(
        photos, Sequence
    ):
        raise InvalidInputError("photos", "must be a list of photos",
                                allowed="a list of paths, bytes, binary files or http(s) URLs")
    return photos


async def _run(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str,
    prepare: bool,
    max_workers: int | None,
    limiter: anyio.CapacityLimiter | None,
) -> tuple[PhotoReport, list[PreparedPhoto]]:
    photos = _photo_list(photos)
    tier = enum_value(tier, TrainingTier, "tier")
    limiter = limiter or anyio.CapacityLimiter(max_workers or default_photo_workers())
    outcomes: list[_Outcome | None] = [None] * len(photos)

    async def one(index: int, photo: ImageInput) -> None:
        source = _source_name(photo)
        if isinstance(photo, str) and is_url(photo):
            outcomes[index] = _Outcome(
                PhotoCheck(index, source, remote=True),
                prepared=PreparedPhoto.from_url(index, photo) if prepare else None,
            )
            return
        outcomes[index] = await anyio.to_thread.run_sync(
            _examine, index, source, photo, prepare, limiter=limiter
        )

    async with anyio.create_task_group() as group:
        for index, photo in enumerate(photos):
            group.start_soon(one, index, photo)
    done = [outcome for outcome in outcomes if outcome is not None]
    report = PhotoReport(tier, tuple(o.check for o in done), _set_issues(done, photos, tier))
    return report, [o.prepared for o in done if o.prepared is not None]


async def check_photos(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str = TrainingTier.STANDARD,
    *,
    max_workers: int | None = None,
    limiter: anyio.CapacityLimiter | None = None,
) -> PhotoReport:
    """Check a training photo set for ``tier``; bad photos go into the report, never raise.

    Each local photo is read and decoded once in a worker thread, at most ``max_workers`` at a
    time (default :func:`default_photo_workers`), or under a ``limiter`` shared across calls.
    URLs are passed through unchecked. Raises :class:`InvalidInputError` only for a bad argument
    (a tier that does not exist, a lone photo instead of a list).
    """
    report, _ = await _run(photos, tier, False, max_workers, limiter)
    return report


async def prepare_photos(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str = TrainingTier.STANDARD,
    *,
    max_workers: int | None = None,
    limiter: anyio.CapacityLimiter | None = None,
) -> tuple[PhotoReport, list[PreparedPhoto]]:
    """Check and ready a photo set in one read and decode of each photo.

    Returns the report and, in input order, a :class:`PreparedPhoto` for each photo without an
    error of its own (set-level errors such as the count are only in the report): EXIF
    orientation applied, long side at most 4096 px, the original bytes when nothing changed,
    otherwise re-encoded in the same format (JPEG for HEIC). Call :func:`raise_for_report`
    before uploading anything.
    """
    return await _run(photos, tier, True, max_workers, limiter)
