"""Hostile local files given as photos (issue #10, item 6).

A FIFO, a link to ``/dev/zero``, a sparse gigabyte, an endless file object and a decompression
bomb, made in ``tmp_path``: each is refused before it is read or decoded (regular files only,
under a documented size cap, read in bounded chunks), as a clean :class:`InvalidInputError` for
image inputs and as an error in the report of ``profiles.check()``, which never raises.
"""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phota_async import AsyncPhota, InvalidInputError, PhotoReport
from phota_async import _constants as C
from phota_async._photos import examine as _photo_examine
from phota_async.emulator import PhotaEmulator
from tests.conftest import photo, training_photos

# Pillow warns about the bomb's size while its header is read; refusing it is this SDK's job.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

MB = 1024 * 1024
JPEG_START = photo(1)[:64]


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    return path


def zero_link(tmp_path: Path) -> Path:
    path = tmp_path / "zero.jpg"
    path.symlink_to("/dev/zero")
    return path


def sparse_gigabyte(tmp_path: Path) -> Path:
    """A "JPEG" of 1 GiB that takes no disk space: a real JPEG start, then a hole."""
    path = tmp_path / "huge.jpg"
    with path.open("wb") as out:
        out.write(JPEG_START)
        out.truncate(1024 * MB)
    return path


def png_bomb(width: int = 12_500, height: int = 12_000) -> bytes:
    """A valid 1-bit PNG of 150 MP in about 20 KB: decoded, it takes 150 MB or more. It stays
    under Pillow's own refusal (179 MP) and under PHOTO_MAX_PIXELS."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * ((width + 7) // 8 + 1) * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(
        b"IEND", b""
    )


class FailingFile(io.RawIOBase):
    """A binary file object whose reads fail, as on a network drive that went away."""

    name = "gone.jpg"

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise OSError(5, "Input/output error")


@pytest.fixture
def traced() -> Iterator[Any]:
    """The peak of Python allocations (bytes) since the test started."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def problems(report: PhotoReport) -> dict[int, str]:
    return {check.index: check.issues[0].code for check in report.photos if check.issues}


async def test_check_reports_every_hostile_photo_and_never_raises(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path, traced: Any,
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    hostile: list[Any] = [
        fifo(tmp_path), zero_link(tmp_path), sparse_gigabyte(tmp_path), bomb, FailingFile(),
        tmp_path, io.StringIO("text"),
    ]
    report = await phota.profiles.check([*hostile, *training_photos(5)], tier="standard")
    assert problems(report) == {
        0: "unreadable", 1: "unreadable", 2: "too_large", 3: "too_large", 4: "unreadable",
        5: "unreadable", 6: "unreadable",
    }
    messages = [check.issues[0].message for check in report.photos[:7]]
    assert "not a regular file (a FIFO)" in messages[0]
    assert "not a regular file (a character device)" in messages[1]
    assert f"{1024 * MB} bytes" in messages[2] and str(C.IMAGE_MAX_BYTES) in messages[2]
    assert "decompression bomb" in messages[3]
    assert "Input/output error" in messages[4]
    assert "not a regular file (a directory)" in messages[5]
    assert "binary mode" in messages[6]
    assert [check.status for check in report.photos[7:]] == ["ok"] * 5
    assert not report.ok and "photos[0] (pipe.jpg)" in report.summary()
    assert traced() < 32 * MB  # nothing was read whole
    assert emulator.requests == []


@pytest.mark.parametrize("make", [fifo, zero_link, sparse_gigabyte])
async def test_an_image_input_that_is_not_a_plain_file_is_refused_before_sending(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path, traced: Any, make: Any,
) -> None:
    path = make(tmp_path)
    with pytest.raises(InvalidInputError) as caught:
        await phota.edit("warmer", [photo(2), path])
    assert caught.value.field == "images[1]"
    assert path.name in str(caught.value)
    assert traced() < 32 * MB
    assert emulator.requests == []


async def test_an_endless_file_object_is_read_only_up_to_the_cap(
    phota: AsyncPhota, emulator: PhotaEmulator, traced: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cap = 8 * MB
    monkeypatch.setattr(C, "IMAGE_MAX_BYTES", cap)  # the default (100 MB) works the same
    with open("/dev/zero", "rb") as endless:  # noqa: ASYNC230 - opening a device is instant
        with pytest.raises(InvalidInputError, match="larger than") as caught:
            await phota.enhance(endless)
        report = await phota.profiles.check([endless, *training_photos(5)], tier="fast")
    assert caught.value.field == "image"
    assert problems(report) == {0: "too_large"}
    assert traced() < cap + 24 * MB
    assert emulator.requests == []


async def test_a_file_over_the_cap_is_refused_by_its_size(
    phota: AsyncPhota, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "IMAGE_MAX_BYTES", 4 * MB)
    big = tmp_path / "big.jpg"
    big.write_bytes(JPEG_START + b"\0" * (4 * MB))
    with pytest.raises(InvalidInputError, match="larger than"):
        await phota.enhance(big)
    with pytest.raises(InvalidInputError, match="larger than"):
        await phota.enhance(big.read_bytes())


@pytest.fixture(scope="module")
def large_real_photo() -> bytes:
    """A 16.8 MP noisy JPEG: it compresses like a real photo, far from the bomb ratio."""
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((4200, 4000), 60).convert("RGB").save(out, "JPEG", quality=70)
    return out.getvalue()


@pytest.mark.parametrize("prepare", [False, True])
async def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    phota: AsyncPhota, emulator: PhotaEmulator, large_real_photo: bytes, prepare: bool
) -> None:
    bomb = png_bomb()
    assert len(bomb) < 64 * 1024
    photos = [bomb, large_real_photo, *training_photos(8)]
    if prepare:
        with pytest.raises(InvalidInputError) as caught:
            await phota.profiles.create(photos)
        report = caught.value.report
    else:
        report = await phota.profiles.check(photos)
    assert problems(report) == {0: "too_large"}  # and the large real photo is fine
    assert "12500x12000 px" in report.photos[0].issues[0].message
    assert emulator.requests == []


async def test_a_photo_that_breaks_the_decoder_is_reported_not_raised(
    phota: AsyncPhota, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Private seam: whatever fails while examining one photo (here Pillow running out of
    memory) becomes that photo's error; the check of the set still returns its report."""
    real = _photo_examine.decode

    def decode(data: bytes, fmt: str, side: int) -> Any:
        if data == bad:
            raise MemoryError
        return real(data, fmt, side)

    bad = photo(7, size=1100)
    monkeypatch.setattr(_photo_examine, "decode", decode)
    report = await phota.profiles.check([bad, *training_photos(9)])
    assert problems(report) == {0: "corrupt"}
    assert "MemoryError" in report.photos[0].issues[0].message
