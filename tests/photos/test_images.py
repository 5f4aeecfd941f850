"""Image inputs: formats recognised by content, and the wire form of each kind of input."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from phota_async import InvalidInputError
from phota_async._photos.inputs import encode_image, image_format, is_url, read_image


def pillow_image(fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(out, fmt)
    return out.getvalue()


def heic_header(brand: bytes = b"heic") -> bytes:
    """The start of an ISO-BMFF file: a ``ftyp`` box with a HEIF brand (enough to sniff)."""
    ftyp = b"ftyp" + brand + b"\x00\x00\x00\x00" + b"mif1" + brand
    return len(ftyp + b"\x00\x00\x00\x00").to_bytes(4, "big") + ftyp + b"\x00" * 64


JPEG = pillow_image("JPEG")
PNG = pillow_image("PNG")
WEBP = pillow_image("WEBP")
HEIC = heic_header()
IMAGES = {"jpeg": JPEG, "png": PNG, "webp": WEBP, "heic": HEIC}


# --- Formats


@pytest.mark.parametrize(("fmt", "data"), list(IMAGES.items()))
def test_image_format_recognises_real_files(fmt: str, data: bytes) -> None:
    assert image_format(data) == fmt


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"hevc", b"mif1", b"msf1"])
def test_heif_brands(brand: bytes) -> None:
    assert image_format(heic_header(brand)) == "heic"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n",
        pillow_image("GIF"),
        pillow_image("BMP"),
        pillow_image("TIFF"),
        b"%PDF-1.7\n",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",  # an MP4 video
        b"RIFF\x10\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        JPEG[:2],
    ],
)
def test_image_format_rejects_other_content(data: bytes) -> None:
    assert image_format(data) is None


# --- read_image


async def test_text_with_an_image_file_name_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "portrait.jpg"
    fake.write_text("not really a photo")
    with pytest.raises(InvalidInputError) as info:
        await read_image(fake, "images[2]")
    assert info.value.field == "images[2]"
    assert "not an image" in str(info.value)
    assert "JPEG" in str(info.value) and "HEIC" in str(info.value)


async def test_empty_bytes_are_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        await read_image(b"", "image")
    assert info.value.field == "image"


@pytest.mark.parametrize(("fmt", "data"), list(IMAGES.items()))
async def test_read_image_returns_the_exact_bytes(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = tmp_path / f"photo.{fmt}"
    path.write_bytes(data)
    assert await read_image(path, "image") == data
    assert await read_image(str(path), "image") == data
    assert await read_image(bytearray(data), "image") == data
    assert await read_image(memoryview(data), "image") == data


async def test_an_unsupported_input_type_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        await read_image(12345, "image")  # type: ignore[arg-type]
    assert info.value.field == "image"
    assert "int" in str(info.value)


# --- encode_image


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/a.jpg",
        "http://cdn.example.com/a.jpg?sig=abc&x=1",
        "HTTPS://CDN.EXAMPLE.COM/A.JPG",
    ],
)
async def test_urls_pass_unchanged(url: str) -> None:
    assert is_url(url)
    assert await encode_image(url, "image") == url


def _assert_plain_base64_of(encoded: str, data: bytes) -> None:
    assert not encoded.startswith("data:")
    assert "," not in encoded and "\n" not in encoded
    assert base64.b64decode(encoded, validate=True) == data


@pytest.mark.parametrize(("fmt", "data"), list(IMAGES.items()))
async def test_bytes_become_plain_base64(fmt: str, data: bytes) -> None:
    _assert_plain_base64_of(await encode_image(data, "image"), data)


@pytest.mark.parametrize(("fmt", "data"), list(IMAGES.items()))
async def test_paths_become_plain_base64(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = tmp_path / f"in.{fmt}"
    path.write_bytes(data)
    _assert_plain_base64_of(await encode_image(path, "image"), data)
    _assert_plain_base64_of(await encode_image(str(path), "image"), data)


async def test_binary_file_objects_become_plain_base64(tmp_path: Path) -> None:
    _assert_plain_base64_of(await encode_image(io.BytesIO(PNG), "image"), PNG)
    path = tmp_path / "in.webp"
    path.write_bytes(WEBP)
    with path.open("rb") as handle:
        _assert_plain_base64_of(await encode_image(handle, "image"), WEBP)


async def test_large_images_are_encoded_correctly() -> None:
    big = pillow_image("PNG") + os.urandom(600_000)  # past the thread threshold
    _assert_plain_base64_of(await encode_image(big, "image"), big)


async def test_a_text_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(InvalidInputError) as info:
        await encode_image(notes, "input_image")
    assert info.value.field == "input_image"


async def test_a_missing_path_is_refused_naming_the_field(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "photo.jpg"
    for value in (missing, str(missing)):
        with pytest.raises(InvalidInputError) as info:
            await encode_image(value, "images[0]")
        assert info.value.field == "images[0]"
        assert "photo.jpg" in str(info.value)


async def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        await encode_image(tmp_path, "image")
    assert info.value.field == "image"


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/png;base64," + base64.b64encode(PNG).decode(),
        "DATA:image/jpeg;base64," + base64.b64encode(JPEG).decode(),
    ],
)
async def test_data_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        await encode_image(uri, "reference_image")
    assert info.value.field == "reference_image"
    assert "data:" in str(info.value)
    assert "http" in (info.value.allowed or "")


async def test_a_text_mode_string_io_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        await encode_image(io.StringIO("some text"), "image")
    assert info.value.field == "image"
    assert "'rb'" in str(info.value)


async def test_a_text_mode_file_of_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("plain text")
    with path.open("r", encoding="utf-8") as handle, pytest.raises(InvalidInputError) as info:
        await encode_image(handle, "image")
    assert info.value.field == "image"
    assert "binary" in str(info.value)


async def test_a_real_photo_opened_in_text_mode_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(JPEG)
    with path.open("r", encoding="utf-8") as handle, pytest.raises(InvalidInputError) as info:
        await encode_image(handle, "images[0]")
    assert info.value.field == "images[0]"
