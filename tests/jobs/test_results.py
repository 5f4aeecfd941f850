"""Image results against the emulator: saving and reading URLs and inline bytes, file
extensions, downloads without the API key, and recognised subjects."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from phota_async import AsyncPhota, ProfileStatus
from phota_async.emulator import PhotaEmulator, RecordedRequest
from tests.conftest import TIME_SCALE, make_client, photo, training_photos


def downloads(emu: PhotaEmulator) -> list[RecordedRequest]:
    """Every request the emulator received for a result file (outside the API)."""
    return [r for r in emu.requests if r.path.startswith("/files/")]


def assert_no_key(emu: PhotaEmulator) -> None:
    for request in downloads(emu):
        assert "x-api-key" not in request.headers
        assert emu.api_key not in " ".join(request.headers.values())
        assert emu.api_key not in request.path and emu.api_key not in str(request.query)


@pytest.mark.parametrize(("output_format", "suffix", "pillow"), [
    ("png", ".png", "PNG"),
    ("jpg", ".jpg", "JPEG"),
])
async def test_save_writes_each_url_with_the_right_extension(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path,
    output_format: str, suffix: str, pillow: str,
) -> None:
    job = await phota.generate("a red door", num_output_images=3, output_format=output_format)
    result = await job
    assert len(result.download_urls) == 3 and result.images == []
    paths = await result.save(tmp_path / "out" / "nested")  # created as needed
    assert [p.suffix for p in paths] == [suffix] * 3
    assert all(p.parent == tmp_path / "out" / "nested" and p.is_file() for p in paths)
    for path in paths:
        with Image.open(path) as image:
            assert image.format == pillow
            image.verify()
    assert len({p.name for p in paths}) == 3 and all(str(job.id) in p.name for p in paths)
    leftovers = [p for p in paths[0].parent.iterdir() if p not in paths]
    assert leftovers == []  # no partial files

    data = await result.read()
    assert [p.read_bytes() for p in paths] == data  # the paths come in output order
    assert len(set(data)) == 3  # three distinct images
    assert len(downloads(emulator)) == 6
    assert_no_key(emulator)


async def test_read_returns_the_bytes_of_every_output(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    result = await (await phota.edit("warmer", [photo(1)], num_output_images=2))
    data = await result.read()
    assert isinstance(data, list) and len(data) == 2
    assert all(isinstance(d, bytes) and Image.open(io.BytesIO(d)).format == "JPEG" for d in data)
    assert await result.read() == data  # the URLs stay valid: reading twice is the same
    assert len(downloads(emulator)) == 4
    assert_no_key(emulator)


async def test_no_download_of_many_files_carries_the_key(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    jobs = [await phota.generate(f"crowd {i}", num_output_images=4) for i in range(5)]
    for i, job in enumerate(jobs):
        await (await job).save(tmp_path / str(i), stem=f"img{i}")
    assert len(downloads(emulator)) == 20
    assert_no_key(emulator)
    # while the API requests of the same client all did carry it
    api = emulator.api_requests("*")
    assert api and all(r.headers.get("x-api-key") == emulator.api_key for r in api)
    assert sorted(p.name for p in (tmp_path / "3").iterdir()) == [
        f"img3-{i}.jpg" for i in range(4)
    ]


async def test_a_sync_result_of_bytes_saves_too(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    job = await phota.generate("right now", mode="sync", output_format="png", num_output_images=2)
    result = await job
    assert len(result.images) == 2 and result.download_urls == []
    paths = await result.save(tmp_path)
    assert [p.suffix for p in paths] == [".png", ".png"]
    assert [p.read_bytes() for p in paths] == result.images
    assert all(Image.open(p).format == "PNG" for p in paths)
    assert await result.read() == result.images
    assert downloads(emulator) == []


async def test_an_async_job_can_answer_with_bytes(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    job = await phota.enhance(photo(2), response_mode="bytes", output_format="jpg")
    result = await job
    assert len(result.images) == 1 and result.download_urls == []
    (path,) = await result.save(tmp_path)
    assert path.suffix == ".jpg" and path.read_bytes() == result.images[0]
    assert downloads(emulator) == []


async def test_the_stem_names_the_files(
    phota: AsyncPhota, tmp_path: Path
) -> None:
    result = await (await phota.generate("twice", num_output_images=2))
    first = await result.save(tmp_path, stem="a")
    second = await result.save(tmp_path, stem="b")
    assert [p.name for p in first] == ["a-0.jpg", "a-1.jpg"]
    assert [p.name for p in second] == ["b-0.jpg", "b-1.jpg"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.fixture
async def quick_training() -> AsyncIterator[PhotaEmulator]:
    async with PhotaEmulator(time_scale=TIME_SCALE, training_seconds=120.0) as emu:
        yield emu


async def test_known_subjects_count_a_ready_profile_named_in_the_prompt(
    quick_training: PhotaEmulator,
) -> None:
    async with make_client(quick_training) as phota:
        profile = await (await phota.profiles.create(training_photos(10))).result(timeout=3.0)
        assert profile.status == ProfileStatus.READY
        pid = profile.profile_id
        named = await (await phota.generate(f"Studio headshot of [[{pid}]]", num_output_images=3))
        assert named.known_subjects.counts == {pid: 3}
        by_id = await (await phota.edit("at the beach", [photo(3)], profile_ids=[pid]))
        assert by_id.known_subjects.counts == {pid: 1}
        nobody = await (await phota.generate("an empty beach"))
        assert nobody.known_subjects.counts == {}
