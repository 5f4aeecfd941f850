"""Signed callbacks end to end: the emulator POSTs to a small aiohttp app on loopback that routes
to ``phota.webhooks.aiohttp_handler()``; the job then resolves from one confirming GET."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from phota_async import (
    AsyncPhota,
    ImageResult,
    JobFailedError,
    JobSnapshot,
    JobState,
    PollConfig,
    WebhookVerificationError,
)
from phota_async.emulator import CallbackPolicy, Dialect, PhotaEmulator, sign
from tests.conftest import (
    TIME_SCALE,
    job_gets,
    make_client,
    virtual_client,
    virtual_emulator,
    wait_until,
)

SIGNATURE = "X-Phota-Signature"
# Jobs of 10 emulated seconds (17 ms real): the callback comes long before the first poll.
FAST_JOBS = {"generate": 10.0, "edit": 10.0, "enhance": 10.0, "remix": 10.0}


class Receiver:
    """A loopback aiohttp app whose ``/cb`` is the SDK's ready-made handler."""

    def __init__(self, phota: AsyncPhota) -> None:
        self.handler = phota.webhooks.aiohttp_handler()
        self.arrivals: list[float] = []  # time.time() of each callback
        self.answers: list[int] = []
        self.answered = asyncio.Event()  # set at the first answer
        self.url = ""

    async def route(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append(time.time())
        response = await self.handler(request)
        self.answers.append(response.status)
        self.answered.set()
        return response


@asynccontextmanager
async def receiver(phota: AsyncPhota) -> AsyncIterator[Receiver]:
    rec = Receiver(phota)
    app = web.Application()
    app.router.add_post("/cb", rec.route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
    try:
        yield rec
    finally:
        await runner.cleanup()


def callback_client(emu: PhotaEmulator) -> AsyncPhota:
    """A client whose first poll of a job with a callback comes only after ~2 real seconds, so
    that a job resolved sooner was resolved by its callback."""
    return make_client(emu, poll=PollConfig(time_scale=TIME_SCALE, callback_grace=20.0))


@asynccontextmanager
async def setup(
    *, dialect: Dialect | None = None, policy: CallbackPolicy | None = None
) -> AsyncIterator[tuple[PhotaEmulator, AsyncPhota, Receiver]]:
    async with PhotaEmulator(
        time_scale=TIME_SCALE, job_seconds=FAST_JOBS, dialect=dialect, callbacks=policy
    ) as emu, callback_client(emu) as phota, receiver(phota) as rec:
        yield emu, phota, rec


async def post(url: str, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE] = signature
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body, headers=headers
    ) as response:
        return response.status


# --- Resolution by callback -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["hex", "sha256=", "base64"])
async def test_a_callback_resolves_the_job_with_one_confirming_get(encoding: str) -> None:
    async with setup(policy=CallbackPolicy(encoding=encoding)) as (emu, phota, rec):  # type: ignore[arg-type]
        job = await phota.generate("a lighthouse", callback_url=rec.url, num_output_images=2)
        assert emu.api_requests("/generate")[0].json()["callback_url"] == rec.url
        result = await job.result(timeout=30)
        assert isinstance(result, ImageResult) and len(result.download_urls) == 2
        assert rec.answers == [204] and [d.status for d in emu.callback_deliveries] == [204]
        assert job_gets(emu, job.id) == 1
        get = emu.api_requests(f"/jobs/{job.id}")[0]
        assert get.time >= emu.jobs[str(job.id)].due_at  # it confirmed, after the callback
        assert job.resolved_at is not None and rec.arrivals  # resolved on the callback's word
        await asyncio.sleep(0.05)
        assert job_gets(emu, job.id) == 1 and phota.scheduler.pending == 0


async def test_a_failed_job_is_reported_by_its_callback() -> None:
    async with setup() as (emu, phota, rec):
        job = await phota.generate("a wall [fail]", callback_url=rec.url)
        with pytest.raises(JobFailedError, match="Image generation failed"):
            await job.result(timeout=30)
        assert rec.answers == [204] and job_gets(emu, job.id) == 1


async def test_callbacks_in_another_dialect() -> None:
    dialect = Dialect(id_key="id", status_case="upper", result_nesting="output",
                      secret_key="signing_secret")
    async with setup(dialect=dialect, policy=CallbackPolicy(encoding="base64")) as (
        emu, phota, rec
    ):
        job = await phota.generate("a harbour", callback_url=rec.url)
        result = await job.result(timeout=30)
        assert len(result.download_urls) == 1 and job.status == "COMPLETED"
        assert rec.answers == [204] and job_gets(emu, job.id) == 1


async def test_duplicated_callbacks_do_nothing_twice() -> None:
    async with setup(policy=CallbackPolicy(duplicate=True)) as (emu, phota, rec):
        job = await phota.generate("twice", callback_url=rec.url)
        result = await job.result(timeout=30)
        await wait_until(lambda: len(emu.callback_deliveries) == 2)
        await asyncio.sleep(0.02)
        assert rec.answers == [204, 204]
        assert job_gets(emu, job.id) == 1  # one confirming GET for two callbacks
        assert await job is result and job.state is JobState.SUCCEEDED
        assert [c.kind for c in emu.ledger].count("image") == 1


async def test_a_replayed_callback_after_resolution_does_nothing() -> None:
    async with setup() as (emu, phota, rec):
        job = await phota.generate("replay me", callback_url=rec.url)
        result = await job.result(timeout=30)
        delivery = emu.callback_deliveries[0]
        for _ in range(3):
            assert await post(rec.url, delivery.body, delivery.signature) == 204
        assert job_gets(emu, job.id) == 1 and await job is result
        assert await phota.webhooks.handle(delivery.body, {SIGNATURE: delivery.signature}) is job
        assert job_gets(emu, job.id) == 1


async def test_a_callback_for_a_job_nobody_waits_on_updates_its_handle() -> None:
    async with setup() as (emu, phota, rec):
        job = await phota.generate("unwatched", callback_url=rec.url)
        await wait_until(lambda: rec.answers == [204])
        await wait_until(job.done)  # brought up to date by the handler's one GET
        assert job.state is JobState.SUCCEEDED and job_gets(emu, job.id) == 1
        assert len((await job).download_urls) == 1
        assert job_gets(emu, job.id) == 1


async def test_polling_still_resolves_when_callbacks_never_come() -> None:
    async with PhotaEmulator(
        time_scale=TIME_SCALE, callbacks=CallbackPolicy(drop=True)
    ) as emu, make_client(emu) as phota, receiver(phota) as rec:
        job = await phota.generate("into the void", callback_url=rec.url)
        result = await job.result(timeout=30)
        assert len(result.download_urls) == 1
        assert rec.arrivals == [] and emu.callback_deliveries == []


@pytest.mark.looptime
async def test_a_late_callback_after_polling_resolved_does_nothing() -> None:
    # In virtual time (no race with a loaded machine): a 10 s job whose callback comes five
    # minutes late is resolved by its safety-net poll (at 77 s: 70% of the docs' 55 s, times the
    # callback grace); the callback, when it comes, finds nothing to do.
    late = CallbackPolicy(delay=300.0)
    async with virtual_emulator(job_seconds=FAST_JOBS, callbacks=late) as emu, virtual_client(
        emu
    ) as phota, receiver(phota) as rec:
        job = await phota.generate("slow mail", callback_url=rec.url)
        result = await job  # polling found it first
        assert rec.arrivals == [] and emu.now() < 300
        gets = job_gets(emu, job.id)
        async with asyncio.timeout(400):  # virtual seconds
            await rec.answered.wait()
        assert rec.answers == [204] and emu.now() >= 310
        assert job_gets(emu, job.id) == gets == 1 and await job is result


# --- Verification ----------------------------------------------------------------------------


async def test_verify_accepts_the_real_signature_and_refuses_tampering() -> None:
    async with setup() as (emu, phota, rec):
        job = await phota.generate("sign me", callback_url=rec.url)
        await job.result(timeout=30)
        delivery = emu.callback_deliveries[0]
        body, signature = delivery.body, delivery.signature

        snapshot = await phota.webhooks.verify(body, {"x-phota-signature": signature})
        assert isinstance(snapshot, JobSnapshot) and snapshot.job_id == job.id
        assert snapshot.state is JobState.SUCCEEDED

        tampered = body.replace(b"completed", b"completes")
        assert tampered != body
        flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
        for bad_body, headers in [
            (tampered, {SIGNATURE: signature}),
            (body + b" ", {SIGNATURE: signature}),
            (body, {SIGNATURE: flipped}),
            (body, {SIGNATURE: sign("another-secret", body)}),
            (body, {SIGNATURE: "not a signature"}),
            (body, {SIGNATURE: ""}),
            (body, {}),
        ]:
            with pytest.raises(WebhookVerificationError):
                await phota.webhooks.verify(bad_body, headers)
        with pytest.raises(WebhookVerificationError):
            await phota.webhooks.verify(json.loads(body), {SIGNATURE: signature})  # type: ignore[arg-type]

        gets = job_gets(emu, job.id)
        assert await post(rec.url, tampered, signature) == 401
        assert await post(rec.url, body, flipped) == 401
        assert await post(rec.url, body, None) == 401
        assert job_gets(emu, job.id) == gets  # nothing was looked up for a forged callback


async def test_a_forged_callback_does_not_resolve_a_pending_job() -> None:
    async with PhotaEmulator(time_scale=TIME_SCALE) as emu, callback_client(
        emu
    ) as phota, receiver(phota) as rec:
        job = await phota.generate("wait for it", callback_url=rec.url)
        forged = json.dumps({"job_id": job.id, "status": "completed",
                             "download_urls": ["http://127.0.0.1:1/x.jpg"]}).encode()
        assert await post(rec.url, forged, sign("guessed-secret", forged)) == 401
        assert not job.done() and job_gets(emu, job.id) == 0


async def test_a_signed_callback_that_lies_is_checked_against_the_server() -> None:
    # The callback only says where to look: a validly signed "completed" for a running job
    # triggers a GET, and the job stays pending as the server says.
    async with PhotaEmulator(time_scale=TIME_SCALE) as emu, callback_client(
        emu
    ) as phota, receiver(phota) as rec:
        job = await phota.generate("not yet", callback_url=rec.url)
        waiter = asyncio.create_task(job.result(timeout=3.0))
        await asyncio.sleep(0.01)
        body = json.dumps({"job_id": job.id, "status": "completed"}).encode()
        assert await post(rec.url, body, sign(emu.webhook_secret, body)) == 204
        await wait_until(lambda: job_gets(emu, job.id) == 1)
        await asyncio.sleep(0.01)
        assert not job.done() and job.status in ("queued", "running")
        assert len((await waiter).download_urls) == 1


@pytest.mark.parametrize("secret_key", ["secret", "webhook_secret", "signing_secret"])
async def test_the_secret_is_fetched_once(secret_key: str) -> None:
    dialect = Dialect(secret_key=secret_key)  # type: ignore[arg-type]
    async with PhotaEmulator(
        time_scale=TIME_SCALE, dialect=dialect, webhook_secret="whsec-" + secret_key
    ) as emu, make_client(emu) as phota:
        secrets = await asyncio.gather(*(phota.webhooks.secret() for _ in range(5)))
        assert secrets == ["whsec-" + secret_key] * 5
        body = b'{"job_id": "job_1", "status": "completed"}'
        for encoding in ("hex", "sha256=", "base64"):
            signature = sign(emu.webhook_secret, body, encoding)  # type: ignore[arg-type]
            assert (await phota.webhooks.verify(body, {SIGNATURE: signature})).job_id == "job_1"
        assert len(emu.api_requests("/webhook-secret", "GET")) == 1


async def test_handle_for_an_unknown_job_returns_none(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    body = json.dumps({"job_id": "job_someone_elses", "status": "completed"}).encode()
    handled = await phota.webhooks.handle(body, {SIGNATURE: sign(emulator.webhook_secret, body)})
    assert handled is None
    assert emulator.api_requests("/jobs/*") == []


async def test_handle_for_a_job_of_another_client_returns_none(emulator: PhotaEmulator) -> None:
    async with make_client(emulator) as submitter:
        job = await submitter.generate("theirs")
    async with make_client(emulator) as other:
        body = json.dumps({"job_id": job.id, "status": "completed"}).encode()
        signature = sign(emulator.webhook_secret, body)
        assert await other.webhooks.handle(body, {SIGNATURE: signature}) is None
        attached = other.jobs.attach(str(job.id))  # as the docstring says: attach it
        assert await other.webhooks.handle(body, {SIGNATURE: signature}) is attached
