"""The image endpoints against the emulator: wire bodies, inputs, results, local validation."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from phota_async import (
    AsyncPhota,
    AuthenticationError,
    BadRequestError,
    BaseModel,
    ContentModerationError,
    InsufficientCreditError,
    InvalidInputError,
    Job,
    UnprocessableEntityError,
)
from phota_async.emulator import PhotaEmulator
from tests.conftest import make_client, photo


def body_of(emu: PhotaEmulator, path: str) -> dict[str, Any]:
    requests = emu.api_requests(path, "POST")
    assert len(requests) == 1
    decoded: dict[str, Any] = json.loads(requests[0].body)
    return decoded


async def test_generate_submits_asynchronously_and_resolves(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("a lighthouse at dusk", num_output_images=2, aspect_ratio="16:9")
    assert isinstance(job, Job) and job.id and not job.done()
    body = body_of(emulator, "/generate")
    assert body["async"] is True and body["response_mode"] == "urls"
    assert body["client_request_id"] == job.client_request_id
    assert body["output_format"] == "jpg"  # always sent: the server's default moved
    assert body["aspect_ratio"] == "16:9" and body["num_output_images"] == 2
    result = await job
    assert len(result.download_urls) == 2 and result.images == []
    images = await result.read()
    assert all(Image.open(io.BytesIO(data)).format == "JPEG" for data in images)


async def test_enums_and_their_strings_are_the_same(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    await phota.generate("x", base_model=BaseModel.GPT_IMAGE_2, quality="high", resolution="4K")
    body = body_of(emulator, "/generate")
    sent = (body["base_model"], body["quality"], body["resolution"])
    assert sent == ("gpt-image-2", "high", "4K")


async def test_edit_takes_paths_bytes_files_and_urls(
    phota: AsyncPhota, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "me.png"
    path.write_bytes(photo(1, fmt="png"))
    url = emulator.put_object(photo(2), "image/jpeg")
    with open(tmp_path / "me.png", "rb") as handle:  # noqa: ASYNC230 - a user's file object
        job = await phota.edit("make it warmer", [path, photo(3), handle, url])
    images = body_of(emulator, "/edit")["images"]
    assert base64.b64decode(images[0]) == path.read_bytes()  # plain base64, not a data: URI
    assert base64.b64decode(images[1]) == photo(3)
    assert base64.b64decode(images[2]) == path.read_bytes()
    assert images[3] == url
    assert len(await job) == 1


async def test_enhance_and_remix(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    enhanced = await phota.enhance(photo(4), output_format="png")
    remixed = await phota.remix(photo(5), photo(6), prompt="in this style")
    remix_body = body_of(emulator, "/remix")
    assert set(remix_body) >= {"input_image", "reference_image", "prompt"}
    for job in (enhanced, remixed):
        data = (await (await job).read())[0]
        assert Image.open(io.BytesIO(data)).format in ("PNG", "JPEG")
    assert body_of(emulator, "/enhance")["output_format"] == "png"


async def test_sync_mode_returns_a_finished_job_with_bytes(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("a quiet harbour", mode="sync", output_format="png")
    assert job.done() and job.id is None
    body = body_of(emulator, "/generate")
    assert body["async"] is False and body["response_mode"] == "bytes"
    result = await job
    assert Image.open(io.BytesIO(result.images[0])).format == "PNG"


async def test_an_identity_is_recognised(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    profile = await (await phota.profiles.create([photo(i, size=1024) for i in range(10)]))
    job = await phota.edit(
        f"[[{profile.profile_id}]] at the beach", [photo(1)], profile_ids=[profile.profile_id],
        num_output_images=2,
    )
    result = await job
    assert result.known_subjects.counts == {profile.profile_id: 2}


# --- Local validation: a clear error, naming the field, and zero requests ------------------

Call = Callable[[AsyncPhota], Awaitable[object]]
BAD_CALLS: list[tuple[str, Call]] = [
    ("prompt", lambda p: p.generate("")),
    ("prompt", lambda p: p.generate("see [[ ]]")),
    ("num_output_images", lambda p: p.generate("x", num_output_images=5)),
    ("num_output_images", lambda p: p.generate("x", num_output_images=0)),
    ("num_output_images", lambda p: p.generate("x", num_output_images=True)),
    ("aspect_ratio", lambda p: p.generate("x", aspect_ratio="2:1")),
    ("base_model", lambda p: p.generate("x", base_model="dall-e")),
    ("quality", lambda p: p.generate("x", quality="high")),
    ("quality", lambda p: p.generate("x", base_model="flux-2", quality="low")),
    ("resolution", lambda p: p.generate("x", base_model="flux-2", resolution="4K")),
    ("resolution", lambda p: p.generate("x", base_model="reve", resolution="2K")),
    ("resolution", lambda p: p.generate("x", base_model="qwen-image-2", resolution="4K")),
    ("output_format", lambda p: p.generate("x", output_format="gif")),
    ("response_mode", lambda p: p.generate("x", response_mode="stream")),
    ("callback_url", lambda p: p.generate("x", callback_url="http://example.com/cb")),
    ("callback_url", lambda p: p.generate("x", callback_url="ftp://example.com/cb")),
    ("callback_url", lambda p: p.generate("x", mode="sync", callback_url="https://a.example/cb")),
    ("client_request_id", lambda p: p.generate("x", client_request_id="has space")),
    ("client_request_id", lambda p: p.generate("x", client_request_id="a" * 129)),
    ("mode", lambda p: p.generate("x", mode="later")),  # type: ignore[arg-type]
    ("images", lambda p: p.edit("x", [])),
    ("images", lambda p: p.edit("x", [photo(i) for i in range(11)])),
    ("images", lambda p: p.edit("x", photo(1))),  # type: ignore[arg-type]
    ("images[1]", lambda p: p.edit("x", [photo(1), b"plain text, not an image"])),
    ("images[0]", lambda p: p.edit("x", ["/no/such/file.jpg"])),
    ("images[0]", lambda p: p.edit("x", ["data:image/png;base64,AAAA"])),
    ("profile_ids[0]", lambda p: p.edit("x", [photo(1)], profile_ids=[""])),
    ("profile_ids", lambda p: p.edit("x", [photo(1)], profile_ids="prof_1")),
    ("image", lambda p: p.enhance(b"GIF89a not accepted")),
    ("reference_image", lambda p: p.remix(photo(1), 42)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("field", "call"), BAD_CALLS, ids=[f for f, _ in BAD_CALLS])
async def test_bad_input_fails_locally(
    phota: AsyncPhota, emulator: PhotaEmulator, field: str, call: Call
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await call(phota)
    assert caught.value.field == field
    assert emulator.requests == []


async def test_an_error_names_what_is_allowed(phota: AsyncPhota) -> None:
    with pytest.raises(InvalidInputError, match=r"allowed: '1K', '2K'"):
        await phota.generate("x", base_model="flux-2", resolution="4K")


async def test_a_text_file_named_jpg_is_refused(phota: AsyncPhota, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_text("not really a photo")
    with pytest.raises(InvalidInputError, match="not an image"):
        await phota.enhance(fake)


# --- Server errors arrive as their classes --------------------------------------------------


async def test_content_moderation(phota: AsyncPhota) -> None:
    with pytest.raises(ContentModerationError) as caught:
        await phota.generate("something forbidden")
    assert caught.value.status == 400 and caught.value.request_id


async def test_an_unknown_profile_is_a_bad_request(phota: AsyncPhota) -> None:
    with pytest.raises(BadRequestError):
        await phota.generate("a portrait of [[prof_nobody]]")


async def test_a_wrong_key(emulator: PhotaEmulator) -> None:
    async with make_client(emulator, api_key="wrong-key") as phota:
        with pytest.raises(AuthenticationError) as caught:
            await phota.generate("x")
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value)


async def test_insufficient_credit() -> None:
    async with PhotaEmulator(credit=0.05) as emu, make_client(emu) as phota:
        with pytest.raises(InsufficientCreditError):
            await phota.generate("x")


async def test_the_servers_validation_error_is_unprocessable(phota: AsyncPhota) -> None:
    # The SDK never sends this, so speak to the transport directly to see the mapping.
    with pytest.raises(UnprocessableEntityError) as caught:
        await phota._transport.request("POST", "generate", json_body={"prompt": 3})
    assert caught.value.status == 422 and isinstance(caught.value.detail, list)
