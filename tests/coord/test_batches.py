"""The Redis side of distributed batches: the journal and the arq item worker.

These test private units (``phota_async._coord.journal``, ``phota_async._coord.queue``): the
batch runner that will make them public is not built yet. The item runner here is a stand-in
that does what the runner's item will do: journal its intent, submit with a deterministic
``client_request_id``, journal the job, await it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from phota_async import AsyncPhota, CoordinationError, InvalidInputError
from phota_async._coord.journal import RedisJournal
from phota_async._coord.queue import enqueue_items, run_batch_item, worker_settings
from phota_async.emulator import PhotaEmulator
from tests.conftest import make_client
from tests.coord.conftest import RedisServer, free_port


@pytest.fixture
async def journal(redis_server: RedisServer) -> AsyncIterator[RedisJournal]:
    journal = RedisJournal.from_url(redis_server.url, "batch-1")
    await journal.open("fingerprint")
    try:
        yield journal
    finally:
        await journal.aclose()


# --- The journal ---------------------------------------------------------------------------


async def test_entries_merge_and_are_seen_by_every_worker(
    journal: RedisJournal, redis_server: RedisServer
) -> None:
    await journal.record("alice/studio", {"client_request_id": "batch-1.alice.studio"})
    await journal.record("alice/studio", {"job_id": "job_1", "state": "ok"})
    await journal.record("bob/studio", {"client_request_id": "batch-1.bob.studio"})
    other = RedisJournal.from_url(redis_server.url, "batch-1")
    try:
        assert await other.entry("alice/studio") == {
            "client_request_id": "batch-1.alice.studio", "job_id": "job_1", "state": "ok"
        }
        assert await other.entry("carol/studio") == {}
        assert sorted(await other.entries()) == ["alice/studio", "bob/studio"]
    finally:
        await other.aclose()


async def test_a_claim_is_held_by_one_worker_at_a_time(journal: RedisJournal) -> None:
    assert await journal.claim("alice", "worker-a", lease=60)
    assert not await journal.claim("alice", "worker-b", lease=60)
    await journal.release("alice", "worker-b")  # not its claim: nothing happens
    assert not await journal.claim("alice", "worker-b", lease=60)
    await journal.release("alice", "worker-a")
    assert await journal.claim("alice", "worker-b", lease=60)


@pytest.mark.parametrize("batch_id", ["", "a b", "x" * 65, "batch/1", None])
def test_a_bad_batch_id_is_refused(batch_id: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RedisJournal(object(), batch_id)  # type: ignore[arg-type]
    assert caught.value.field == "batch_id"


async def test_a_bad_item_key_is_refused(journal: RedisJournal) -> None:
    for key in ("", "k" * 257):
        with pytest.raises(InvalidInputError) as caught:
            await journal.record(key, {"state": "ok"})
        assert caught.value.field == "item_key"


async def test_a_journal_without_redis_stops_the_batch() -> None:
    journal = RedisJournal.from_url(f"redis://:pw-123@127.0.0.1:{free_port()}/0", "batch-1")
    try:
        with pytest.raises(CoordinationError) as caught:
            await journal.record("alice", {"client_request_id": "x"})
        assert "batch-1" in str(caught.value) and "pw-123" not in str(caught.value)
    finally:
        await journal.aclose()


# --- The arq worker ------------------------------------------------------------------------


def runner_for(phota: AsyncPhota) -> Any:
    async def run_item(batch_id: str, item_key: str, journal: RedisJournal) -> str:
        request_id = f"{batch_id}.{item_key}"
        await journal.record(item_key, {"client_request_id": request_id})  # before paying
        job = await phota.generate(f"headshot {item_key}", client_request_id=request_id)
        await journal.record(item_key, {"job_id": str(job.id)})
        await job.result(timeout=10.0)
        return "ok"

    return run_item


async def run_worker(redis_url: str, phota: AsyncPhota) -> None:
    """One arq worker in burst mode: it runs what is queued, then returns."""
    from arq.worker import Worker

    settings = worker_settings(redis_url, runner_for(phota), max_jobs=4)
    worker = Worker(**settings, burst=True, handle_signals=False, poll_delay=0.01)
    try:
        await worker.main()
    finally:
        await worker.close()


# arq's Worker.close() calls a redis-py method that redis-py 5 deprecates: arq's, not ours.
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_batch_over_arq_bills_each_item_once(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    keys = [f"person-{i}" for i in range(8)]
    try:
        assert await enqueue_items(pool, "batch-7", keys) == 8
        assert await enqueue_items(pool, "batch-7", keys) == 0  # queued already: nothing new
        async with make_client(emulator) as phota:
            await run_worker(redis_server.url, phota)
        journal = RedisJournal(pool, "batch-7")
        entries = await journal.entries()
        assert sorted(entries) == keys and {e["state"] for e in entries.values()} == {"ok"}
        charges = [c.client_request_id for c in emulator.ledger if c.kind == "image"]
        assert sorted(charges) == sorted(f"batch-7.{k}" for k in keys)
    finally:
        await pool.aclose()


async def test_an_item_run_again_after_a_crash_is_not_billed_twice(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    try:
        async with make_client(emulator) as phota:
            ctx = {"redis": pool, "phota_run_item": runner_for(phota)}
            # A worker journaled its intent, submitted, and died before journaling the job.
            journal = RedisJournal(pool, "batch-8")
            await journal.record("alice", {"client_request_id": "batch-8.alice"})
            await phota.generate("headshot alice", client_request_id="batch-8.alice")
            # Another worker takes the item over: same id, the server returns the same job.
            assert await run_batch_item(ctx, "batch-8", "alice") == "ok"
            # A late second delivery of a finished item does nothing.
            assert await run_batch_item(ctx, "batch-8", "alice") == "ok"
        assert [c.client_request_id for c in emulator.ledger if c.kind == "image"] == [
            "batch-8.alice"
        ]
        assert len(emulator.api_requests("/generate")) == 2  # the resend returned the original
    finally:
        await pool.aclose()


async def test_a_runner_returning_no_final_state_is_an_error(redis_server: RedisServer) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    async def confused(batch_id: str, item_key: str, journal: RedisJournal) -> str:
        return "maybe"

    pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    try:
        with pytest.raises(ValueError, match="not one of"):
            await run_batch_item({"redis": pool, "phota_run_item": confused}, "b", "k")
        assert await RedisJournal(pool, "b").entry("k") == {}  # nothing journaled as done
    finally:
        await pool.aclose()
