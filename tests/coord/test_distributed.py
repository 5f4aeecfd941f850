"""One batch on many arq workers (``phota_async.batch.distributed``) against a real Redis: one set
of jobs however often it is enqueued, each item done and billed once while workers die and
restart (emulator and workers in processes of their own), another batch under the id refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from phota_async import ImageTask, InvalidInputError, JournalError, PollConfig, RedisJournal
from phota_async import _constants as C
from phota_async.batch import Stage, distributed
from phota_async.emulator import PhotaEmulator
from tests.batch.conftest import SCALE, SMALL, billed, decodes, files, headshots
from tests.batch.test_kill import emulator as emulator_process
from tests.conftest import make_client
from tests.coord.conftest import RedisServer, free_port

# arq's Worker.close() calls a redis-py method that redis-py 5 deprecates: arq's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

WORKER = Path(__file__).with_name("distributed_worker.py")


def cats(count: int) -> list[ImageTask]:
    return [ImageTask.generate(f"cat-{i}", f"A cat, take {i}") for i in range(count)]


@pytest.fixture
async def emu() -> AsyncIterator[PhotaEmulator]:
    async with PhotaEmulator(time_scale=SCALE) as emulator:
        yield emulator


async def run_worker(settings: type) -> Any:
    """One arq worker in this process, in burst mode: it runs what is queued, then returns."""
    from arq.worker import create_worker

    worker = create_worker(settings, burst=True, handle_signals=False, poll_delay=0.01)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


def settings_for(emu: PhotaEmulator, redis: RedisServer, out: Path, work: Any,
                 batch_id: str = "cats", **options: Any) -> type:
    return distributed.worker_settings(
        redis.url, batch_id=batch_id, work=work, out=out,
        client=lambda: make_client(emu, poll=PollConfig(time_scale=SCALE)), **options)


async def stages(redis: RedisServer, batch_id: str = "cats") -> dict[str, Stage]:
    journal = RedisJournal.from_url(redis.url, batch_id)
    try:
        return {key: r.stage for key, r in (await journal.records()).items()}
    finally:
        await journal.aclose()


async def test_enqueueing_twice_makes_one_set_of_jobs_and_each_item_is_billed_once(
    emu: PhotaEmulator, redis_server: RedisServer, raw_redis: Any, tmp_path: Path
) -> None:
    work = cats(6)
    assert await distributed.enqueue("cats", work, redis_server.url) == 6
    assert await distributed.enqueue("cats", work, redis_server.url) == 0  # queued already
    assert await raw_redis.zcard("phota:batch:cats:queue") == 6
    # Two workers share the queue; each has its own client.
    first, second = await asyncio.gather(
        run_worker(settings_for(emu, redis_server, tmp_path, work, max_jobs=2)),
        run_worker(settings_for(emu, redis_server, tmp_path, work, max_jobs=2)),
    )
    assert first.jobs_complete + second.jobs_complete == 6
    assert await stages(redis_server) == {f"cat-{i}": Stage.SAVED for i in range(6)}
    assert [p.name for p in files(tmp_path, "*.jpg")] == [f"cat-{i}-0.jpg" for i in range(6)]
    charges = [c.client_request_id for c in emu.ledger if c.kind == "image"]
    assert len(charges) == 6 and len(set(charges)) == 6
    # Finished (its results kept): enqueueing again adds nothing, and costs nothing.
    assert await distributed.enqueue("cats", work, redis_server.url) == 0
    assert billed(emu, "image") == 6


async def test_a_headshot_plan_runs_one_person_per_job(
    emu: PhotaEmulator, redis_server: RedisServer, tmp_path: Path
) -> None:
    plan = headshots(people=2)
    assert await distributed.enqueue("team", plan, redis_server.url) == 2
    await run_worker(settings_for(emu, redis_server, tmp_path, plan, batch_id="team",
                                  photo_policy=SMALL, add_settle=0.0))
    assert set((await stages(redis_server, "team")).values()) == {Stage.READY, Stage.SAVED}
    assert len(await stages(redis_server, "team")) == 2 + 2 * 3
    assert (billed(emu, "training"), billed(emu, "image")) == (2, 6)
    assert len(files(tmp_path, "person-*/*.jpg")) == 6


async def test_a_journal_of_another_batch_is_refused(
    emu: PhotaEmulator, redis_server: RedisServer, tmp_path: Path
) -> None:
    assert await distributed.enqueue("cats", cats(3), redis_server.url) == 3
    other = [ImageTask.generate(f"cat-{i}", f"A dog, take {i}") for i in range(3)]
    with pytest.raises(JournalError, match="another batch"):
        await distributed.enqueue("cats", other, redis_server.url)
    with pytest.raises(JournalError, match="another batch"):  # a worker of it will not start
        await run_worker(settings_for(emu, redis_server, tmp_path, other))
    assert emu.ledger == [] and await stages(redis_server) == {}
    assert await distributed.enqueue("dogs", other, redis_server.url) == 3  # its own id


async def test_an_item_another_worker_holds_is_left_to_it(
    emu: PhotaEmulator, redis_server: RedisServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(C, "DISTRIBUTED_RETRY_INITIAL", 0.01)  # tried again at once, not in 2 s
    await distributed.enqueue("cats", cats(2), redis_server.url)
    journal = RedisJournal.from_url(redis_server.url, "cats")
    try:
        assert await journal.claim("cat-0", "a-live-worker", lease=60)
        worker = await run_worker(settings_for(emu, redis_server, tmp_path, cats(2),
                                               max_tries=3))
        assert await journal.held_by("a-live-worker") == ["cat-0"]
    finally:
        await journal.aclose()
    # Three tries, each told to wait; then arq gives up (max_tries), and nothing was sent.
    assert (worker.jobs_complete, worker.jobs_retried, worker.jobs_failed) == (1, 3, 1)
    assert await stages(redis_server) == {"cat-1": Stage.SAVED}  # cat-0 never ran here
    assert billed(emu, "image") == 1


@pytest.mark.parametrize(("field", "options"), [
    ("batch_id", {"batch_id": "a b"}),
    ("url", {"redis_url": "http://:s3cret-pw-123@127.0.0.1/0"}),
    ("client", {"client": "AsyncPhota"}),
    ("name", {"name": "a/b"}),
    ("job_timeout", {"job_timeout": 0}),
    ("work", {"work": ["cat"]}),
])
def test_bad_worker_settings_are_refused_by_name(field: str, options: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"redis_url": "redis://127.0.0.1:1/0", "batch_id": "cats",
                                "work": cats(1), "out": "out", "client": lambda: None,
                                **options}
    with pytest.raises(InvalidInputError) as caught:
        distributed.worker_settings(settings.pop("redis_url"), **settings)
    assert caught.value.field == field and "s3cret" not in str(caught.value)


async def test_enqueueing_without_redis_is_one_line_without_the_password() -> None:
    with pytest.raises(JournalError) as caught:
        await distributed.enqueue("cats", cats(1), f"redis://:s3cret-pw-123@127.0.0.1:"
                                                   f"{free_port()}/0")
    message = str(caught.value)
    assert "cats" in message and "s3cret" not in message and "\n" not in message


# --- Workers killed with SIGKILL and restarted, in processes of their own ------------------


def start_worker(url: str, redis: RedisServer, out: Path, *, crash: str | None = None,
                 items: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    if crash:
        env["PHOTA_BATCH_CRASH_AT"] = crash
    return subprocess.Popen([sys.executable, str(WORKER), url, redis.url, str(out), "worker-1",
                             str(items)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def ledger(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("crash", ["submit:2", "save:2"])
async def test_a_worker_killed_mid_item_and_restarted_finishes_it_billed_once(
    crash: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """``submit:2``: killed once the server accepted a job, before the journal knew it;
    ``save:2``: once an output was written under its temporary name."""
    out, items = tmp_path / "out", 4
    assert await distributed.enqueue(
        "cats", cats(items), redis_server.url) == items
    with emulator_process(tmp_path) as (url, _):
        killed = start_worker(url, redis_server, out, crash=crash, items=items)
        _, err = killed.communicate(timeout=120)
        assert killed.returncode == -signal.SIGKILL, err[-3000:]
        journal = RedisJournal.from_url(redis_server.url, "cats")
        try:
            held = await journal.held_by("worker-1")
            left = [k for k, r in (await journal.records()).items() if r.stage is not Stage.SAVED]
        finally:
            await journal.aclose()
        assert held and left  # it died holding unfinished items
        restarted = start_worker(url, redis_server, out, items=items)
        _, err = restarted.communicate(timeout=120)
        assert restarted.returncode == 0, err[-3000:]
        assert "took back" in err
    assert await stages(redis_server) == {f"cat-{i}": Stage.SAVED for i in range(items)}
    charges = ledger(tmp_path)
    assert [c["kind"] for c in charges] == ["image"] * items and not any(
        c["refund"] for c in charges)
    assert sorted({c["client_request_id"] for c in charges}) == sorted(
        c["client_request_id"] for c in charges)  # each item billed once
    names = [str(p.relative_to(out)) for p in files(out, "*")]
    assert names == sorted(f"cat-{i}-0.jpg" for i in range(items))  # no partial file left
    assert all(decodes(out / name) for name in names)
