"""Uploaders against real servers on loopback (moto's S3, the emulator's bucket, a small PUT
server), and upload_photos' concurrency, retries, progress and partial failures."""

from __future__ import annotations

import io
import random
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict
from urllib.parse import parse_qs, urlsplit

import aiohttp
import anyio
import boto3  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from moto.server import ThreadedMotoServer
from PIL import Image

from phota_async._exceptions import StorageError, UploadError
from phota_async._photos.checks import prepare_photos
from phota_async._photos.examine import PreparedPhoto
from phota_async._photos.report import raise_for_report
from phota_async._photos.s3 import S3Uploader
from phota_async._photos.upload import UploadProgress, is_transient, upload_photos
from phota_async._photos.uploaders import EmulatorBucketUploader, PresignedPutUploader, Uploader
from phota_async.emulator import PhotaEmulator


class Credentials(TypedDict):
    aws_access_key_id: str
    aws_secret_access_key: str
    region_name: str


CREDENTIALS: Credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                            "region_name": "us-east-1"}


class Waits(TypedDict):
    retry_wait: float
    retry_wait_max: float


FAST: Waits = {"retry_wait": 0.001, "retry_wait_max": 0.005}  # tests never sleep seconds


# --- Helpers ------------------------------------------------------------------------------------


def jpeg(seed: int, size: tuple[int, int] = (1100, 1050)) -> bytes:
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 6))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(48)])
    buffer = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def prepared(index: int, data: bytes = b"\xff\xd8\xff photo") -> PreparedPhoto:
    return PreparedPhoto(index, data, "image/jpeg", f"photo-{index}.jpg", 1100, 1050)


def remote(index: int) -> PreparedPhoto:
    return PreparedPhoto.from_url(index, f"https://cdn.example.com/given-{index}.jpg")


async def fetch(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- A real S3-compatible server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"photos-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, **CREDENTIALS).create_bucket(Bucket=name)
    return name


@pytest.fixture
async def s3(moto_endpoint: str, bucket: str) -> AsyncIterator[S3Uploader]:
    async with S3Uploader(bucket, endpoint_url=moto_endpoint, **CREDENTIALS) as uploader:
        yield uploader


async def test_s3_upload_is_fetchable_through_its_presigned_url(
    moto_endpoint: str, bucket: str
) -> None:
    data = jpeg(1)
    async with S3Uploader(bucket, prefix="users/42/", expires_in=900, endpoint_url=moto_endpoint,
                          **CREDENTIALS) as uploader:
        url = await uploader.upload(data, filename="me.jpg", content_type="image/jpeg")
    parts = urlsplit(url)
    assert parts.path.startswith(f"/{bucket}/users/42/") and parts.path.endswith(".jpg")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    assert await fetch(url) == (200, "image/jpeg", data)


async def test_s3_defaults_two_hours_under_phota_prefix(s3: S3Uploader, bucket: str) -> None:
    url = await s3.upload(b"\x89PNG\r\n\x1a\n...", filename="x.png", content_type="image/png")
    parts = urlsplit(url)
    assert parts.path.startswith(f"/{bucket}/phota/") and parts.path.endswith(".png")
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["7200"]
    assert (await fetch(url))[1] == "image/png"


async def test_s3_names_never_collide(s3: S3Uploader) -> None:
    first = await s3.upload(b"one", filename="IMG_0001.jpg", content_type="image/jpeg")
    second = await s3.upload(b"two", filename="IMG_0001.jpg", content_type="image/jpeg")
    assert urlsplit(first).path != urlsplit(second).path
    assert (await fetch(first))[2] == b"one" and (await fetch(second))[2] == b"two"


async def test_s3_missing_bucket_fails_once_without_retries(moto_endpoint: str) -> None:
    events: list[UploadProgress] = []
    async with S3Uploader("no-such-bucket", endpoint_url=moto_endpoint,
                          **CREDENTIALS) as uploader:
        with pytest.raises(StorageError) as caught:
            await uploader.upload(b"x", filename="a.jpg", content_type="image/jpeg")
        assert (caught.value.status, caught.value.transient) == (404, False)
        assert "NoSuchBucket" in str(caught.value)
        with pytest.raises(UploadError) as failed:
            await upload_photos([prepared(0)], uploader, on_progress=events.append, **FAST)
    assert list(failed.value.failed) == [0] and "NoSuchBucket" in failed.value.failed[0]
    assert [e.state for e in events] == ["started", "failed"]  # a 404 is not worth retrying


async def test_s3_unreachable_endpoint_is_transient() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with S3Uploader("b", endpoint_url=endpoint, **CREDENTIALS) as uploader:
        with pytest.raises(StorageError) as caught:
            await uploader.upload(b"x", filename="a.jpg", content_type="image/jpeg")
    assert caught.value.transient and is_transient(caught.value)


def test_s3_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiobotocore.session", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'phota-async\[s3\]'"):
        S3Uploader("bucket")


