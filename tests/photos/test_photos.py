"""Pre-flight checks and preparation of profile photos, on real image files made with Pillow."""

from __future__ import annotations

import functools
import io
import json
import random
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from phota_async import _constants as C
from phota_async._exceptions import InvalidInputError
from phota_async._photos import checks as _photos
from phota_async._photos import examine as _photo_examine
from phota_async._photos import pillow as _photo_pillow
from phota_async._photos.checks import check_photos, prepare_photos
from phota_async._photos.report import PhotoReport, raise_for_report
from phota_async._wire.enums import TrainingTier

ORIENTATION = 0x0112
RED, BLUE = (230, 20, 20), (20, 20, 230)


# --- Making photos ------------------------------------------------------------------------------


def picture(seed: int, size: tuple[int, int] = (1200, 1100)) -> Image.Image:
    """A photo-like image: a random colour field, smoothly upscaled (distinct per seed)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 6))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(48)])
    return small.resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def good_set(tmp_path: Path, count: int, first_seed: int = 100) -> list[Path]:
    """``count`` distinct, healthy photos in turn JPEG, PNG and WebP."""
    formats = [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")]
    paths = []
    for i in range(count):
        fmt, ext = formats[i % 3]
        paths.append(write(tmp_path, f"good-{i}{ext}", _good_bytes(first_seed + i, fmt)))
    return paths


@functools.cache
def _good_bytes(seed: int, fmt: str) -> bytes:
    return encode(picture(seed), fmt)


def urls(count: int) -> list[str]:
    return [f"https://cdn.example.com/u/photo-{i}.jpg" for i in range(count)]


def codes(report: PhotoReport) -> list[str]:
    return [issue.code for issue in report.all_issues]


# --- A healthy set ----------------------------------------------------------------------------


async def test_healthy_set_of_every_format_passes_and_keeps_the_bytes(tmp_path: Path) -> None:
    paths = good_set(tmp_path, 10)
    report, prepared = await prepare_photos(paths, "standard")
    assert report.ok and report.all_issues == ()
    assert [p.format for p in report.photos] == ["jpeg", "png", "webp"] * 3 + ["jpeg"]
    assert {(p.width, p.height, p.status) for p in report.photos} == {(1200, 1100, "ok")}
    assert report.summary() == "10 photo(s) for training tier 'standard': no problems found"
    # Nothing needed changing: the original files go up untouched, named by their content.
    assert [p.data for p in prepared] == [path.read_bytes() for path in paths]
    assert [p.content_type for p in prepared][:3] == ["image/jpeg", "image/png", "image/webp"]
    assert [p.filename for p in prepared][:3] == ["good-0.jpg", "good-1.png", "good-2.webp"]
    assert [p.index for p in prepared] == list(range(10))


async def test_bytes_and_file_objects_are_named_for_the_user(tmp_path: Path) -> None:
    data = encode(picture(1))
    path = write(tmp_path, "me at the beach.jpg", encode(picture(2)))
    with path.open("rb") as handle:
        report, prepared = await prepare_photos([data, handle], "fast")
    assert [p.source for p in report.photos] == ["bytes", "me at the beach.jpg"]
    assert [p.filename for p in prepared] == ["photo-0.jpg", "me_at_the_beach.jpg"]


# --- Formats by content -----------------------------------------------------------------------


async def test_format_is_read_from_the_content_not_the_name(tmp_path: Path) -> None:
    path = write(tmp_path, "actually-a-png.jpg", encode(picture(3), "PNG"))
    report, prepared = await prepare_photos([path], "fast")
    assert report.photos[0].format == "png"
    assert (prepared[0].content_type, prepared[0].filename) == ("image/png", "actually-a-png.png")


async def test_not_an_image_with_an_image_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "selfie.jpg", b"<html>this is not a photo</html>")
    report = await check_photos([*good_set(tmp_path, 5), path], "fast")
    photo = report.photos[5]
    assert (photo.status, photo.format, photo.issues[0].code) == ("error", None, "not_an_image")
    assert not report.ok
    assert "- error: photos[5] (selfie.jpg): is not a JPEG, PNG, WebP or HEIC" in report.summary()


@pytest.mark.parametrize("prepare", [False, True])
async def test_truncated_jpeg_is_corrupt(tmp_path: Path, prepare: bool) -> None:
    data = encode(picture(4, (1600, 1200)), quality=90)
    path = write(tmp_path, "cut.jpg", data[: len(data) * 2 // 3])
    if prepare:
        report, prepared = await prepare_photos([path], "fast")
        assert prepared == []  # nothing is readied from a broken photo
    else:
        report = await check_photos([path], "fast")
    issue = report.photos[0].issues[0]
    assert (issue.level, issue.code) == ("error", "corrupt")
    assert "truncated" in issue.message
    assert "photos[0] (cut.jpg): cannot be decoded as JPEG" in report.summary()


async def test_empty_and_missing_files_are_reported_not_raised(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.jpg", b"")
    report = await check_photos([empty, tmp_path / "nowhere.jpg", 42], "fast")  # type: ignore[list-item]
    assert [p.issues[0].code for p in report.photos] == ["empty", "unreadable", "unreadable"]
    assert "No such file" in report.photos[1].issues[0].message


async def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # A PNG that claims 30000x20000 pixels in a few bytes: only its header is ever read.
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", 30000, 20000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")
    report = await check_photos([bomb], "fast")
    assert report.photos[0].issues[0].code == "too_large"


async def test_our_own_pixel_limit_applies_whatever_pillow_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(C, "PHOTO_MAX_PIXELS", 1000 * 1000)
    report = await check_photos([encode(picture(5, (1100, 1000)))], "fast")
    assert report.photos[0].issues[0].code == "too_large"
    assert "1100x1000 px" in report.photos[0].issues[0].message


# --- HEIC -------------------------------------------------------------------------------------


def _heic_bytes() -> bytes:
    # The ftyp box of a HEIC file: enough to be recognised as one by content.
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 64


async def test_heic_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_photo_pillow, "_heif_ready", False)
    report = await check_photos([_heic_bytes()], "fast")
    issue = report.photos[0].issues[0]
    assert (report.photos[0].format, issue.code) == ("heic", "heic_unsupported")
    assert "pip install 'phota-async[heic]'" in report.summary()


async def test_heic_is_checked_and_turned_into_jpeg(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip(
        "pillow_heif", reason="HEIC support is the optional extra phota-async[heic]"
    )
    pillow_heif.register_heif_opener()
    path = write(tmp_path, "IMG_0001.HEIC", encode(picture(6, (1300, 1100)), "HEIF", quality=90))
    report, prepared = await prepare_photos([path], "fast")
    assert report.photos[0].format == "heic"
    assert (report.photos[0].width, report.photos[0].height) == (1300, 1100)
    photo = prepared[0]
    assert (photo.content_type, photo.filename) == ("image/jpeg", "IMG_0001.jpg")
    with Image.open(io.BytesIO(photo.data)) as image:
        assert (image.format, image.size) == ("JPEG", (1300, 1100))


# --- Sizes and orientation --------------------------------------------------------------------


async def test_tiny_photo_is_an_error_and_small_one_a_warning(tmp_path: Path) -> None:
    tiny = write(tmp_path, "tiny.jpg", encode(picture(7, (300, 200))))
    small = write(tmp_path, "small.png", encode(picture(8, (800, 1200)), "PNG"))
    report = await check_photos([tiny, small, *good_set(tmp_path, 3)], "fast")
    assert [p.status for p in report.photos] == ["error", "warning", "ok", "ok", "ok"]
    assert [i.code for i in report.errors] == ["too_small"]
    assert [i.code for i in report.warnings] == ["low_resolution"]
    summary = report.summary()
    assert "error: photos[0] (tiny.jpg): too small: 300x200 px" in summary
    assert "warning: photos[1] (small.png): low resolution: 800x1200 px" in summary


def _marked(size: tuple[int, int]) -> Image.Image:
    """Blue, with a red square in the stored top-left corner (to see where it ends up)."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, 200, 200))
    return image


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(3, "bottom-right"), (6, "top-right"), (8, "bottom-left")],
)
async def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, corner: str) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = write(tmp_path, "turned.jpg", encode(_marked((1600, 1200)), exif=exif, quality=95))
    report, prepared = await prepare_photos([path], "fast")
    turned = orientation in (6, 8)
    expected = (1200, 1600) if turned else (1600, 1200)
    assert (report.photos[0].width, report.photos[0].height) == expected
    assert (prepared[0].width, prepared[0].height) == expected
    with Image.open(io.BytesIO(prepared[0].data)) as image:
        assert image.size == expected
        assert image.getexif().get(ORIENTATION, 1) == 1  # never turned twice by a viewer
        width, height = image.size
        x = 50 if "left" in corner else width - 50
        y = 50 if "top" in corner else height - 50
        red, _, blue = image.convert("RGB").getpixel((x, y))  # type: ignore[misc]
        assert red > 180 and blue < 80, f"the marker is not {corner}"


