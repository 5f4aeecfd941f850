"""The steps of one person of a headshot batch: get or create the profile (its tag and intent
journaled before the paid ``profiles/add``), wait for READY, then hand the styles to the senders.

``profiles/add`` has no idempotency key: the journal records the intent and the tag right
before the call, and a re-run reconciles through the tag (``profiles.get_or_create``) instead
of training again. A re-run that finds an intent from a moment ago first lets that add settle,
since it may still be on its way to the server.
"""

from __future__ import annotations

import time

import anyio
from attrs import define

from .._exceptions import (
    AuthenticationError,
    InsufficientCreditError,
    InvalidInputError,
    PhotaError,
    TrainingFailedError,
)
from .._jobs.handles import TrainingJob
from .._photos.upload import UploadProgress
from ._journal import ItemRecord, Stage
from ._results import ItemResult
from ._run import PersonItem, Run, is_final, reason_of, when_done

__all__ = ["finish_training", "start_training"]


async def start_training(run: Run, item: PersonItem) -> None:
    """Start (or resume) a person's training; its end comes back through ``run.finished``."""
    record = run.records.get(item.key)
    if record is not None and record.stage is Stage.READY:
        run.end(item.result("ok", profile_id=record.profile_id, resumed=True,
                            cost=record.cost_cents / 100), was_in_flight=False)
        _release_styles(run, item, str(record.profile_id))
    elif record is not None and record.stage is Stage.FAILED:
        _end_person(run, item, item.result("failed", reason=record.error, resumed=True),
                    was_in_flight=False)
    elif record is not None and record.stage is Stage.TRAINING:
        run.tracker.sent()
        _watch(run, item, run.phota.profiles.training(str(record.profile_id)))
    else:
        await _create(run, item, record)


def _watch(run: Run, item: PersonItem, training: TrainingJob) -> None:
    when_done(training, lambda: run.finished.put_nowait((item, training)))


async def _create(run: Run, item: PersonItem, record: ItemRecord | None) -> None:
    if run.stop_reason is not None:
        _end_person(run, item, item.result("skipped", reason=run.stop_reason),
                    was_in_flight=False)
        return
    counted = record is not None and not record.unpaid  # its cost is in the run's spent
    if not _hold(run, item, counted=counted):
        _end_person(run, item, item.result("skipped", reason="budget: training this person "
                                           "and rendering their styles would pass max_spend"),
                    was_in_flight=False)
        return
    run.tracker.sent()
    if record is not None and record.sent_at is not None:
        # An add sent a moment ago by a killed run may still reach the server: let it settle
        # before the tag's listing decides whether it ever did.
        await anyio.sleep(max(0.0, record.sent_at + run.add_settle - time.time()))
    intent = _Intent(run, item, counted=counted)
    try:
        training = await run.phota.profiles.get_or_create(
            item.person.photos, tag=item.tag, tier=_tier(run), policy=run.policy,
            before_add=intent, on_progress=lambda event: _uploaded(run, event),
        )
    except PhotaError as exc:
        if intent.spent_here and (is_final(exc) or isinstance(exc, InsufficientCreditError)):
            run.budget.refund(item.cost_cents)  # refused: no training was billed
        adding = run.records.get(item.key)
        if isinstance(exc, InsufficientCreditError | AuthenticationError) and (
                adding is not None and adding.stage is Stage.ADDING):
            await run.write(adding.update(error=reason_of(exc)))  # refused: unpaid
        _not_created(run, item, exc)
        return
    run.crash("training")
    intent.count()  # when found by its tag: paid for by an earlier run whose journal is gone
    await run.write(ItemRecord(item.key, "training", Stage.TRAINING, item.cost_cents,
                               tag=item.tag, profile_id=training.profile_id,
                               sent_at=time.time()))
    run.crash("training")
    _watch(run, item, training)


