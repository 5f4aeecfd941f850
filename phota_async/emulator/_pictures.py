"""Pillow work: recognising input images, checking training photos, drawing the outputs.

All functions are synchronous and CPU-bound; callers run them in a thread (`asyncio.to_thread`).

An output is drawn to be recognisable at a glance in a contact sheet: a backdrop whose colours
come from the prompt's words (the *style*: the same for every person), the named profiles'
pictures (the *person*: the same in every style), the profile's tag and the prompt drawn in.
Backdrops and portraits are cached, so that a load test's thousands of outputs stay cheap.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from PIL import Image, ImageDraw, ImageFont, ImageOps

ImageFormat = Literal["jpeg", "png", "webp", "heic"]
Colour = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

CONTENT_TYPES: Mapping[str, str] = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heic": "image/heic",
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}
_PILLOW_FORMATS: Mapping[str, str] = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
# Outputs are this many pixels on their long side: big enough to look at, cheap to draw.
_OUTPUT_LONG_SIDE = 512
_ASPECT_RATIOS: Mapping[str, tuple[int, int]] = {
    "auto": (1, 1),
    "1:1": (1, 1),
    "3:4": (3, 4),
    "4:3": (4, 3),
    "9:16": (9, 16),
    "16:9": (16, 9),
}
_PROFILE_PICTURE_SIDE = 256
# A photo whose channels each span at most this many levels is one flat colour (JPEG noise aside).
_UNIFORM_SPAN = 6
_PROFILE_REF = re.compile(r"\[\[[^\[\]]*\]\]")
_CACHE_SIZE = 128


class Subject(NamedTuple):
    """A profile named in a request, as the outputs show it."""

    profile_id: str
    label: str  # the profile's tag, else its id
    picture: bytes  # the profile picture (JPEG)


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


def render_outputs(
    seed_text: str,
    count: int,
    fmt: str,
    aspect_ratio: str,
    *,
    caption: str | None = None,
    subjects: Sequence[Subject] = (),
) -> list[bytes]:
    """`count` distinct, deterministic images for one request, 512 px on the long side.

    `caption` (the prompt) sets the backdrop's colours and is drawn in; `subjects` (the named
    profiles) are drawn as portraits, labelled with their tags. `seed_text` varies the rest.
    """
    size = _output_size(aspect_ratio)
    text = caption if caption is not None else seed_text
    style = _style_words(text)
    shown = _captioned(text, subjects)
    return [
        _encode(_draw_output(style, shown, subjects, size, index, count, seed_text), fmt)
        for index in range(count)
    ]


@functools.lru_cache(maxsize=8)
def plain_output(fmt: str) -> bytes:
    """One small plain output picture in ``fmt`` (the emulator's ``plain_outputs`` mode)."""
    return _encode(Image.new("RGB", (64, 64), (90, 120, 150)), fmt)


def profile_picture(photo: bytes) -> bytes:
    """A JPEG thumbnail of the first training photo (a drawn stand-in if Pillow cannot read it)."""
    try:
        with Image.open(io.BytesIO(photo)) as image:
            thumb = ImageOps.exif_transpose(image).convert("RGB")
            thumb.thumbnail((_PROFILE_PICTURE_SIDE, _PROFILE_PICTURE_SIDE))
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


# --- Outputs ----------------------------------------------------------------------------------


def _output_size(aspect_ratio: str) -> tuple[int, int]:
    across, down = _ASPECT_RATIOS.get(aspect_ratio, (1, 1))
    scale = _OUTPUT_LONG_SIDE / max(across, down)
    return round(across * scale), round(down * scale)


def _style_words(text: str) -> str:
    """The prompt without its profile references: what makes a style, whoever is in it."""
    return " ".join(_PROFILE_REF.sub(" ", text).split()) or "untitled"


def _captioned(text: str, subjects: Sequence[Subject]) -> str:
    """The prompt as drawn: each ``[[profile_id]]`` replaced by that profile's label."""
    labels = {subject.profile_id: subject.label for subject in subjects}

    def label(match: re.Match[str]) -> str:
        return labels.get(match.group(0)[2:-2].strip(), "someone")

    return " ".join(_PROFILE_REF.sub(label, text).split()) or "untitled"


def _draw_output(
    style: str,
    caption: str,
    subjects: Sequence[Subject],
    size: tuple[int, int],
    index: int,
    count: int,
    seed_text: str,
) -> Image.Image:
    image = _backdrop(style, size).copy()
    draw = ImageDraw.Draw(image)
    width, height = size
    shift = _colours(f"{seed_text}|{index}")[0][0] % 41 - 20  # each output a little different
    if subjects:
        _draw_people(image, subjects[:3], shift, ring=_mix(_colours(f"style|{style}")[1],
                                                           (255, 255, 255), 0.6))
    else:
        background, subject = _colours(f"{seed_text}|{index}")
        draw.ellipse(
            (width // 4 + shift, height // 5, width * 3 // 4 + shift, height * 3 // 4),
            fill=subject, outline=background, width=max(2, width // 64),
        )
    _draw_caption(draw, caption, size)
    labels = " + ".join(subject.label for subject in subjects[:3])
    if labels:
        _draw_tag(draw, labels, (12, 12), _font(max(14, width // 22)))
    _draw_tag(draw, f"{index + 1}/{count}", (width - 12, 12), _font(max(12, width // 30)),
              anchor_right=True)
    return image


def _draw_people(
    image: Image.Image, subjects: Sequence[Subject], shift: int, *, ring: Colour
) -> None:
    width, height = image.size
    side = int(min(width, height) * (0.56 if len(subjects) == 1 else 0.9 / len(subjects)))
    gap = width // (len(subjects) + 1)
    for number, subject in enumerate(subjects, 1):
        portrait, mask = _portrait(subject.picture, side)
        left = gap * number - side // 2 + shift
        top = int(height * 0.40) - side // 2
        ImageDraw.Draw(image).ellipse(
            (left - 6, top - 6, left + side + 6, top + side + 6), fill=ring
        )
        image.paste(portrait, (left, top), mask)


def _draw_caption(draw: ImageDraw.ImageDraw, caption: str, size: tuple[int, int]) -> None:
    width, height = size
    font = _font(max(14, width // 24))
    line_height = font.getbbox("Ag")[3] + 6
    lines = _wrap(caption, font, width - 28)[:3]
    band_top = height - line_height * len(lines) - 24
    draw.rectangle((0, band_top, width, height), fill=(20, 20, 24))
    for number, line in enumerate(lines):
        draw.text((14, band_top + 12 + number * line_height), line, fill=(245, 245, 245),
                  font=font)


def _wrap(text: str, font: Font, room: int) -> list[str]:
    """Greedy word wrap to ``room`` pixels."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _draw_tag(
    draw: ImageDraw.ImageDraw, text: str, at: tuple[int, int], font: Font,
    *, anchor_right: bool = False,
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    box_width, box_height = right - left + 16, bottom - top + 10
    x = at[0] - box_width if anchor_right else at[0]
    draw.rounded_rectangle((x, at[1], x + box_width, at[1] + box_height), radius=8,
                           fill=(255, 255, 255))
    draw.text((x + 8 - left, at[1] + 5 - top), text, fill=(20, 20, 24), font=font)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _backdrop(style: str, size: tuple[int, int]) -> Image.Image:
    """A vertical gradient in the style's two colours (shared by every output of the style)."""
    top, bottom = _colours(f"style|{style}")
    # Coloured as one column of pixels, then stretched: cheap at any size.
    coloured = ImageOps.colorize(_ramp(), black=top, white=_mix(bottom, top, 0.35))
    return coloured.resize(size, Image.Resampling.NEAREST)


@functools.cache
def _ramp() -> Image.Image:
    """A column of the 256 grey levels, top to bottom."""
    return Image.linear_gradient("L").resize((1, 256))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _portrait(picture: bytes, side: int) -> tuple[Image.Image, Image.Image]:
    """The profile picture cropped square and scaled, with a round mask."""
    try:
        with Image.open(io.BytesIO(picture)) as opened:
            face = ImageOps.fit(opened.convert("RGB"), (side, side))
    except Exception:
        face = _draw(hashlib.sha256(picture).hexdigest(), (side, side))
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
    return face, mask


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _mix(first: Colour, second: Colour, share: float) -> Colour:
    r, g, b = (round(a * (1 - share) + b * share) for a, b in zip(first, second, strict=True))
    return r, g, b


# --- Shared drawing ---------------------------------------------------------------------------


def _draw(seed_text: str, size: tuple[int, int]) -> Image.Image:
    background, subject = _colours(seed_text)
    image = Image.new("RGB", size, background)
    width, height = size
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 5, width * 3 // 4, height * 4 // 5), fill=subject
    )
    return image


def _colours(seed_text: str) -> tuple[Colour, Colour]:
    digest = hashlib.sha256(seed_text.encode()).digest()
    background = (digest[0], digest[1], digest[2])
    # Half the range away on every channel, so subject and background always contrast.
    subject = ((digest[0] + 128) % 256, (digest[1] + 128) % 256, (digest[2] + 128) % 256)
    return background, subject


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=_PILLOW_FORMATS[fmt])
    return buffer.getvalue()