def test_s3_refuses_an_expiry_sigv4_cannot_sign() -> None:
    with pytest.raises(ValueError, match="expires_in"):
        S3Uploader("bucket", expires_in=8 * 24 * 3600)


# --- The emulator's bucket, and the emulator fetching what was uploaded ---------------------------


async def test_emulator_bucket_stores_photos_without_the_api_key() -> None:
    data = jpeg(2)
    async with PhotaEmulator() as emu, EmulatorBucketUploader(emu.bucket_url) as uploader:
        first = await uploader.upload(data, filename="me.jpg", content_type="image/jpeg")
        second = await uploader.upload(data, filename="me.jpg", content_type="image/jpeg")
        assert first != second and first.endswith("-me.jpg")
        assert await fetch(first) == (200, "image/jpeg", data)
        puts = [r for r in emu.requests if r.method == "PUT"]
    assert len(puts) == 2
    for request in puts:
        assert request.path.startswith("/bucket/")
        assert request.headers["content-type"] == "image/jpeg"
        assert "x-api-key" not in request.headers and emu.api_key not in str(request.headers)


async def _add_profile(emu: PhotaEmulator, image_urls: list[str], tier: str) -> dict[str, Any]:
    """``POST /profiles/add`` with plain aiohttp: the server fetches every URL."""
    async with aiohttp.ClientSession() as session, session.post(
        f"{emu.url}/profiles/add", headers={"X-API-Key": emu.api_key},
        json={"image_urls": image_urls, "training_tier": tier},
    ) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
        return body


async def test_s3_presigned_urls_are_fetched_by_profiles_add(s3: S3Uploader) -> None:
    photos = [jpeg(10 + i) for i in range(5)]
    report, ready = await prepare_photos(photos, "fast")
    raise_for_report(report)
    urls = await upload_photos(ready, s3, concurrency=3, **FAST)
    async with PhotaEmulator() as emu:
        body = await _add_profile(emu, urls, "fast")
        assert body["profile_id"] in emu.profiles
        [add] = emu.api_requests("/profiles/add", "POST")
    assert add.json()["image_urls"] == urls
    fetched = [(await fetch(url))[2] for url in urls]
    assert fetched == photos  # nothing needed changing: the very files went up


async def test_emulator_bucket_end_to_end() -> None:
    photos = [jpeg(20 + i) for i in range(5)]
    report, ready = await prepare_photos(photos, "fast")
    raise_for_report(report)
    async with PhotaEmulator() as emu, EmulatorBucketUploader(emu.bucket_url) as uploader:
        urls = await upload_photos(ready, uploader, **FAST)
        body = await _add_profile(emu, urls, "fast")
        assert body["profile_id"] in emu.profiles


# --- Presigned PUT/GET pairs --------------------------------------------------------------------