def _hold(run: Run, item: PersonItem, *, counted: bool) -> bool:
    """Set aside the training (unless an earlier run counted it) and every style not sent yet,
    so that a person is started only when the budget covers all of their work."""
    unsent = [style for style in item.styles
              if style.key not in run.records or run.records[style.key].unpaid]
    held = item.cost_cents * (not counted) + sum(style.cost_cents for style in unsent)
    if not run.budget.hold(held):
        return False
    item.held_cents = held
    for style in unsent:
        style.held = True
    return True


@define
class _Intent:
    """The paid step of a training: journaled (with its tag) right before ``profiles/add`` is
    sent; its cost is counted once, from the person's hold."""

    run: Run
    item: PersonItem
    counted: bool
    spent_here: bool = False

    def count(self) -> None:
        if not self.counted:
            self.run.budget.spend(self.item.cost_cents, held=True)
            self.item.held_cents -= self.item.cost_cents
            self.counted = self.spent_here = True

    async def __call__(self) -> None:
        self.count()
        await self.run.write(ItemRecord(self.item.key, "training", Stage.ADDING,
                                        self.item.cost_cents, tag=self.item.tag,
                                        sent_at=time.time()))
        self.run.crash("training")


def _tier(run: Run) -> str:
    assert run.plan is not None
    return run.plan.tier.value


def _uploaded(run: Run, event: UploadProgress) -> None:
    if event.state == "uploaded":
        run.crash("upload")


def _not_created(run: Run, item: PersonItem, exc: PhotaError) -> None:
    """No profile came of it: refused photos are skipped with the report's lines; a 402 or a
    refused key stops the run; anything else fails the person for this run."""
    run.budget.release(item.held_cents)
    item.held_cents = 0
    if isinstance(exc, InvalidInputError):
        report = getattr(exc, "report", None)
        reason = report.summary() if report is not None else str(exc)
        _end_person(run, item, item.result("skipped", reason=f"photos refused: {reason}",
                                           error=exc), was_in_flight=True)
        return
    if isinstance(exc, InsufficientCreditError | AuthenticationError):
        run.stop(f"stopped sending: {reason_of(exc)}")
        _end_person(run, item, item.result("skipped", reason=run.stop_reason, error=exc),
                    was_in_flight=True)
        return
    _end_person(run, item, item.result("failed", reason=reason_of(exc), error=exc),
                was_in_flight=True)


async def finish_training(run: Run, item: PersonItem, training: TrainingJob) -> None:
    """A training ended: journal READY and send the styles, or fail the person."""
    record = run.records[item.key]
    try:
        profile = await training
    except PhotaError as exc:
        if isinstance(exc, TrainingFailedError):
            run.budget.refund(item.cost_cents)
            await run.write(record.update(stage=Stage.FAILED, error=reason_of(exc)))
        run.budget.release(item.held_cents)
        item.held_cents = 0
        _end_person(run, item, item.result("failed", reason=reason_of(exc), error=exc,
                                           profile_id=training.profile_id), was_in_flight=True)
        return
    run.crash("training")
    await run.write(record.update(stage=Stage.READY, profile_id=profile.profile_id))
    run.crash("training")
    run.end(item.result("ok", profile_id=profile.profile_id, cost=item.cost_cents / 100),
            was_in_flight=True)
    _release_styles(run, item, profile.profile_id)


def _release_styles(run: Run, item: PersonItem, profile_id: str) -> None:
    """The person is READY: each style becomes a generate call naming their profile."""
    plan = run.plan
    assert plan is not None
    for style_item in item.styles:
        assert style_item.style is not None
        style_item.task = plan.image_task(item.person, style_item.style, profile_id)
        run.sends.put_nowait(style_item)


def _end_person(run: Run, item: PersonItem, result: ItemResult, *, was_in_flight: bool) -> None:
    """End the person and, since no profile came of it, every style with it."""
    run.end(result, was_in_flight=was_in_flight)
    why = f"{item.person.name}: no profile ({result.status}: {result.reason})"
    for style_item in item.styles:
        run.end(style_item.result("skipped", reason=why), was_in_flight=False)
