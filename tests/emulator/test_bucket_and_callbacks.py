"""The upload bucket, the webhook secret and signed callbacks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from emu_http import Api, eventually

from phota_async.emulator import CallbackPolicy, Dialect


class Receiver:
    """A callback endpoint on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.read(), request.headers["X-Phota-Signature"]))
        self.arrived.set()
        return web.Response(text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield receiver
    await runner.cleanup()


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


async def test_bucket_put_post_and_get_need_no_key(api: Api) -> None:
    async with api.session.put(
        api.emu.bucket_url + "/user 1/a.jpg",
        data=b"\xff\xd8\xffjpeg",
        headers={"Content-Type": "image/jpeg"},
    ) as response:
        url = (await response.json())["url"]
    async with api.session.get(url) as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
        assert await response.read() == b"\xff\xd8\xffjpeg"
    async with api.session.post(
        api.emu.bucket_url,
        data=b"png",
        headers={"X-Filename": "b.png", "Content-Type": "image/png"},
    ) as response:
        assert (await response.json())["url"] == api.emu.bucket_url + "/b.png"
    assert all("x-api-key" not in r.headers for r in api.emu.requests)


@pytest.mark.parametrize("emu_options", [{"dialect": Dialect(secret_key="signing_secret")}])
async def test_webhook_secret(api: Api) -> None:
    assert (await api.get("/webhook-secret"))[1] == {"signing_secret": "whsec-emulator"}


async def test_callback_is_the_signed_job_object(api: Api, receiver: Receiver) -> None:
    body = {"prompt": "x", "async": True, "callback_url": receiver.url}
    _, handle = await api.post("/generate", body)
    await asyncio.wait_for(receiver.arrived.wait(), 3)
    [(raw, signature)] = receiver.received
    assert signature == _digest(api.emu.webhook_secret, raw).hex()
    _, job = await api.get(handle["poll_url"])
    assert raw.decode().startswith('{"job_id": "' + handle["job_id"])
    assert job["status"] == "completed"
    assert api.emu.callback_deliveries[0].status == 200


@pytest.mark.parametrize(
    "emu_options", [{"callbacks": CallbackPolicy(encoding="base64", duplicate=True, delay=0.01)}]
)
async def test_duplicated_base64_callbacks(api: Api, receiver: Receiver) -> None:
    await api.post("/generate", {"prompt": "x", "async": True, "callback_url": receiver.url})
    await eventually(lambda: len(receiver.received) >= 2)
    (raw, signature), second = receiver.received
    assert second == (raw, signature)
    assert base64.b64decode(signature) == _digest(api.emu.webhook_secret, raw)


@pytest.mark.parametrize("emu_options", [{"callbacks": CallbackPolicy(encoding="sha256=")}])
async def test_failed_job_callback_with_prefixed_signature(api: Api, receiver: Receiver) -> None:
    await api.post("/generate", {"prompt": "[fail]", "async": True, "callback_url": receiver.url})
    await asyncio.wait_for(receiver.arrived.wait(), 3)
    [(raw, signature)] = receiver.received
    assert signature == "sha256=" + _digest(api.emu.webhook_secret, raw).hex()
    assert b'"failed"' in raw


@pytest.mark.parametrize("emu_options", [{"callbacks": CallbackPolicy(drop=True)}])
async def test_dropped_callbacks_never_arrive(api: Api, receiver: Receiver) -> None:
    _, handle = await api.post(
        "/generate", {"prompt": "x", "async": True, "callback_url": receiver.url}
    )
    await api.poll(handle["poll_url"], lambda body: body["status"] == "completed")
    await asyncio.sleep(0.02)
    assert receiver.received == []


async def test_unreachable_callback_is_ignored(api: Api) -> None:
    body = {"prompt": "x", "async": True, "callback_url": "http://127.0.0.1:9/hook"}
    _, handle = await api.post("/generate", body)
    await api.poll(handle["poll_url"], lambda body: body["status"] == "completed")
    await eventually(lambda: bool(api.emu.callback_deliveries))
    assert api.emu.callback_deliveries[0].status is None