async def test_oversize_photos_are_scaled_down_in_their_own_format(tmp_path: Path) -> None:
    big_jpeg = write(tmp_path, "big.jpg", encode(picture(9, (5000, 3000)), quality=90))
    wide_png = write(tmp_path, "wide.png", encode(picture(10, (4300, 1300)), "PNG",
                                                  compress_level=1))
    report, prepared = await prepare_photos([big_jpeg, wide_png], "fast")
    # The report gives the photos as they are; the prepared ones are what goes up.
    assert [(p.width, p.height) for p in report.photos] == [(5000, 3000), (4300, 1300)]
    assert [(p.width, p.height) for p in prepared] == [(4096, 2458), (4096, 1238)]
    for photo, fmt in zip(prepared, ["JPEG", "PNG"], strict=True):
        with Image.open(io.BytesIO(photo.data)) as image:
            assert (image.format, image.size) == (fmt, (photo.width, photo.height))
    assert len(prepared[0].data) < big_jpeg.stat().st_size


# --- Duplicates -------------------------------------------------------------------------------


async def test_exact_duplicates_are_an_error_naming_both(tmp_path: Path) -> None:
    paths = good_set(tmp_path, 5)
    copy = write(tmp_path, "copy.jpg", paths[0].read_bytes())
    report = await check_photos([*paths, copy], "fast")
    [issue] = report.issues
    assert (issue.level, issue.code, issue.indexes) == ("error", "duplicate", (0, 5))
    assert "photos[0] (good-0.jpg) and photos[5] (copy.jpg) are the same photo" in issue.message
    assert not report.ok


