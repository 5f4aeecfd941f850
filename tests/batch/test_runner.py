"""The batch runner against the in-process emulator: per-item outcomes, resuming without paying
twice, the spending guard, the 402 breaker, photo problems per person, expired URLs, progress."""

from __future__ import annotations

import json
import shutil
from contextlib import aclosing
from pathlib import Path

import pytest

from phota_async import (
    AsyncPhota,
    BatchProgress,
    ImageTask,
    JournalError,
    Style,
    estimate_cost,
)
from phota_async.batch import CADENCE_META_KEY, HeadshotPlan, ItemRecord, SqliteJournal, Stage
from phota_async.emulator import PhotaEmulator, sample_photo
from tests.batch.conftest import (
    SCALE,
    STYLES,
    billed,
    decodes,
    files,
    headshots,
    journaled,
    new_batch,
    person,
    run_batch,
    run_fresh,
)
from tests.conftest import job_gets, make_client

pytestmark = pytest.mark.usefixtures("emu")


def by_key(results: list[object]) -> dict[str, object]:
    return {result.key: result for result in results}  # type: ignore[attr-defined]


async def test_headshots_end_ok_and_cost_what_was_estimated(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots(num_output_images=2)
    seen: list[BatchProgress] = []
    results = await run_batch(client, tmp_path, plan, on_progress=seen.append)
    assert results is not None
    assert sorted((r.kind, r.status) for r in results) == [("image", "ok")] * 9 + [
        ("training", "ok")] * 3
    images = [r for r in results if r.kind == "image"]
    assert {(r.person, r.style) for r in images} == {
        (f"person-{p}", s.name) for p in range(3) for s in STYLES}
    paths = [path for r in images for path in r.paths]
    assert len(paths) == 18 and all(decodes(path) for path in paths)
    assert paths[0].parent.parent == tmp_path and paths[0].name.endswith("-0.jpg")
    # The estimate matches the emulator's ledger to the cent.
    estimate = estimate_cost(plan)
    assert round(emu.total_billed * 100) == estimate.cents == 3 * 149 + 9 * 24
    assert (billed(emu, "training"), billed(emu, "image")) == (3, 9)
    final = seen[-1]
    assert (final.done, final.failed, final.in_flight, final.trainings_done) == (12, 0, 0, 3)
    assert final.spent == estimate.total and final.eta == 0
    assert max(p.in_flight for p in seen) > 1


async def test_a_rerun_pays_nothing_and_tells_what_was_done(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots()
    await run_batch(client, tmp_path, plan)
    charges, requests = len(emu.ledger), len(emu.requests)
    again = await run_batch(client, tmp_path, plan)
    assert again is not None and all(r.ok and r.resumed for r in again) and len(again) == 12
    assert len(emu.ledger) == charges and len(emu.requests) == requests  # not even a GET


async def test_a_lost_journal_finds_the_profiles_and_jobs_again(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots()
    await run_batch(client, tmp_path, plan)
    charges = len(emu.ledger)
    shutil.rmtree(tmp_path)
    again = await run_batch(client, tmp_path, plan)
    assert again is not None and all(r.ok and not r.resumed for r in again)
    assert len(emu.ledger) == charges  # tags found the profiles, request ids the jobs
    assert len(files(tmp_path, "*.jpg")) == 9


async def test_a_run_stopped_after_the_wait_saves_from_the_journaled_urls(
    emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots(people=1)
    assert await run_fresh(emu, tmp_path, plan, crash="save:1") is None
    finished = await finished_jobs(tmp_path)
    gets = {job: job_gets(emu, job) for job in finished}
    results = await run_fresh(emu, tmp_path, plan)
    assert results is not None and all(r.ok for r in results)
    assert finished and {job: job_gets(emu, job) for job in finished} == gets  # no poll
    assert (billed(emu, "training"), billed(emu, "image")) == (1, 3)


async def test_expired_urls_are_fetched_fresh_from_one_more_poll(tmp_path: Path) -> None:
    async with PhotaEmulator(time_scale=SCALE, refresh_expired_urls=True) as emu:
        plan = headshots(people=1)
        assert await run_fresh(emu, tmp_path, plan, crash="save:1") is None
        assert emu.expire_download_urls() >= 1
        finished = await finished_jobs(tmp_path)
        gets = {job: job_gets(emu, job) + 1 for job in finished}
        results = await run_fresh(emu, tmp_path, plan)
        assert results is not None and all(r.ok for r in results)
        assert finished and {job: job_gets(emu, job) for job in finished} == gets  # one poll
        assert (billed(emu, "training"), billed(emu, "image")) == (1, 3)


async def test_still_expired_urls_end_the_item_expired_not_the_batch(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots(people=1)
    assert await run_batch(client, tmp_path, plan, crash="save:2") is None
    emu.expire_download_urls()
    results = await run_batch(client, tmp_path, plan)
    assert results is not None
    expired = [r for r in results if r.status == "expired"]
    assert expired and all("expired" in str(r.reason) for r in expired)
    assert all(r.ok for r in results if r.status != "expired")
    assert (billed(emu, "training"), billed(emu, "image")) == (1, 3)
    assert not files(tmp_path, "*.phota-part")


async def test_max_spend_skips_what_would_cross_it(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots()  # $1.49 + 3 x $0.12 per person
    results = await run_batch(client, tmp_path, plan, max_spend=2.50)
    assert results is not None
    done = [r for r in results if r.ok]
    skipped = [r for r in results if r.status == "skipped"]
    assert len(done) == 4 and len(skipped) == 8
    assert all("budget" in str(r.reason) for r in skipped)
    assert emu.total_billed == pytest.approx(1.85) and emu.total_billed <= 2.50
    # A larger budget on the next run finishes the work, paying only for what is new.
    assert all(r.ok for r in await run_batch(client, tmp_path, plan, max_spend=5.55) or [])
    assert round(emu.total_billed * 100) == estimate_cost(plan).cents


async def test_insufficient_credit_ends_the_batch_cleanly(tmp_path: Path) -> None:
    async with (
        PhotaEmulator(time_scale=SCALE, credit=3 * 1.49 + 4 * 0.12) as emu,
        make_client(emu, poll=_poll()) as phota,
    ):
        results = await run_batch(phota, tmp_path, headshots())
        assert results is not None
        statuses = sorted(r.status for r in results)
        assert statuses == ["ok"] * 7 + ["skipped"] * 5
        skipped = [r for r in results if r.status == "skipped"]
        assert all("InsufficientCreditError" in str(r.reason) for r in skipped)
        assert len(files(tmp_path, "*.jpg")) == 4
        # What is left to pay counts every skipped image, those the 402 refused included.
        async with new_batch(phota, tmp_path) as batch:
            left = await batch.estimate(headshots())
        assert left.cents == 5 * 12
        # Topped up, the next run pays exactly that: the refused intents are sent again with
        # their ids, and nothing is billed twice.
        emu.add_credit(left.total)
        phota.reset_credit_breaker()
        again = await run_batch(phota, tmp_path, headshots(), max_spend=emu.total_billed
                                + left.total)
        assert again is not None and all(r.ok for r in again)
        assert round(emu.total_billed * 100) == estimate_cost(headshots()).cents
        assert len(files(tmp_path, "*.jpg")) == 9


async def test_photo_problems_skip_that_person_and_the_others_go_on(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = HeadshotPlan([person(0), person(1, count=3), person(2, size=32)], STYLES,
                        tier="fast")
    results = by_key(await run_batch(client, tmp_path, plan) or [])
    too_few, too_small = results["person-1"], results["person-2"]
    assert too_few.status == too_small.status == "skipped"  # type: ignore[attr-defined]
    assert "got 3 photo(s)" in too_few.reason  # type: ignore[attr-defined]
    assert "too small" in too_small.reason and "photos[0]" in too_small.reason  # type: ignore[attr-defined]
    assert results["person-1/studio"].status == "skipped"  # type: ignore[attr-defined]
    assert "person-1: no profile" in results["person-1/studio"].reason  # type: ignore[attr-defined]
    assert all(results[f"person-0/{s.name}"].ok for s in STYLES)  # type: ignore[attr-defined]
    assert billed(emu, "training") == 1


async def test_one_failing_item_never_ends_the_others(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    styles = [*STYLES, Style("broken", "Headshot of [[person]] [fail]"),
              Style("blocked", "A forbidden headshot of [[person]]")]
    plan = HeadshotPlan([person(0)], styles, tier="fast")
    results = by_key(await run_batch(client, tmp_path, plan) or [])
    assert results["person-0/broken"].status == "failed"  # type: ignore[attr-defined]
    assert "JobFailedError" in results["person-0/broken"].reason  # type: ignore[attr-defined]
    assert "ContentModerationError" in results["person-0/blocked"].reason  # type: ignore[attr-defined]
    assert all(results[f"person-0/{s.name}"].ok for s in STYLES)  # type: ignore[attr-defined]
    charges = len(emu.ledger)
    again = by_key(await run_batch(client, tmp_path, plan) or [])
    assert again["person-0/broken"].status == "failed"  # type: ignore[attr-defined]
    assert len(emu.ledger) == charges  # failed for good: not sent again


async def test_any_studio_call_with_keys_as_paths(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    photo = sample_photo(1, size=256)
    tasks = [
        ImageTask.generate("cats/tabby", "a tabby cat", num_output_images=2, base_model="flux-2"),
        ImageTask.edit("cats/edited", "make it blue", [photo]),
        ImageTask.enhance("misc/sharp", photo),
        ImageTask.remix("misc/mixed", photo, sample_photo(2, size=256)),
    ]
    results = await run_batch(client, tmp_path, tasks)
    assert results is not None and all(r.ok for r in results)
    names = sorted(str(p.relative_to(tmp_path)) for r in results for p in r.paths)
    assert names == ["cats/edited-0.jpg", "cats/tabby-0.jpg", "cats/tabby-1.jpg",
                     "misc/mixed-0.jpg", "misc/sharp-0.jpg"]
    assert round(emu.total_billed * 100) == estimate_cost(tasks).cents == 2 * 4 + 9 + 12 + 12


async def test_a_journal_of_another_batch_or_account_is_refused(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    await run_batch(client, tmp_path, headshots(people=1))
    with pytest.raises(JournalError, match="belongs to batch 'test'"):
        await new_batch(client, tmp_path, batch_id="other").open()
    async with (  # the same account, however the URL is spelt
        make_client(emu, api_key="emu-test-key", base_url=emu.url + "/") as same,
        new_batch(same, tmp_path),
    ):
        pass
    async with PhotaEmulator(time_scale=SCALE) as elsewhere, make_client(elsewhere) as other:
        with pytest.raises(JournalError, match="another API key or base URL"):
            await new_batch(other, tmp_path).open()


async def test_estimate_counts_only_what_is_left(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots()
    assert await run_batch(client, tmp_path, plan, max_spend=1.85) is not None
    async with new_batch(client, tmp_path) as batch:
        left = await batch.estimate(plan)
    assert left.cents == 2 * 149 + 6 * 12 and left.estimated
    assert "2 x fast training at $1.49" in str(left)


async def test_any_journal_store_will_do(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    journal = MemoryJournal()
    results = await run_batch(client, tmp_path, headshots(people=1), journal=journal)
    assert results is not None and all(r.ok for r in results)
    assert {r.stage for r in journal.items.values()} == {Stage.READY, Stage.SAVED}
    assert journal.meta["batch_id"] == "test" and journal.closed


async def test_a_resumed_run_starts_warm_from_the_cadence_saved_in_the_journal(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    await run_batch(client, tmp_path, headshots(people=1))
    learned = client.cadence_state()
    assert learned["durations"], "the run taught the client its job durations"
    saved = json.loads(str((await new_journal_meta(tmp_path))[CADENCE_META_KEY]))
    assert saved == learned
    async with make_client(emu, poll=_poll()) as fresh:  # a new process, say
        assert fresh.cadence_state()["durations"] == {}
        async with new_batch(fresh, tmp_path):
            pass
        assert fresh.cadence_state() == learned


async def test_an_unusable_saved_cadence_only_costs_a_cold_start(
    client: AsyncPhota, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = MemoryJournal()
    journal.meta[CADENCE_META_KEY] = '{"generate": [50.0]}'
    async with new_batch(client, tmp_path, journal=journal):
        pass
    assert "starting cold" in caplog.text
    assert json.loads(journal.meta[CADENCE_META_KEY]) == client.cadence_state()


async def new_journal_meta(out: Path) -> dict[str, str | None]:
    journal = SqliteJournal(out / "phota-journal.sqlite")
    await journal.open()
    try:
        return {CADENCE_META_KEY: await journal.get_meta(CADENCE_META_KEY)}
    finally:
        await journal.aclose()


async def finished_jobs(out: Path) -> list[str]:
    """Jobs the journal records as finished (their URLs known) but not saved."""
    return [str(r.job_id) for r in (await journaled(out)).values()
            if r.stage is Stage.SUCCEEDED]


def _poll() -> object:
    from phota_async import PollConfig
    return PollConfig(time_scale=SCALE)


class MemoryJournal:
    """A journal in a dict: what another store (Redis, say) has to provide."""

    name = "memory"

    def __init__(self) -> None:
        self.items: dict[str, ItemRecord] = {}
        self.meta: dict[str, str] = {}
        self.closed = False

    async def open(self) -> None:
        self.closed = False

    async def records(self) -> dict[str, ItemRecord]:
        return dict(self.items)

    async def write(self, record: ItemRecord) -> None:
        self.items[record.key] = record

    async def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    async def aclose(self) -> None:
        self.closed = True


async def test_leaving_the_loop_early_stops_the_run_and_a_rerun_finishes(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    plan = headshots()
    async with new_batch(client, tmp_path) as batch, aclosing(batch.run(plan)) as results:
        async for _ in results:
            break
    finished = await run_batch(client, tmp_path, plan)
    assert finished is not None and all(r.ok for r in finished)
    assert (billed(emu, "training"), billed(emu, "image")) == (3, 9)


async def test_a_call_refused_locally_is_tried_again_once_fixed(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    bad = [ImageTask.generate("sky", "a blue sky", aspect_ratio="5:7")]
    (result,) = await run_batch(client, tmp_path, bad) or []
    assert result.status == "failed" and "aspect_ratio" in str(result.reason)
    assert emu.ledger == []
    (fixed,) = await run_batch(client, tmp_path, [ImageTask.generate("sky", "a blue sky")]) or []
    assert fixed.ok and not fixed.resumed and len(emu.ledger) == 1
