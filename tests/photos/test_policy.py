"""The pre-flight policy: strict (errors refuse the set), warn (unusable photos are left out),
and a floor on the photo size that a user may lower knowingly."""

from __future__ import annotations

import pytest

from phota_async import AsyncPhota, InvalidInputError, PhotoPolicy
from phota_async.emulator import PhotaEmulator, sample_photo
from tests.conftest import training_photos


def small_photos(count: int, size: int = 96) -> list[bytes]:
    return [sample_photo(i, size=size) for i in range(count)]


async def test_strict_refuses_photos_under_the_floor(phota: AsyncPhota) -> None:
    report = await phota.profiles.check(small_photos(5), tier="fast")
    assert not report.ok
    assert {issue.code for issue in report.errors} == {"too_small"}
    assert "at least 256 px" in report.summary()


async def test_a_lowered_floor_lets_small_photos_train(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    policy = PhotoPolicy(min_side=64)
    report = await phota.profiles.check(small_photos(5), tier="fast", policy=policy)
    assert report.ok and "low_resolution" in {issue.code for issue in report.warnings}
    training = await phota.profiles.create(small_photos(5), tier="fast", policy=policy)
    assert (await training).ready


async def test_warn_leaves_unusable_photos_out_and_goes_on(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    photos = [*training_photos(5), b"not a photo", sample_photo(99, size=64)]
    photos.append(photos[0])  # an exact copy
    report = await phota.profiles.check(photos, tier="fast", policy=PhotoPolicy(mode="warn"))
    assert report.ok, report.summary()
    lines = report.summary().splitlines()
    assert any("photos[5]" in line and "left out" in line for line in lines)
    assert any("photos[6]" in line and "left out: too small" in line for line in lines)
    assert any("only photos[0] (bytes) is used" in line for line in lines)
    training = await phota.profiles.create(photos, tier="fast", policy=PhotoPolicy(mode="warn"))
    assert (await training).ready
    body = emulator.api_requests("/profiles/add")[0].body
    assert body.count(b"http") == 5  # the five good photos, nothing else


async def test_warn_still_refuses_when_too_few_usable_photos_remain(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    photos = [*training_photos(4), b"broken"]
    with pytest.raises(InvalidInputError) as caught:
        await phota.profiles.create(photos, tier="fast", policy=PhotoPolicy(mode="warn"))
    assert "4 usable photo(s) left" in str(caught.value)
    assert caught.value.report is not None and emulator.ledger == []


@pytest.mark.parametrize("options", [{"mode": "lenient"}, {"min_side": 0}, {"min_side": 2048}])
def test_bad_policies_are_refused(options: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        PhotoPolicy(**options)  # type: ignore[arg-type]
