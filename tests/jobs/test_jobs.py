"""Job and TrainingJob handles against the emulator in scaled time: every state path, the wire
variants of phota-api.md section 9, waiting (timeouts, many waiters, cancel, updates), tokens,
re-attaching, as_completed and gather, synchronous mode."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import phota_async
from phota_async import (
    AsyncPhota,
    ImageResult,
    InvalidInputError,
    Job,
    JobFailedError,
    JobSnapshot,
    JobState,
    JobTimeoutError,
    PhotaError,
    ProfileStatus,
    TrainingFailedError,
    TrainingJob,
)
from phota_async.emulator import Dialect, PhotaEmulator, sample_photo
from tests.conftest import (
    TIME_SCALE,
    job_gets,
    make_client,
    photo,
    training_photos,
    virtual_client,
    virtual_emulator,
    wait_until,
)

# A training of 2 emulated minutes: 0.2 s of real time at TIME_SCALE.
TRAINING_SECONDS = 120.0


@pytest.fixture
async def trainer() -> AsyncIterator[PhotaEmulator]:
    """An emulator whose trainings are short (0.2 s real)."""
    async with PhotaEmulator(time_scale=TIME_SCALE, training_seconds=TRAINING_SECONDS) as emu:
        yield emu


@asynccontextmanager
async def virtual(**options: Any) -> AsyncIterator[tuple[PhotaEmulator, AsyncPhota]]:
    """An emulator and a client in virtual time (for tests marked ``looptime``): a sleep of
    60 s is 60 s of job time, exactly, and takes no real time."""
    async with virtual_emulator(**options) as emu, virtual_client(emu) as phota:
        yield emu, phota


async def collect_statuses(job: Job, seen: list[str]) -> None:
    """Append each status ``job.updates()`` yields to ``seen``."""
    async for snapshot in job.updates():
        seen.append(snapshot.status)


# --- Submitting and resolving -------------------------------------------------------------


@pytest.mark.looptime
async def test_submit_returns_a_pending_job_at_once() -> None:
    async with virtual() as (emulator, phota):
        loop = asyncio.get_running_loop()
        started = loop.time()
        job = await phota.generate("a lighthouse at dusk", num_output_images=2)
        assert loop.time() - started < 1.0  # the 202, not the 55 s of work
        assert isinstance(job, Job) and job.id and job.id in emulator.jobs
        assert job.state is JobState.PENDING and not job.done() and job.status is None
        body = emulator.api_requests("/generate")[0].json()
        assert body["async"] is True and body["response_mode"] == "urls"
        assert body["client_request_id"] == job.client_request_id
        assert job_gets(emulator, job.id) == 0  # nobody waits yet: no polling

        result = await job
        assert isinstance(result, ImageResult) and result.job_id == job.id
        assert len(result.download_urls) == 2 and result.images == []
        assert job.done() and job.state is JobState.SUCCEEDED and job.status == "completed"
        assert await job is result  # awaiting a finished job again sends nothing
        gets = job_gets(emulator, job.id)
        assert 1 <= gets <= 4
        await job
        assert job_gets(emulator, job.id) == gets


async def test_a_given_client_request_id_is_sent(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.enhance(photo(1), client_request_id="order-17.item:3")
    assert job.client_request_id == "order-17.item:3"
    assert emulator.api_requests("/enhance")[0].json()["client_request_id"] == "order-17.item:3"
    assert len(await job) == 1


async def test_every_submit_mints_its_own_client_request_id(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    jobs = [await phota.generate("same prompt") for _ in range(3)]
    sent = [r.json()["client_request_id"] for r in emulator.api_requests("/generate")]
    assert sent == [j.client_request_id for j in jobs] and len(set(sent)) == 3
    assert len({j.id for j in jobs}) == 3


@pytest.mark.looptime
async def test_refresh_reads_the_status_now() -> None:
    async with virtual() as (emulator, phota):
        job = await phota.generate("a quiet harbour")
        snapshot = await job.refresh()
        assert isinstance(snapshot, JobSnapshot) and snapshot.job_id == job.id
        assert snapshot.state is JobState.PENDING and snapshot.status in ("queued", "running")
        assert job.status == snapshot.status and job.last is snapshot and not job.done()
        assert job_gets(emulator, job.id) == 1

        await asyncio.sleep(60)  # the job's 55 s are over on the emulator; nobody polled
        assert not job.done() and job_gets(emulator, job.id) == 1
        final = await job.refresh()
        assert final.state is JobState.SUCCEEDED and job.done() and job.status == "completed"
        assert len((await job).download_urls) == 1


@pytest.mark.looptime
async def test_a_timeout_leaves_the_job_and_its_handle_intact() -> None:
    async with virtual() as (_, phota):
        job = await phota.generate("a slow one")
        with pytest.raises(JobTimeoutError) as caught:
            await job.result(timeout=10)
        assert isinstance(caught.value, TimeoutError) and caught.value.job_id == job.id
        assert not job.done() and job.state is JobState.PENDING
        with pytest.raises(JobTimeoutError):
            await job.result(timeout=10)  # again: still fine
        result = await job.result(timeout=120)
        assert job.done() and len(result.download_urls) == 1


# --- Failures ---------------------------------------------------------------------------------


async def test_a_failed_job_raises_with_the_servers_reason(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("a picture [fail]")
    with pytest.raises(JobFailedError) as caught:
        await job
    error = caught.value
    assert error.job_id == job.id and error.status == "failed"
    assert error.reason == "Image generation failed" and error.error_type == "GENERATION_FAILED"
    assert job.done() and job.state is JobState.FAILED
    with pytest.raises(JobFailedError):
        await job  # the same outcome, every time


@pytest.mark.looptime
async def test_fail_job_reason_reaches_the_waiter() -> None:
    async with virtual() as (emulator, phota):
        job = await phota.edit("warmer", [photo(2)])
        waiter = asyncio.create_task(job.result())
        await asyncio.sleep(10)
        emulator.fail_job(job.id, "the GPU caught fire")
        with pytest.raises(JobFailedError, match="the GPU caught fire") as caught:
            await waiter
        assert caught.value.reason == "the GPU caught fire"


async def test_an_error_with_code_and_detail_is_read(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("x")
    await wait_until(lambda: emulator.jobs[job.id].status == "running")
    emulator.set_job_status(job.id, "FAILED", error={"code": "NSFW_OUTPUT", "detail": "blocked"})
    with pytest.raises(JobFailedError) as caught:
        await job
    assert (caught.value.reason, caught.value.error_type) == ("blocked", "NSFW_OUTPUT")
    assert caught.value.status == "FAILED"


async def test_unknown_statuses_keep_the_job_pending(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("a mystery")
    await wait_until(lambda: emulator.jobs[job.id].status == "running")
    emulator.set_job_status(job.id, "mystery")  # until the job's own next transition
    seen: list[str] = []
    watcher = asyncio.create_task(collect_statuses(job, seen))
    snapshot = await job.refresh()
    assert snapshot.status == "mystery" and snapshot.state is JobState.PENDING
    assert job.state is JobState.PENDING and not job.done()
    result = await job
    await watcher
    assert seen == ["mystery", "completed"] and len(result.download_urls) == 1
    assert job_gets(emulator, job.id) >= 2  # polling went on past the unknown word


# --- The wire variants of phota-api.md section 9 --------------------------------------------

SUCCESS_DIALECTS = {
    "upper": (Dialect(status_case="upper"), "COMPLETED"),
    "succeeded": (Dialect(status_words={"succeeded": "succeeded"}), "succeeded"),
    "success": (Dialect(status_words={"succeeded": "success"}), "success"),
    "done-upper": (Dialect(status_words={"succeeded": "done"}, status_case="upper"), "DONE"),
    "pending-words": (
        Dialect(status_words={"pending": "pending", "running": "in_progress"}), "completed"
    ),
    "starting-processing": (
        Dialect(status_words={"pending": "starting", "running": "processing"}), "completed"
    ),
    "id-key": (Dialect(id_key="id"), "completed"),
    "nested-result": (Dialect(result_nesting="result"), "completed"),
    "nested-output": (Dialect(result_nesting="output", id_key="id"), "completed"),
    "hint-retry-after-field": (Dialect(poll_hint="retry_after"), "completed"),
    "no-hints": (Dialect(poll_hints=False), "completed"),
}


@pytest.mark.parametrize("name", list(SUCCESS_DIALECTS))
async def test_every_success_dialect_resolves(name: str) -> None:
    dialect, word = SUCCESS_DIALECTS[name]
    async with PhotaEmulator(time_scale=TIME_SCALE, dialect=dialect) as emu, make_client(
        emu
    ) as phota:
        job = await phota.generate("a red door", num_output_images=2)
        result = await job.result(timeout=2.0)
        assert job.state is JobState.SUCCEEDED and job.status == word
        assert len(result.download_urls) == 2 and result.job_id == job.id
        images = await result.read()
        assert len(images) == 2 and all(images)


FAILURE_DIALECTS = {
    "error": (Dialect(status_words={"failed": "error"}), "error", "GENERATION_FAILED"),
    "cancelled": (Dialect(status_words={"failed": "cancelled"}), "cancelled", "GENERATION_FAILED"),
    "canceled-upper": (
        Dialect(status_words={"failed": "canceled"}, status_case="upper"), "CANCELED",
        "GENERATION_FAILED",
    ),
    "expired": (Dialect(status_words={"failed": "expired"}), "expired", "GENERATION_FAILED"),
    "timed_out": (Dialect(status_words={"failed": "timed_out"}), "timed_out", "GENERATION_FAILED"),
    "string-error": (Dialect(error_shape="string", id_key="id"), "failed", None),
}


@pytest.mark.parametrize("name", list(FAILURE_DIALECTS))
async def test_every_failure_dialect_raises_the_reason(name: str) -> None:
    dialect, word, error_type = FAILURE_DIALECTS[name]
    async with PhotaEmulator(time_scale=TIME_SCALE, dialect=dialect) as emu, make_client(
        emu
    ) as phota:
        job = await phota.generate("a blue door [fail]")
        with pytest.raises(JobFailedError) as caught:
            await job.result(timeout=2.0)
        assert caught.value.status == word and job.status == word
        assert caught.value.reason == "Image generation failed"
        assert caught.value.error_type == error_type
        assert job.state is JobState.FAILED


# --- Waiting ----------------------------------------------------------------------------------


async def test_many_waiters_share_one_poll(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    alone = await phota.generate("one waiter")
    crowded = await phota.generate("fifty waiters")
    results = await asyncio.gather(alone.result(), *(crowded.result() for _ in range(50)))
    assert all(r is results[1] for r in results[1:])  # one outcome, shared
    crowd_gets = job_gets(emulator, str(crowded.id))
    assert crowd_gets <= job_gets(emulator, str(alone.id)) + 1
    assert crowd_gets <= 4


@pytest.mark.looptime
async def test_cancel_stops_waiting_and_polling_then_await_works_again() -> None:
    async with virtual() as (emulator, phota):
        job = await phota.generate("to be abandoned")
        waiters = [asyncio.create_task(job.result()) for _ in range(3)]
        await asyncio.sleep(0.1)  # before the first poll (0.75 s)
        assert job.cancel() is True
        for waiter in waiters:
            with pytest.raises(asyncio.CancelledError):
                await waiter
        await asyncio.sleep(100)  # past the first poll's time and the job's end
        assert job_gets(emulator, str(job.id)) == 0 and phota.scheduler.pending == 0
        assert not job.done()
        result = await job.result(timeout=10)  # no server-side cancel: the result is there
        assert len(result.download_urls) == 1
        assert job.cancel() is False  # already finished


@pytest.mark.looptime
async def test_cancel_reaches_an_as_completed_waiter() -> None:
    async with virtual() as (emulator, phota):
        job = await phota.generate("abandoned in a batch")

        async def consume() -> list[Job]:
            return [j async for j in phota_async.as_completed([job])]  # type: ignore[misc]

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.1)  # before the first poll (0.75 s)
        job.cancel()
        done, _ = await asyncio.wait([consumer], timeout=1)
        if not done:
            consumer.cancel()
        assert done, "as_completed still waits on a cancelled job"
        with pytest.raises(asyncio.CancelledError):
            consumer.result()
        await asyncio.sleep(100)  # past the job's end: nobody waits, so nobody polled
        assert phota.scheduler.pending == 0 and job_gets(emulator, str(job.id)) == 0


async def test_cancel_reaches_an_updates_consumer(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("watched, then abandoned")
    seen: list[str] = []
    watcher = asyncio.create_task(collect_statuses(job, seen))
    await asyncio.sleep(0)
    await job.refresh()
    job.cancel()
    done, _ = await asyncio.wait([watcher], timeout=0.5)
    assert done and not job.done()
    with pytest.raises(asyncio.CancelledError):
        watcher.result()


async def test_updates_yield_each_status_once_ending_with_the_final_one(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("watch me")
    seen: list[str] = []
    watcher = asyncio.create_task(collect_statuses(job, seen))
    await asyncio.sleep(0)
    await job.refresh()  # while queued: that status is seen too
    await asyncio.wait_for(watcher, 2.0)
    assert seen[0] == "queued" and seen[-1] == "completed"
    assert len(seen) == len(set(seen))
    assert seen in (["queued", "running", "completed"], ["queued", "completed"])
    assert job.done()
    late = [s.status async for s in job.updates()]
    assert late == ["completed"]  # a finished job gives its final status


# --- Tokens and re-attaching --------------------------------------------------------------------


def token_payload(token: str) -> dict[str, Any]:
    prefix, _, body = token.partition(".")
    assert prefix == "phj1"
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


async def test_a_token_holds_no_key_and_reattaches_on_another_client(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.edit("warmer", [photo(3)], num_output_images=2)
    token = job.to_token()
    assert emulator.api_key not in token
    payload = token_payload(token)
    assert payload["id"] == job.id
    assert emulator.api_key not in json.dumps(payload)
    assert emulator.api_key not in repr(job)

    async with make_client(emulator) as second:  # as after a restart
        again = second.jobs.from_token(token)
        assert isinstance(again, Job) and again is not job
        assert (again.id, again.client_request_id, again.endpoint) == (
            job.id, job.client_request_id, "edit"
        )
        assert second.jobs.from_token(token) is again  # one handle per job and client
        result = await again.result(timeout=2.0)
        assert len(result.download_urls) == 2
    assert not job.done()  # the first handle knows nothing of it until it looks
    assert (await job).download_urls == result.download_urls


async def test_a_training_token_reattaches_a_training(trainer: PhotaEmulator) -> None:
    async with make_client(trainer) as phota:
        training = await phota.profiles.create(training_photos(10))
        token = training.to_token()
    async with make_client(trainer) as second:
        again = second.jobs.from_token(token)
        assert isinstance(again, TrainingJob) and again.profile_id == training.profile_id
        profile = await again.result(timeout=2.0)
        assert profile.status == ProfileStatus.READY


def forge(payload: object) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return "phj1." + raw


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "phj1.",
        "phj1.%%%%",
        "phj1." + base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        forge([1, 2]),
        forge({"k": "image"}),
        forge({"k": "video", "id": "job_1"}),
        forge({"k": "image", "id": ""}),
        forge({"k": "image", "id": 42}),
    ],
)
async def test_garbage_tokens_are_refused(phota: AsyncPhota, token: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        phota.jobs.from_token(token)
    assert "token" in str(caught.value)


async def test_a_token_with_a_path_in_its_id_is_refused(phota: AsyncPhota) -> None:
    with pytest.raises(InvalidInputError):
        phota.jobs.attach("../profiles/ids")
    with pytest.raises(InvalidInputError):
        phota.jobs.from_token(forge({"k": "image", "id": "../profiles/ids"}))


async def test_a_token_for_another_api_is_refused(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    token = (await phota.generate("x")).to_token()
    async with make_client(emulator, base_url="http://127.0.0.1:9/v1/phota") as other:
        with pytest.raises(InvalidInputError, match="another API base URL"):
            other.jobs.from_token(token)


async def test_a_synchronous_job_has_no_token(phota: AsyncPhota) -> None:
    job = await phota.generate("right now", mode="sync")
    with pytest.raises(PhotaError):
        job.to_token()


async def test_attach_by_id(phota: AsyncPhota, emulator: PhotaEmulator) -> None:
    job = await phota.generate("attach me")
    assert phota.jobs.attach(str(job.id)) is job  # the same handle within one client
    async with make_client(emulator) as second:
        attached = second.jobs.attach(str(job.id))
        assert attached is second.jobs.attach(str(job.id)) and attached is not job
        assert attached.state is JobState.PENDING and attached.status is None
        assert len((await attached.result(timeout=2.0)).download_urls) == 1
        snapshot = await second.jobs.get(str(job.id))
        assert snapshot.state is JobState.SUCCEEDED and snapshot.job_id == job.id


# --- Many jobs: as_completed and gather -------------------------------------------------------


async def test_as_completed_yields_in_completion_order() -> None:
    seconds = {"enhance": 10.0, "remix": 60.0, "edit": 150.0}
    async with PhotaEmulator(time_scale=TIME_SCALE, job_seconds=seconds) as emu, make_client(
        emu
    ) as phota:
        slow = await phota.edit("slow", [photo(1)])
        middle = await phota.remix(photo(2), photo(3))
        fast = await phota.enhance(photo(4))
        order = [job async for job in phota_async.as_completed([slow, middle, fast])]
        assert order == [fast, middle, slow]
        assert all(job.done() for job in order)


async def test_as_completed_gives_failed_jobs_too(phota: AsyncPhota) -> None:
    good = await phota.generate("fine")
    bad = await phota.generate("broken [fail]")
    seen = [job async for job in phota_async.as_completed([good, bad, good])]
    assert sorted(map(id, seen)) == sorted(map(id, [good, bad]))  # duplicates count once
    with pytest.raises(JobFailedError):
        await bad
    assert len((await good).download_urls) == 1


@pytest.mark.looptime
async def test_as_completed_timeout() -> None:
    async with virtual() as (_, phota):
        jobs = [await phota.generate(f"slow {i}") for i in range(3)]
        with pytest.raises(JobTimeoutError):
            async for _ in phota_async.as_completed(jobs, timeout=20):
                pytest.fail("no job can finish in 20 s")
        assert not any(job.done() for job in jobs)
        results = await phota_async.gather(jobs)  # the jobs went on
        assert all(isinstance(r, ImageResult) for r in results)


@pytest.mark.looptime
async def test_as_completed_timeout_while_the_caller_is_busy() -> None:
    # The deadline passes while the caller works on the first result: the next step of the
    # iteration raises JobTimeoutError (not a stray CancelledError in the caller's own code).
    async with virtual(job_seconds={"enhance": 10.0, "generate": 300.0}) as (_, phota):
        jobs = [await phota.enhance(photo(1)), await phota.generate("a long one")]
        handled: list[object] = []
        with pytest.raises(JobTimeoutError):
            async for job in phota_async.as_completed(jobs, timeout=60):
                handled.append(job)
                await asyncio.sleep(70)  # work on the first result: the deadline passes here
        assert handled == [jobs[0]] and not jobs[1].done()
        assert len((await jobs[1].result(timeout=400)).download_urls) == 1


async def test_gather_returns_results_and_errors_in_order(phota: AsyncPhota) -> None:
    jobs = [
        await phota.generate("first"),
        await phota.generate("second [fail]"),
        await phota.enhance(photo(5)),
    ]
    results = await phota_async.gather(jobs, return_exceptions=True)
    assert isinstance(results[0], ImageResult) and results[0].job_id == jobs[0].id
    assert isinstance(results[1], JobFailedError) and results[1].job_id == jobs[1].id
    assert isinstance(results[2], ImageResult) and results[2].job_id == jobs[2].id
    with pytest.raises(JobFailedError):
        await phota_async.gather(jobs)


# --- Synchronous mode -------------------------------------------------------------------------


async def test_sync_mode_returns_a_finished_job_with_bytes(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.edit("now, please", [photo(6)], mode="sync", num_output_images=2)
    assert isinstance(job, Job) and job.done() and job.state is JobState.SUCCEEDED
    body = emulator.api_requests("/edit")[0].json()
    assert body["async"] is False and body["response_mode"] == "bytes"
    result = await job
    assert len(result.images) == 2 and all(isinstance(i, bytes) and i for i in result.images)
    assert result.download_urls == [] and await result.read() == result.images
    assert emulator.api_requests("/jobs/*") == []
    assert [j async for j in phota_async.as_completed([job])] == [job]


# --- Trainings --------------------------------------------------------------------------------


async def test_training_resolves_to_a_ready_profile_through_the_statuses(
    trainer: PhotaEmulator,
) -> None:
    async with make_client(trainer) as phota:
        training = await phota.profiles.create(training_photos(10), tag="user-42")
        assert isinstance(training, TrainingJob) and not training.done()
        seen: list[str] = []

        async def watch() -> None:
            async for profile in training.updates():
                seen.append(str(profile.status))

        watcher = asyncio.create_task(watch())
        profile = await training.result(timeout=3.0)
        await watcher
        assert profile.status == ProfileStatus.READY and profile.ready
        assert profile.profile_id == training.profile_id
        assert training.state is JobState.SUCCEEDED and training.status == ProfileStatus.READY
        assert seen[0] == "VALIDATING" and seen[-1] == "READY"
        assert len(seen) == len(set(seen))
        order = ["VALIDATING", "QUEUING", "IN_PROGRESS", "READY"]
        assert [s for s in order if s in seen] == seen


async def test_training_of_uniform_photos_fails_with_the_servers_message(
    trainer: PhotaEmulator,
) -> None:
    async with make_client(trainer) as phota:
        photos = [sample_photo(i, uniform=True, size=1024) for i in range(10)]
        training = await phota.profiles.create(photos)
        with pytest.raises(TrainingFailedError) as caught:
            await training.result(timeout=3.0)
        assert caught.value.status == "ERROR" and caught.value.profile_id == training.profile_id
        assert caught.value.server_message == "No subject could be detected in the training photos"
        assert training.state is JobState.FAILED


async def test_a_deactivated_profile_fails_its_training(trainer: PhotaEmulator) -> None:
    async with make_client(trainer) as phota:
        training = await phota.profiles.create(training_photos(10))
        waiter = asyncio.create_task(training.result(timeout=3.0))
        await asyncio.sleep(0.02)
        trainer.deactivate_profile(training.profile_id)
        with pytest.raises(TrainingFailedError) as caught:
            await waiter
        assert caught.value.status == "INACTIVE"
        assert training.status == ProfileStatus.INACTIVE and training.done()


async def test_training_reattaches_by_profile_id(trainer: PhotaEmulator) -> None:
    async with make_client(trainer) as phota:
        training = await phota.profiles.create(training_photos(10))
        assert phota.profiles.training(training.profile_id) is training
    async with make_client(trainer) as second:
        again = second.profiles.training(training.profile_id)
        assert again is not training and again.status is None
        profile = await again.result(timeout=3.0)
        assert profile.status == ProfileStatus.READY
        assert (await second.profiles.training(training.profile_id)) == profile


# --- A closed client --------------------------------------------------------------------------


async def test_a_closed_client_does_not_come_back_to_life(emulator: PhotaEmulator) -> None:
    async with make_client(emulator) as phota:
        job = await phota.generate("outlives its client")
    try:
        with pytest.raises(PhotaError):  # a clear error: re-attach on an open client
            await job.result(timeout=1.0)
        assert phota.scheduler.task_count == 0
    finally:
        await phota.aclose()
    async with make_client(emulator) as second:  # the way that works
        assert len((await second.jobs.from_token(job.to_token())).download_urls) == 1
