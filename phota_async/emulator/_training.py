"""Profile training in scaled time: VALIDATING -> QUEUING -> IN_PROGRESS -> READY (or ERROR)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from . import _pictures as _images
from . import _pricing
from ._clock import ScaledClock
from ._ledger import Charge, Ledger
from ._state import ProfileRecord, Store, new_id
from ._tasks import BackgroundTasks

# Share of the training duration spent in each stage before READY.
_STAGES = (("VALIDATING", 0.10), ("QUEUING", 0.15), ("IN_PROGRESS", 0.75))
NO_SUBJECT_MESSAGE = "No subject could be detected in the training photos"


class TrainingRunner:
    def __init__(
        self,
        *,
        clock: ScaledClock,
        store: Store,
        ledger: Ledger,
        tasks: BackgroundTasks,
        training_seconds: float,
    ) -> None:
        self._clock = clock
        self._store = store
        self._ledger = ledger
        self._tasks = tasks
        self._seconds = training_seconds
        self._trainings: dict[str, asyncio.Task[None]] = {}

    async def create(
        self, photos: Sequence[bytes], *, tier: str, tag: str | None, path: str
    ) -> ProfileRecord:
        """Bill the training (402 if the credit is short) and start it."""
        profile_id = new_id("prof")
        charge = Charge("training", _pricing.TRAINING_PRICES[tier], None, profile_id, None, path)
        self._ledger.reserve(charge)
        has_subject, picture = await asyncio.to_thread(_inspect, photos)
        profile = ProfileRecord(
            id=profile_id,
            tier=tier,
            tag=tag,
            photo_count=len(photos),
            has_subject=has_subject,
            picture=picture,
            created_at=self._clock.now(),
            charge=charge,
        )
        self._store.profiles[profile.id] = profile
        self._trainings[profile.id] = self._tasks.spawn(
            self._train(profile), name=f"training {profile.id}"
        )
        return profile

    def stop(self, profile: ProfileRecord, status: str | None = None) -> None:
        """End the training early (on delete or deactivation), optionally setting a final status."""
        task = self._trainings.pop(profile.id, None)
        if task is not None:
            task.cancel()
        if status is not None:
            profile.status = status

    async def _train(self, profile: ProfileRecord) -> None:
        for status, share in _STAGES:
            profile.status = status
            await self._clock.sleep(self._seconds * share)
            if status == "VALIDATING" and not profile.has_subject:
                self._reject(profile)
                return
        profile.status = "READY"
        self._trainings.pop(profile.id, None)

    def _reject(self, profile: ProfileRecord) -> None:
        # The docs refuse such a set outright (no charge); the emulator finds out while validating,
        # so it refunds the training.
        profile.status = "ERROR"
        profile.message = NO_SUBJECT_MESSAGE
        self._ledger.refund(profile.charge)
        self._trainings.pop(profile.id, None)


def _inspect(photos: Sequence[bytes]) -> tuple[bool, bytes]:
    """(whether any photo shows a subject, the profile picture made from the first photo)."""
    has_subject = not all(_images.is_uniform(photo) for photo in photos)
    return has_subject, _images.profile_picture(photos[0])
