"""Pillow work: recognising input images, checking training photos, drawing the outputs.

All functions are synchronous and CPU-bound; callers run them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from typing import Literal

from PIL import Image, ImageDraw

ImageFormat = Literal["jpeg", "png", "webp", "heic"]

CONTENT_TYPES: Mapping[str, str] = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heic": "image/heic",
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}
_PILLOW_FORMATS: Mapping[str, str] = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
_OUTPUT_LONG_SIDE = 64
_ASPECT_SIZES: Mapping[str, tuple[int, int]] = {
    "auto": (64, 64),
    "1:1": (64, 64),
    "3:4": (48, 64),
    "4:3": (64, 48),
    "9:16": (36, 64),
    "16:9": (64, 36),
}
# A photo whose channels each span at most this many levels is one flat colour (JPEG noise aside).
_UNIFORM_SPAN = 6


def sniff(data: bytes) -> ImageFormat | None:
    """The format named by the file's magic number, if it is one the API accepts."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def decodes(data: bytes, fmt: ImageFormat) -> bool:
    """Whether Pillow can read the file. HEIC is taken on trust: Pillow needs a plugin for it."""
    if fmt == "heic":
        return True
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:
        return False
    return True


def is_uniform(data: bytes) -> bool:
    """True for a photo of one flat colour: no subject could be detected in it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            extrema = image.convert("RGB").getextrema()
    except Exception:
        return False  # unreadable here (HEIC without a plugin): give it the benefit of the doubt
    return all(high - low <= _UNIFORM_SPAN for low, high in extrema)  # type: ignore[misc]


def render_outputs(seed_text: str, count: int, fmt: str, aspect_ratio: str) -> list[bytes]:
    """`count` small, distinct, deterministic images for one request."""
    size = _ASPECT_SIZES.get(aspect_ratio, (_OUTPUT_LONG_SIDE, _OUTPUT_LONG_SIDE))
    return [_encode(_draw(f"{seed_text}|{index}", size), fmt) for index in range(count)]


def profile_picture(photo: bytes) -> bytes:
    """A JPEG thumbnail of the first training photo (a drawn stand-in if Pillow cannot read it)."""
    try:
        with Image.open(io.BytesIO(photo)) as image:
            thumb = image.convert("RGB")
            thumb.thumbnail((128, 128))
    except Exception:
        thumb = _draw("profile", (64, 64))
    return _encode(thumb, "jpeg")


def sample_photo(
    index: int = 0,
    *,
    fmt: Literal["jpeg", "png", "webp"] = "jpeg",
    size: int = 64,
    uniform: bool = False,
) -> bytes:
    """A small test photo: a 'subject' on a background, or one flat colour when `uniform`.

    Handy for training-photo fixtures: uniform photos make a training end in ERROR.
    """
    if uniform:
        colour = _colours(f"uniform|{index}")[0]
        return _encode(Image.new("RGB", (size, size), colour), fmt)
    return _encode(_draw(f"sample|{index}", (size, size)), fmt)


def _draw(seed_text: str, size: tuple[int, int]) -> Image.Image:
    background, subject = _colours(seed_text)
    image = Image.new("RGB", size, background)
    width, height = size
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 5, width * 3 // 4, height * 4 // 5), fill=subject
    )
    return image


def _colours(seed_text: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(seed_text.encode()).digest()
    background = (digest[0], digest[1], digest[2])
    # Half the range away on every channel, so subject and background always contrast.
    subject = ((digest[0] + 128) % 256, (digest[1] + 128) % 256, (digest[2] + 128) % 256)
    return background, subject


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=_PILLOW_FORMATS[fmt])
    return buffer.getvalue()