async def test_near_duplicates_are_a_warning(tmp_path: Path) -> None:
    original = picture(11, (1400, 1200))
    paths = [
        write(tmp_path, "a.jpg", encode(original, quality=95)),
        write(tmp_path, "b.jpg", encode(original, quality=55)),  # re-encoded
        write(tmp_path, "c.png", encode(original.resize((1330, 1140)), "PNG")),  # slightly smaller
        *good_set(tmp_path, 4, first_seed=200),
    ]
    report = await check_photos(paths, "fast")
    assert report.ok
    [issue] = report.issues
    assert (issue.level, issue.code, issue.indexes) == ("warning", "near_duplicate", (0, 1, 2))
    assert "photos[0] (a.jpg), photos[1] (b.jpg) and photos[2] (c.png) look almost" in (
        report.summary()
    )


async def test_near_duplicate_hashes_are_close_only_for_the_same_picture() -> None:
    original = picture(12)
    same = _photo_pillow.dhash(Image.open(io.BytesIO(encode(original, quality=40))))
    assert (_photo_pillow.dhash(original) ^ same).bit_count() <= 3
    distances = [(_photo_pillow.dhash(picture(12)) ^ _photo_pillow.dhash(picture(seed))).bit_count()
                 for seed in range(300, 320)]
    assert min(distances) > C.PHOTO_NEAR_DUPLICATE_DISTANCE


