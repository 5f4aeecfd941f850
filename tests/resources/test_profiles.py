"""Profiles against the emulator: create (check, upload, train), list, status, picture, delete."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from phota_async import (
    AsyncPhota,
    InvalidInputError,
    NotFoundError,
    PhotoReport,
    ProfileStatus,
    TrainingJob,
    UploadProgress,
)
from phota_async.emulator import Dialect, PhotaEmulator
from tests.conftest import make_client, photo, training_photos


async def test_create_uploads_then_trains_to_ready(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    progress: list[UploadProgress] = []
    training = await phota.profiles.create(
        training_photos(10), tier="standard", tag="user-42", on_progress=progress.append
    )
    assert isinstance(training, TrainingJob) and training.profile_id
    body = json.loads(emulator.api_requests("/profiles/add")[0].body)
    assert body["training_tier"] == "standard" and body["tag"] == "user-42"
    assert len(body["image_urls"]) == 10
    assert all(url.startswith(emulator.bucket_url) for url in body["image_urls"])
    assert sum(1 for p in progress if p.state == "uploaded") == 10
    profile = await training
    assert profile.status is ProfileStatus.READY and profile.ready
    assert [c.kind for c in emulator.ledger].count("training") == 1


async def test_urls_are_passed_through_without_upload(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    urls = [emulator.put_object(photo(i, size=1024), "image/jpeg") for i in range(5)]
    uploads_before = len(emulator.requests)
    training = await phota.profiles.create(urls, tier="fast")
    body = json.loads(emulator.api_requests("/profiles/add")[0].body)
    assert body["image_urls"] == urls and body["training_tier"] == "fast"
    bucket_puts = [r for r in emulator.requests[uploads_before:] if r.method == "PUT"]
    assert bucket_puts == []
    assert (await training).ready


@pytest.mark.parametrize(
    ("count", "tier"), [(4, "fast"), (11, "fast"), (9, "standard"), (51, "standard")]
)
async def test_photo_counts_per_tier(
    phota: AsyncPhota, emulator: PhotaEmulator, count: int, tier: str
) -> None:
    with pytest.raises(InvalidInputError, match=tier) as caught:
        await phota.profiles.create([photo(i) for i in range(count)], tier=tier)
    assert caught.value.field == "photos"
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("tier", {"tier": "premium"}), ("tag", {"tag": ""}), ("tag", {"tag": "t" * 129})],
)
async def test_bad_options_fail_locally(
    phota: AsyncPhota, emulator: PhotaEmulator, field: str, kwargs: dict[str, str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await phota.profiles.create(training_photos(10), **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert emulator.requests == []


async def test_a_bad_photo_refuses_the_set_before_anything_is_sent(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    fake = tmp_path / "IMG_0003.jpg"
    fake.write_text("this is not a photo")
    photos: list[object] = [*training_photos(9), fake]
    with pytest.raises(InvalidInputError) as caught:
        await phota.profiles.create(photos)  # type: ignore[arg-type]
    report = caught.value.report
    assert isinstance(report, PhotoReport) and not report.ok
    assert report.photos[9].status == "error"
    assert "IMG_0003.jpg" in str(caught.value)
    assert emulator.requests == []  # no upload, no training paid


async def test_check_reports_without_sending(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    photos = [photo(i, size=512) for i in range(5)]
    report = await phota.profiles.check(photos, tier="fast")
    assert report.ok  # warnings only
    small = [issue for issue in report.warnings if issue.code == "low_resolution"]
    assert sorted(i for issue in small for i in issue.indexes) == [0, 1, 2, 3, 4]
    assert emulator.requests == []


async def test_no_uploader_for_a_remote_api_is_a_clear_error() -> None:
    phota = AsyncPhota(api_key="k", base_url="https://api.example.invalid/v1/phota")
    with pytest.raises(InvalidInputError) as caught:
        await phota.profiles.create(training_photos(10))
    assert caught.value.field == "uploader"
    await phota.aclose()


async def test_list_status_picture_delete(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    profile = await (await phota.profiles.create(training_photos(10), tag="family"))
    other = await phota.profiles.create(training_photos(10), tag="friends")
    assert [p.profile_id for p in await phota.profiles.list(tag="family")] == [profile.profile_id]
    assert {p.profile_id for p in await phota.profiles.list()} == {
        profile.profile_id, other.profile_id
    }
    status = await phota.profiles.status(profile.profile_id)
    assert status.profile_id == profile.profile_id and status.status is ProfileStatus.READY
    picture = await phota.profiles.picture(profile.profile_id)
    assert Image.open(io.BytesIO(picture)).format == "JPEG"
    deleted = await phota.profiles.delete(profile.profile_id)
    assert deleted.profile_id == profile.profile_id
    with pytest.raises(NotFoundError):
        await phota.profiles.status(profile.profile_id)


async def test_profile_lists_of_objects_are_read() -> None:
    emulator = PhotaEmulator(dialect=Dialect(profile_items="objects"))
    async with emulator as emu, make_client(emu) as phota:
        training = await phota.profiles.create(training_photos(10), tag="t1")
        summaries = await phota.profiles.list(tag="t1")
    assert [(s.profile_id, s.tag) for s in summaries] == [(training.profile_id, "t1")]


async def test_unknown_profile_is_not_found(phota: AsyncPhota) -> None:
    with pytest.raises(NotFoundError):
        await phota.profiles.picture("prof_missing")
    with pytest.raises(InvalidInputError):
        await phota.profiles.status("../jobs")


async def test_training_reattaches(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    training = await phota.profiles.create(training_photos(10))
    assert phota.profiles.training(training.profile_id) is training
    async with make_client(emulator) as second:
        again = second.profiles.training(training.profile_id)
        assert (await again).profile_id == training.profile_id
