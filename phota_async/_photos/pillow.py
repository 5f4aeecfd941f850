"""The Pillow work on one photo, run in a worker thread: a guarded :func:`decode` (only the
plugin of the format read from the content, our own pixel limit, a reduced JPEG draft when a
smaller image will do, HEIC through the optional pillow-heif, registered once), :func:`fitted` to
bring the long side down to 4096 px, :func:`dhash` for near-duplicate warnings, and :func:`encode`,
which keeps the colour profile and EXIF. These functions take bytes or an image and know nothing
of reports or uploads, so the blocking, format-specific code stays apart from the examination that
calls it (:mod:`.examine`). A photo that cannot be used raises :class:`Refused`, which
never leaves the photo check.
"""

from __future__ import annotations

import importlib
import io
import threading
from typing import Any

from PIL import Image

from .. import _constants as C
from .inputs import Refused

__all__ = ["Refused", "decode", "dhash", "encode", "fitted"]

# Pillow plugins allowed per detected format: a file is never parsed as anything else.
_PILLOW_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "webp": ["WEBP"], "heic": ["HEIF"]}
_HEIC_EXTRA = "pip install 'phota-async[heic]'"


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


def _check_pixels(size: tuple[int, int], file_size: int) -> None:
    """Refuse, from the header alone, what would take too much memory to decode: more pixels
    than any real photo, or a decompression bomb (a large image in a suspiciously small file)."""
    pixels = size[0] * size[1]
    if pixels > C.PHOTO_MAX_PIXELS:
        raise Refused("too_large", f"{size[0]}x{size[1]} px is too many pixels to decode")
    if pixels > C.PHOTO_BOMB_MIN_PIXELS and pixels > file_size * C.PHOTO_MAX_PIXELS_PER_BYTE:
        raise Refused("too_large", f"{size[0]}x{size[1]} px in a file of {file_size} bytes: "
                                   "refused as a decompression bomb")


def decode(data: bytes, fmt: str, decode_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded photo (a JPEG at a reduced DCT scale when ``decode_side`` allows: faster and
    smaller, and still every byte is decoded) and its full stored size."""
    if fmt == "heic" and not _heif_available():
        raise Refused("heic_unsupported",
                       f"HEIC/HEIF photos need the optional extra: {_HEIC_EXTRA}")
    try:
        with _open(data, fmt) as probe:
            size = probe.size
            _check_pixels(size, len(data))
            probe.verify()
        image = _open(data, fmt)  # verify() leaves an image unusable: open it again
        if fmt == "jpeg":
            image.draft(None, _fit(size, decode_side))
        image.load()
    except Image.DecompressionBombError as exc:
        raise Refused("too_large", f"too many pixels to decode safely ({exc})") from None
    except Refused:
        raise
    except Exception as exc:
        # Pillow reports damage as OSError, SyntaxError, ValueError, EOFError, struct.error...:
        # whatever it is, the photo cannot be used.
        raise Refused("corrupt", f"cannot be decoded as {fmt.upper()}: {exc}") from None
    return image, size


def dhash(image: Image.Image) -> int:
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


def encode(image: Image.Image, fmt: str) -> bytes:
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


def fitted(image: Image.Image) -> Image.Image:
    """``image`` with its long side at most ``PHOTO_MAX_SIDE`` (itself when it already is)."""
    size = _fit(image.size, C.PHOTO_MAX_SIDE)
    if size == image.size:
        return image
    if image.mode in ("P", "1"):  # palette images resize badly: widen them first
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.resize(size, Image.Resampling.LANCZOS)