async def test_presigned_put_uploader_against_s3(moto_endpoint: str, bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=moto_endpoint, **CREDENTIALS)
    asked: list[tuple[str, str]] = []

    async def presign(filename: str, content_type: str) -> tuple[str, str]:
        asked.append((filename, content_type))
        params = {"Bucket": bucket, "Key": f"pairs/{uuid.uuid4().hex}-{filename}"}
        put = client.generate_presigned_url(
            "put_object", Params={**params, "ContentType": content_type}, ExpiresIn=300)
        get = client.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
        return put, get

    data = jpeg(3)
    async with PresignedPutUploader(presign) as uploader:
        url = await uploader.upload(data, filename="me.jpg", content_type="image/jpeg")
    assert asked == [("me.jpg", "image/jpeg")]
    assert await fetch(url) == (200, "image/jpeg", data)


@asynccontextmanager
async def put_server(statuses: list[int]) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A PUT endpoint answering ``statuses`` in turn (then 200), recording the bodies."""
    bodies: list[bytes] = []

    async def put(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        status = statuses.pop(0) if statuses else 200
        return web.Response(status=status, text="nope" if status >= 300 else "")

    app = web.Application()
    app.router.add_put("/{name}", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", bodies
    finally:
        await runner.cleanup()


async def test_presigned_put_retries_with_a_fresh_pair_after_a_503() -> None:
    async with put_server([503]) as (origin, bodies):
        presigned = iter(range(10))

        async def presign(filename: str, content_type: str) -> tuple[str, str]:
            n = next(presigned)
            return f"{origin}/{n}?sig=secret{n}", f"{origin}/{n}?get=secret{n}"

        events: list[UploadProgress] = []
        async with PresignedPutUploader(presign) as uploader:
            urls = await upload_photos([prepared(0)], uploader, on_progress=events.append, **FAST)
    assert urls == [f"{origin}/1?get=secret1"]
    assert len(bodies) == 2
    assert [(e.state, e.attempt) for e in events] == [
        ("started", 1), ("retrying", 2), ("uploaded", 1)]
    assert "HTTP 503" in (events[1].error or "") and "secret0" not in (events[1].error or "")


async def test_a_refused_put_is_permanent_and_its_url_secret_stays_hidden() -> None:
    async with put_server([403]) as (origin, _):
        async def presign(filename: str, content_type: str) -> tuple[str, str]:
            return f"{origin}/a?X-Amz-Signature=topsecret", f"{origin}/a"

        async with PresignedPutUploader(presign) as uploader:
            with pytest.raises(UploadError) as caught:
                await upload_photos([prepared(0)], uploader, **FAST)
    reason = caught.value.failed[0]
    assert "HTTP 403" in reason and "topsecret" not in str(caught.value)


# --- upload_photos ------------------------------------------------------------------------------


class FakeUploader:
    """Records calls and the largest number of uploads in flight. ``fail[filename]`` is what
    each call does in turn (an error to raise, None to succeed); the last entry sticks."""

    def __init__(self, fail: dict[str, list[BaseException | None]] | None = None,
                 delay: float = 0.01) -> None:
        self.fail = fail or {}
        self.delay = delay
        self.calls: list[str] = []
        self.in_flight = 0
        self.peak = 0

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        self.calls.append(filename)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await anyio.sleep(self.delay)
            script = self.fail.get(filename)
            error = (script.pop(0) if len(script) > 1 else script[0]) if script else None
            if error is not None:
                raise error
            return f"https://store.example.com/{filename}"
        finally:
            self.in_flight -= 1


def test_fake_uploader_meets_the_protocol() -> None:
    assert isinstance(FakeUploader(), Uploader)


@pytest.mark.parametrize(("concurrency", "peak"), [(3, 3), (8, 8), (50, 20)])
async def test_concurrency_is_bounded(concurrency: int, peak: int) -> None:
    uploader = FakeUploader()
    urls = await upload_photos([prepared(i) for i in range(20)], uploader,
                               concurrency=concurrency)
    assert uploader.peak == peak and len(urls) == 20


async def test_default_concurrency_is_eight() -> None:
    uploader = FakeUploader()
    await upload_photos([prepared(i) for i in range(20)], uploader)
    assert uploader.peak == 8


async def test_transient_failures_are_retried_until_success() -> None:
    transient = StorageError("HTTP 503", transient=True, status=503)
    reset = aiohttp.ClientConnectionError("reset")
    uploader = FakeUploader({"photo-1.jpg": [transient, reset, None]})
    events: list[UploadProgress] = []
    urls = await upload_photos([prepared(0), prepared(1)], uploader, on_progress=events.append,
                               **FAST)
    assert urls == ["https://store.example.com/photo-0.jpg", "https://store.example.com/photo-1.jpg"]
    assert uploader.calls.count("photo-1.jpg") == 3
    mine = [(e.state, e.attempt) for e in events if e.index == 1]
    assert mine == [("started", 1), ("retrying", 2), ("retrying", 3), ("uploaded", 1)]
    assert events[-1].done == events[-1].total == 2


async def test_partial_failure_names_each_failed_photo_and_returns_nothing() -> None:
    uploader = FakeUploader({
        "photo-2.jpg": [StorageError("HTTP 403 Forbidden", transient=False, status=403)],
        "photo-4.jpg": [StorageError("HTTP 500", transient=True, status=500)],
        "photo-5.jpg": [ValueError("bug in a custom uploader")],
    })
    photos = [prepared(i) for i in range(6)]
    with pytest.raises(UploadError) as caught:
        await upload_photos(photos, uploader, retries=2, **FAST)
    error = caught.value
    assert sorted(error.failed) == [2, 4, 5]
    assert sorted(error.uploaded) == [0, 1, 3]
    assert "HTTP 403" in error.failed[2] and "ValueError" in error.failed[5]
    assert "3 of 6 photo upload(s) failed; nothing was sent to profiles/add" in str(error)
    assert "photos[4]: HTTP 500" in str(error)
    # Permanent errors and bugs are tried once; a transient one 1 + retries times.
    assert [uploader.calls.count(f"photo-{i}.jpg") for i in (2, 4, 5)] == [1, 3, 1]


async def test_urls_pass_through_in_input_order() -> None:
    uploader = FakeUploader()

    class Slower:
        async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
            # The first photos finish last: order must come from the input, not from completion.
            index = int(filename.removeprefix("photo-").removesuffix(".jpg"))
            await anyio.sleep(0.03 - 0.01 * index)
            return await uploader.upload(data, filename=filename, content_type=content_type)

    events: list[UploadProgress] = []
    photos = [prepared(0), remote(1), prepared(2), remote(3)]
    urls = await upload_photos(photos, Slower(), on_progress=events.append)
    assert urls == ["https://store.example.com/photo-0.jpg", "https://cdn.example.com/given-1.jpg",
                    "https://store.example.com/photo-2.jpg", "https://cdn.example.com/given-3.jpg"]
    assert sorted(uploader.calls) == ["photo-0.jpg", "photo-2.jpg"]
    assert {e.index for e in events} == {0, 2} and {e.total for e in events} == {2}
    assert await upload_photos([remote(0)], FakeUploader()) == [remote(0).url]


async def test_a_broken_progress_callback_loses_no_upload() -> None:
    def explode(event: UploadProgress) -> None:
        raise RuntimeError("progress bar bug")

    urls = await upload_photos([prepared(0), prepared(1)], FakeUploader(), on_progress=explode)
    assert len(urls) == 2


async def test_an_uploader_returning_no_url_is_a_failure() -> None:
    class Silent:
        async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
            return ""

    with pytest.raises(UploadError, match="not a URL"):
        await upload_photos([prepared(0)], Silent(), **FAST)


def test_transient_errors() -> None:
    assert is_transient(aiohttp.ClientConnectionError())
    assert is_transient(TimeoutError())
    assert is_transient(StorageError("x", transient=True))
    assert not is_transient(StorageError("x", transient=False))
    assert not is_transient(ValueError())
