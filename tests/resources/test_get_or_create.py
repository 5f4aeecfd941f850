"""``profiles.get_or_create``: reconciling through the tag instead of training (and paying) again,
and the ``before_add`` hook that lets a journal record its intent before the paid call."""

from __future__ import annotations

import pytest

from phota_async import AsyncPhota, InvalidInputError, ProfileStatus
from phota_async.emulator import PhotaEmulator
from tests.conftest import training_photos


def trainings(emu: PhotaEmulator) -> int:
    return sum(1 for charge in emu.ledger if charge.kind == "training")


async def test_creates_once_then_finds_the_same_profile(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    first = await phota.profiles.get_or_create(training_photos(10), tag="user-7/alice")
    uploads = len(emulator.requests)
    again = await phota.profiles.get_or_create(training_photos(10), tag="user-7/alice")
    assert again.profile_id == first.profile_id
    assert trainings(emulator) == 1
    assert [r.path for r in emulator.requests[uploads:]] == ["/v1/phota/profiles/ids"]
    assert (await again).status is ProfileStatus.READY


async def test_before_add_runs_after_the_uploads_and_can_stop_the_paid_call(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    seen: list[int] = []

    async def journal_then_refuse() -> None:
        seen.append(sum(1 for r in emulator.requests if r.method == "PUT"))
        raise RuntimeError("the journal is full")

    with pytest.raises(RuntimeError):
        await phota.profiles.get_or_create(training_photos(10), tag="t",
                                           before_add=journal_then_refuse)
    assert seen == [10]  # every photo was uploaded first
    assert emulator.api_requests("/profiles/add") == [] and emulator.ledger == []


async def test_of_several_profiles_with_a_tag_the_ready_one_is_taken(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    ready = await (await phota.profiles.create(training_photos(10), tag="dup")).result()
    failed = await phota.profiles.create(training_photos(10), tag="dup")
    emulator.deactivate_profile(failed.profile_id)
    found = await phota.profiles.get_or_create(training_photos(10), tag="dup")
    assert found.profile_id == ready.profile_id and trainings(emulator) == 2


async def test_a_tag_is_required(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await phota.profiles.get_or_create(training_photos(10), tag=None)  # type: ignore[arg-type]
    assert caught.value.field == "tag" and emulator.requests == []
