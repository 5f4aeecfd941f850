"""The batch journal on a real Redis: one journal protocol (the batch's), shared by workers, bound
to its batch, claimed item by item, expiring with the batch, and failing cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from phota_async import (
    AsyncPhota,
    Batch,
    ImageTask,
    InvalidInputError,
    Journal,
    JournalError,
    RedisJournal,
)
from phota_async.batch import ItemRecord, Stage
from tests.batch.conftest import billed, client, emu, run_batch  # noqa: F401 - fixtures
from tests.coord.conftest import RedisServer, free_port

PASSWORD = "s3cret-pw-123"


@pytest.fixture
async def journal(redis_server: RedisServer) -> AsyncIterator[RedisJournal]:
    journal = RedisJournal.from_url(redis_server.url, "batch-1")
    await journal.open()
    try:
        yield journal
    finally:
        await journal.aclose()


def record(key: str, stage: Stage = Stage.SENDING, **fields: Any) -> ItemRecord:
    return ItemRecord(key, "image", stage, 12, client_request_id=f"pb.batch-1.{key}", **fields)


async def test_what_one_worker_writes_every_worker_reads(
    journal: RedisJournal, redis_server: RedisServer
) -> None:
    assert isinstance(journal, Journal)  # the batch's one protocol
    saved = record("cat-1", Stage.SAVED, job_id="job_1", paths=("cat-1-0.jpg",))
    await journal.write(record("cat-1"))
    await journal.write(saved)  # replaces the intent
    await journal.write(record("cat-2"))
    await journal.set_meta("account", "abc")
    other = RedisJournal.from_url(redis_server.url, "batch-1")
    try:
        assert await other.records() == {"cat-1": saved, "cat-2": record("cat-2")}
        assert await other.get_meta("account") == "abc"
        assert await other.get_meta("nothing") is None
        assert await other.scoped(["cat-2", "cat-9"]).records() == {"cat-2": record("cat-2")}
        assert await RedisJournal.from_url(redis_server.url, "batch-2").records() == {}
    finally:
        await other.aclose()


async def test_a_batch_runs_on_a_redis_journal_and_resumes_without_paying_again(
    client: AsyncPhota, emu: Any, redis_server: RedisServer, tmp_path: Path  # noqa: F811
) -> None:
    tasks = [ImageTask.generate(f"cat-{i}", f"A cat, take {i}") for i in range(3)]

    def fresh() -> RedisJournal:  # a batch closes its journal when it ends
        return RedisJournal.from_url(redis_server.url, "cats")

    # Stopped once the second job was accepted but before it was journaled.
    assert await run_batch(client, tmp_path, tasks, journal=fresh(), batch_id="cats",
                           crash="submit:5") is None
    results = await run_batch(client, tmp_path, tasks, journal=fresh(), batch_id="cats")
    assert results is not None and all(r.ok for r in results)
    assert billed(emu, "image") == 3
    again = await run_batch(client, tmp_path, tasks, journal=fresh(), batch_id="cats")
    assert again is not None and all(r.ok and r.resumed for r in again)
    assert billed(emu, "image") == 3
    assert {r.stage for r in (await fresh().records()).values()} == {Stage.SAVED}


async def test_another_batch_under_one_id_is_refused_and_the_same_one_resumes(
    journal: RedisJournal, redis_server: RedisServer
) -> None:
    await journal.bind("items: alice, bob")
    other = RedisJournal.from_url(redis_server.url, "batch-1")
    try:
        with pytest.raises(JournalError) as caught:
            await other.bind("items: carol")
        assert "another batch" in str(caught.value) and "'batch-1'" in str(caught.value)
        await other.bind("items: alice, bob")  # the same batch, from another worker
        await RedisJournal.from_url(redis_server.url, "batch-2").bind("items: carol")
    finally:
        await other.aclose()


async def test_a_claim_is_held_by_one_worker_at_a_time(journal: RedisJournal) -> None:
    assert await journal.claim("alice", "worker-a", lease=60)
    assert not await journal.claim("alice", "worker-b", lease=60)
    assert not await journal.release("alice", "worker-b")  # not its claim: nothing happens
    assert not await journal.claim("alice", "worker-b", lease=60)
    assert await journal.release("alice", "worker-a")
    assert await journal.claim("alice", "worker-b", lease=60)
    # worker-b dies holding alice and bob; restarted under its name, it takes them back.
    assert await journal.claim("bob", "worker-b", lease=60)
    assert await journal.held_by("worker-b") == ["alice", "bob"]
    assert await journal.take_back("worker-b") == ["alice", "bob"]
    assert await journal.held_by("worker-b") == []
    assert await journal.claim("bob", "worker-a", lease=60)


async def test_a_batch_expires_a_lifetime_after_its_last_write(
    redis_server: RedisServer, raw_redis: Any
) -> None:
    journal = RedisJournal.from_url(redis_server.url, "short", ttl=100, prefix="app")
    try:
        await journal.bind("items")
        await journal.write(record("cat-1"))
        await journal.claim("cat-1", "worker-a", lease=5.0)
        ttls = {key.decode(): await raw_redis.ttl(key) for key in await raw_redis.keys("app:*")}
    finally:
        await journal.aclose()
    assert set(ttls) == {"app:batch:short:meta", "app:batch:short:records",
                         "app:batch:short:claim:cat-1", "app:batch:short:held:worker-a"}
    assert all(0 < ttl <= (5 if ":claim:" in k or ":held:" in k else 100)
               for k, ttl in ttls.items()), ttls


async def test_without_redis_the_journal_stops_the_batch_before_it_pays(
    client: AsyncPhota, emu: Any, tmp_path: Path  # noqa: F811
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    journal = RedisJournal.from_url(url, "batch-1")
    with pytest.raises(JournalError) as caught:
        await journal.write(record("cat-1"))
    message = str(caught.value)
    assert "batch-1" in message and PASSWORD not in message and "\n" not in message
    assert PASSWORD not in repr(journal) and caught.value.path == journal.name
    with pytest.raises(JournalError):
        async with Batch(client, batch_id="batch-1", out=tmp_path,
                         journal=RedisJournal.from_url(url, "batch-1")):
            pass
    assert emu.ledger == []


async def test_an_unreadable_record_is_named_not_skipped(
    journal: RedisJournal, raw_redis: Any
) -> None:
    await raw_redis.hset("phota:batch:batch-1:records", "cat-1", "{not json")
    with pytest.raises(JournalError, match="not readable"):
        await journal.records()


@pytest.mark.parametrize(("field", "options"), [
    ("batch_id", {"batch_id": "a b"}), ("batch_id", {"batch_id": ""}),
    ("prefix", {"prefix": ""}), ("ttl", {"ttl": 0}), ("ttl", {"ttl": True}),
])
def test_bad_settings_are_refused_by_name(field: str, options: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"batch_id": "ok", **options}
    with pytest.raises(InvalidInputError) as caught:
        RedisJournal(_NoRedis(), settings.pop("batch_id"), **settings)
    assert caught.value.field == field


def test_a_bad_url_is_refused_without_its_password() -> None:
    with pytest.raises(InvalidInputError) as caught:
        RedisJournal.from_url(f"http://:{PASSWORD}@127.0.0.1/0", "batch-1")
    assert caught.value.field == "url" and PASSWORD not in str(caught.value)


class _NoRedis:
    """Stands for a client in checks that fail before any Redis call."""

    def register_script(self, script: str) -> None:
        return None
