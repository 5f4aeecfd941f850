"""The four image endpoints in synchronous mode: fields, rules, outputs."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from emu_http import Api
from PIL import Image

from phota_async.emulator import sample_photo

PHOTO = base64.b64encode(sample_photo(1)).decode()


def _size(b64: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(b64))).size


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/generate", {"prompt": "a red fox"}),
        ("/edit", {"prompt": "make it blue", "images": [PHOTO, PHOTO]}),
        ("/enhance", {"image": PHOTO}),
        ("/remix", {"input_image": PHOTO, "reference_image": PHOTO, "prompt": "noir"}),
    ],
)
async def test_each_endpoint_answers_images(api: Api, path: str, body: dict[str, Any]) -> None:
    status, data, response = await api.call(
        "POST", path, json={**body, "num_output_images": 2, "output_format": "png"}
    )
    assert status == 200, data
    assert data["download_urls"] == []
    assert data["known_subjects"] == {"counts": {}}
    first, second = (base64.b64decode(image) for image in data["images"])
    assert first.startswith(b"\x89PNG") and first != second
    assert "X-Phota-Deprecation-Date" not in response.headers


async def test_default_output_format_is_jpg_with_a_deprecation_header(api: Api) -> None:
    status, data, response = await api.call("POST", "/generate", json={"prompt": "x"})
    assert status == 200
    assert base64.b64decode(data["images"][0]).startswith(b"\xff\xd8\xff")
    assert response.headers["X-Phota-Deprecation-Date"]


async def test_aspect_ratio_shapes_the_output(api: Api) -> None:
    body = {"prompt": "x", "aspect_ratio": "16:9", "output_format": "png"}
    status, data = await api.post("/generate", body)
    assert status == 200
    width, height = _size(data["images"][0])
    assert width > height


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"prompt": "x", "profile_ids": ["p"]}, "profile_ids"),  # generate takes no profile_ids
        ({"prompt": "x", "images": [PHOTO]}, "images"),
        ({"prompt": "x", "base_model": "dall-e"}, "base_model"),
        ({"prompt": "x", "num_output_images": 5}, "num_output_images"),
        ({"prompt": "x", "async": 1}, "async"),
        ({"prompt": "x", "client_request_id": "has space"}, "client_request_id"),
        ({"prompt": "x", "client_request_id": "a" * 129}, "client_request_id"),
        ({}, "prompt"),
    ],
)
async def test_field_problems_are_422(api: Api, body: dict[str, Any], loc: str) -> None:
    status, data = await api.post("/generate", body)
    assert status == 422
    assert ["body", loc] in [problem["loc"] for problem in data["detail"]]


async def test_edit_image_count_is_checked(api: Api) -> None:
    assert (await api.post("/edit", {"prompt": "x", "images": []}))[0] == 422
    assert (await api.post("/edit", {"prompt": "x", "images": [PHOTO] * 11}))[0] == 422


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x", "base_model": "nb2", "quality": "high"},
        {"prompt": "x", "base_model": "flux-2", "resolution": "4K"},
        {"prompt": "x", "base_model": "reve", "resolution": "2K"},
        {"prompt": "x", "callback_url": "https://example.com/hook"},  # without async
        {"prompt": "x", "async": True, "callback_url": "http://example.com/hook"},  # not https
        {"prompt": "[[prof_missing]] smiling"},
    ],
)
async def test_business_rules_are_400(api: Api, body: dict[str, Any]) -> None:
    status, data = await api.post("/generate", body)
    assert status == 400, data


async def test_quality_and_4k_work_on_gpt_image_2(api: Api) -> None:
    body = {"prompt": "x", "base_model": "gpt-image-2", "quality": "high", "resolution": "4K"}
    assert (await api.post("/generate", body))[0] == 200


@pytest.mark.parametrize(
    "image",
    [
        "data:image/jpeg;base64," + PHOTO,
        "not base64 at all!",
        base64.b64encode(b"GIF89a plain gif is not accepted").decode(),
    ],
)
async def test_bad_image_strings_are_400(api: Api, image: str) -> None:
    status, data = await api.post("/enhance", {"image": image})
    assert status == 400
    assert "image" in data["detail"]


async def test_image_urls_are_fetched_and_must_be_images(api: Api) -> None:
    good = api.emu.put_object(sample_photo(2, fmt="webp"), "image/webp")
    text = api.emu.put_object(b"hello", "text/plain")
    assert (await api.post("/enhance", {"image": good}))[0] == 200
    status, data = await api.post("/edit", {"prompt": "x", "images": [good, text]})
    assert status == 400
    assert "images[1]" in data["detail"]
    missing = api.emu.bucket_url + "/nope.jpg"
    assert (await api.post("/enhance", {"image": missing}))[0] == 400


async def test_content_moderation(api: Api) -> None:
    status, data = await api.post("/generate", {"prompt": "something FORBIDDEN here"})
    assert status == 400
    assert data["type"] == "CONTENT_MODERATION"
    assert data["detail"] == "CONTENT_MODERATION"


async def test_fail_marker_fails_a_sync_call_with_500_and_refunds(api: Api) -> None:
    status, _ = await api.post("/generate", {"prompt": "[fail] please"})
    assert status == 500
    assert api.emu.total_billed == 0.0
    assert [charge.kind for charge in api.emu.ledger] == ["image", "refund"]


async def test_download_urls_need_no_key(api: Api) -> None:
    body = {"prompt": "x", "response_mode": "urls", "output_format": "png"}
    status, data = await api.post("/generate", body)
    assert status == 200
    assert data["images"] == []
    [url] = data["download_urls"]
    async with api.session.get(url) as response:  # no X-API-Key
        assert response.status == 200
        assert response.content_type == "image/png"
    [recorded] = [r for r in api.emu.requests if r.path.startswith("/files/")]
    assert "x-api-key" not in recorded.headers


async def test_known_subjects_count_once_per_output(api: Api) -> None:
    profile_id = await api.train()
    await api.poll(f"/profiles/{profile_id}/status", lambda body: body["status"] == "READY")
    body = {"prompt": f"[[{profile_id}]] at the beach", "num_output_images": 3}
    status, data = await api.post("/generate", body)
    assert status == 200
    assert data["known_subjects"]["counts"] == {profile_id: 3}
    assert api.emu.ledger[-1].amount == pytest.approx(3 * 0.12)  # nb2 with identity


@pytest.mark.parametrize("emu_options", [{"job_seconds": {"generate": 700.0}, "time_scale": 6000}])
async def test_sync_call_past_600_emulated_seconds_is_504_and_refunded(api: Api) -> None:
    status, data = await api.post("/generate", {"prompt": "slow"})
    assert status == 504, data
    assert api.emu.total_billed == 0.0
    assert api.emu.ledger[-1].kind == "refund"


@pytest.mark.parametrize("emu_options", [{"plain_outputs": True}])
async def test_plain_outputs_are_small_real_pictures_in_the_asked_format(api: Api) -> None:
    """The load-test mode: no drawing, but still a picture that decodes, in the format asked."""
    for fmt, magic in (("png", b"\x89PNG"), ("jpg", b"\xff\xd8\xff")):
        status, data = await api.post("/generate", {"prompt": "x", "num_output_images": 2,
                                                     "output_format": fmt})
        assert status == 200, data
        assert len(data["images"]) == 2
        picture = base64.b64decode(data["images"][0])
        assert picture.startswith(magic) and _size(data["images"][0]) == (64, 64)
