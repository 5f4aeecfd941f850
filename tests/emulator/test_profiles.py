"""Profiles: creation rules, training through its statuses, listing, picture, deletion."""

from __future__ import annotations

import pytest
from emu_http import Api

from phota_async.emulator import Dialect, sample_photo


async def test_training_goes_through_every_status_to_ready(api: Api) -> None:
    profile_id = await api.train(tag="user-42")
    seen: list[str] = []

    def ready(body: dict[str, str]) -> bool:
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        return body["status"] == "READY"

    final = await api.poll(f"/profiles/{profile_id}/status", ready)
    assert seen == ["VALIDATING", "QUEUING", "IN_PROGRESS", "READY"]
    assert final == {"profile_id": profile_id, "status": "READY", "message": None}
    assert api.emu.ledger[-1].amount == pytest.approx(1.49)


async def test_uniform_photos_end_in_error_and_are_refunded(api: Api) -> None:
    profile_id = await api.train(uniform=True)
    final = await api.poll(
        f"/profiles/{profile_id}/status", lambda body: body["status"] not in ("VALIDATING",)
    )
    assert final["status"] == "ERROR"
    assert final["message"]
    assert api.emu.total_billed == 0.0


async def test_list_by_tag_picture_and_delete(api: Api) -> None:
    mine = await api.train(tag="user-1")
    await api.train(tag="user-2")
    assert (await api.get("/profiles/ids?tag=user-1"))[1] == {"profiles": [mine]}
    assert len((await api.get("/profiles/ids"))[1]["profiles"]) == 2
    status, picture, response = await api.call("GET", f"/profiles/{mine}/profile_picture")
    assert status == 200 and response.content_type == "image/jpeg"
    assert picture.startswith(b"\xff\xd8\xff")
    status, deleted, _ = await api.call("DELETE", f"/profiles/{mine}")
    assert (status, deleted) == (200, {"profile_id": mine, "status": "ok"})
    for path in (f"/profiles/{mine}/status", f"/profiles/{mine}/profile_picture"):
        assert (await api.get(path))[0] == 404
    assert (await api.call("DELETE", f"/profiles/{mine}"))[0] == 404


@pytest.mark.parametrize("emu_options", [{"dialect": Dialect(profile_items="objects")}])
async def test_profile_items_as_objects(api: Api) -> None:
    profile_id = await api.train(tag="t")
    _, body = await api.get("/profiles/ids")
    assert body["profiles"] == [{"profile_id": profile_id, "tag": "t", "status": "VALIDATING"}]


async def test_each_add_creates_and_bills_a_new_profile(api: Api) -> None:
    assert await api.train() != await api.train()
    assert api.emu.total_billed == pytest.approx(2 * 1.49)


async def test_deactivated_or_untrained_profiles_are_refused_by_image_endpoints(api: Api) -> None:
    profile_id = await api.train()
    status, body = await api.post("/generate", {"prompt": f"[[{profile_id}]]"})
    assert status == 400 and profile_id in body["detail"]
    await api.poll(f"/profiles/{profile_id}/status", lambda body: body["status"] == "READY")
    api.emu.deactivate_profile(profile_id)
    assert (await api.get(f"/profiles/{profile_id}/status"))[1]["status"] == "INACTIVE"
    assert (await api.post("/enhance", {"image": "x", "profile_ids": [profile_id]}))[0] == 400


async def test_add_rules(api: Api) -> None:
    urls = [api.emu.put_object(sample_photo(i), "image/jpeg") for i in range(11)]
    add = "/profiles/add"
    assert (await api.post(add, {"image_urls": urls[:4]}))[0] == 422  # fewer than 5
    assert (await api.post(add, {"image_urls": urls[:5], "tag": ""}))[0] == 422
    assert (await api.post(add, {"image_urls": urls[:5]}))[0] == 400  # standard takes 10..50
    assert (await api.post(add, {"image_urls": urls, "training_tier": "fast"}))[0] == 400
    assert (await api.post(add, {"image_urls": [*urls[:9], "aGVsbG8="]}))[0] == 400
    status, body = await api.post(add, {"image_urls": [*urls[:9], api.emu.bucket_url + "/gone"]})
    assert status == 400 and "image_urls[9]" in body["detail"]
    assert api.emu.total_billed == 0.0


async def test_status_of_unknown_profile_is_404(api: Api) -> None:
    assert (await api.get("/profiles/prof_nope/status"))[0] == 404