# --- Counts and URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "count", "ok"),
    [("fast", 4, False), ("fast", 5, True), ("fast", 10, True), ("fast", 11, False),
     ("standard", 9, False), ("standard", 10, True), ("standard", 50, True),
     ("standard", 51, False)],
)
async def test_photo_count_per_tier(tier: str, count: int, ok: bool) -> None:
    report = await check_photos(urls(count), tier)
    assert report.ok is ok
    assert report.tier is TrainingTier(tier)
    if not ok:
        assert codes(report) == ["count"]
        assert f"got {count} photo(s); training tier {tier!r} takes" in report.summary()


async def test_urls_pass_through_unchecked_and_their_secrets_stay_hidden(tmp_path: Path) -> None:
    signed = "https://bucket.example.com/u/me.jpg?X-Amz-Signature=deadbeef&X-Amz-Expires=7200"
    local = good_set(tmp_path, 4)
    report, prepared = await prepare_photos([signed, *local], "fast")
    assert report.ok
    assert report.photos[0].remote and report.photos[0].status == "ok"
    assert report.photos[0].source == "https://bucket.example.com/u/me.jpg?…"
    assert prepared[0].url == signed and prepared[0].data == b""
    text = repr(prepared[0]) + report.summary() + json.dumps(report.to_dict())
    assert "deadbeef" not in text


async def test_the_same_url_twice_is_a_duplicate() -> None:
    report = await check_photos([*urls(5), urls(5)[2]], "fast")
    assert [(i.code, i.indexes) for i in report.issues] == [("duplicate", (2, 5))]


# --- The report as a whole --------------------------------------------------------------------


async def test_report_to_dict_is_json_and_raise_for_report_carries_it(tmp_path: Path) -> None:
    tiny = write(tmp_path, "tiny.webp", encode(picture(13, (120, 120)), "WEBP"))
    report = await check_photos([tiny, *urls(3)], "fast")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["tier"] == "fast"
    assert data["issues"][0]["code"] == "count"
    assert data["photos"][0]["status"] == "error"
    assert data["photos"][0]["issues"][0] == {
        "level": "error", "code": "too_small", "indexes": [0],
        "message": "too small: 120x120 px; the short side must be at least 256 px",
    }
    with pytest.raises(InvalidInputError) as caught:
        raise_for_report(report)
    assert caught.value.field == "photos" and caught.value.report is report
    assert "photos[0] (tiny.webp): too small" in str(caught.value)
    raise_for_report(await check_photos(urls(5), "fast"))  # fine: no error


async def test_bad_arguments_raise_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="must be a list of photos"):
        await check_photos(str(tmp_path / "one.jpg"), "fast")  # a str is a Sequence, too
    with pytest.raises(InvalidInputError, match="tier"):
        await check_photos(urls(5), "turbo")


# --- Never stalling the event loop ------------------------------------------------------------


async def test_workers_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock, running, peak = threading.Lock(), [0], [0]
    examine = _photo_examine.examine

    def counting(*args: object) -> object:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.02)
            return examine(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(_photos, "examine", counting)
    await prepare_photos(good_set(tmp_path, 8), "fast", max_workers=3)
    assert peak[0] == 3


@pytest.fixture(scope="module")
def large_photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six distinct 17.5 MP JPEGs with realistic (noisy) content."""
    folder = tmp_path_factory.mktemp("large")
    noise = Image.effect_noise((5000, 3500), 40)
    base = Image.merge("RGB", (noise, picture(14, (5000, 3500)).convert("L"), noise))
    return [write(folder, f"large-{i}.jpg", encode(base, quality=80 + i)) for i in range(6)]


async def test_preparing_large_photos_never_runs_on_the_loop(
    large_photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each photo is hundreds of milliseconds of Pillow work: it must all happen in worker
    threads. (How long the loop waits meanwhile is a figure: benchmarks/uploads.py.)"""
    loop_thread, threads = threading.get_ident(), []
    examine = _photo_examine.examine

    def recording(*args: object) -> object:
        threads.append(threading.get_ident())
        return examine(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_photos, "examine", recording)
    _, prepared = await prepare_photos(large_photos, "fast", max_workers=2)
    assert [(p.width, p.height) for p in prepared] == [(4096, 2867)] * 6
    assert len(threads) == 6 and loop_thread not in threads
