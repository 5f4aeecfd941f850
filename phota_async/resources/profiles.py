"""Profiles: train a subject from 5..50 photos, then name it in any image request."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .. import _constants as C
from .._exceptions import APIError, InvalidInputError, NotFoundError
from .._http.retry import Idempotency
from .._jobs.context import ClientContext
from .._jobs.handles import TrainingJob
from .._photos.checks import check_photos, prepare_photos
from .._photos.inputs import ImageInput, image_list
from .._photos.report import PhotoPolicy, PhotoReport, raise_for_report
from .._photos.upload import UploadProgress, upload_photos
from .._photos.uploaders import Uploader
from .._wire import validation as check
from .._wire.converter import converter, parse_profile_list, structure
from .._wire.enums import ProfileStatus, TrainingTier
from .._wire.models import AddProfileRequest, DeletedProfile, Profile, ProfileSummary

__all__ = ["BeforeAdd", "Profiles"]

BeforeAdd = Callable[[], Awaitable[None]]

log = logging.getLogger("phota_async")

_HOW_TO_CHECK_ADD = (
    "profiles/add has no idempotency key: list your profiles (phota.profiles.list(tag=...)) "
    "before trying again, or pass a tag so the SDK can reconcile for you."
)


class Profiles:
    """``phota.profiles``: create (train), list, status, picture, delete, re-attach."""

    def __init__(self, ctx: ClientContext, uploader: Callable[[], Uploader | None]) -> None:
        self._ctx = ctx
        self._default_uploader = uploader
        # Reconciling by tag needs to know which new profile is whose: creates with one tag
        # run one at a time on a client, and ids this client already returned are not taken.
        self._tag_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._returned: set[str] = set()

    async def check(
        self,
        photos: Sequence[ImageInput],
        *,
        tier: TrainingTier | str = TrainingTier.STANDARD,
        policy: PhotoPolicy | None = None,
    ) -> PhotoReport:
        """A pre-flight report on a photo set (formats, sizes, duplicates, count per tier).

        Nothing is uploaded or paid; show ``report.summary()`` to your user. ``policy`` sets
        the size floor and whether errors refuse the set (see :class:`PhotoPolicy`).
        """
        tier_value = check.enum_value(tier, TrainingTier, "tier")
        return await check_photos(photos, tier_value, policy=policy)

    async def create(
        self,
        photos: Sequence[ImageInput],
        *,
        tier: TrainingTier | str = TrainingTier.STANDARD,
        tag: str | None = None,
        uploader: Uploader | None = None,
        on_progress: Callable[[UploadProgress], None] | None = None,
        policy: PhotoPolicy | None = None,
        before_add: BeforeAdd | None = None,
        timeout: float | None = None,
    ) -> TrainingJob:
        """Check, prepare and upload the photos, then start a training; await the result.

        Photos are paths, bytes, binary files or URLs (URLs are passed through). A set with
        errors raises ``InvalidInputError`` carrying the report, before anything is paid
        (``policy`` sets what counts as an error). ``before_add`` is awaited once the photos are
        uploaded, right before the paid ``profiles/add`` is sent: journal your intent there.
        """
        tier_value = check.enum_value(tier, TrainingTier, "tier")
        tag_value = check.tag(tag)
        items = image_list(photos, "photos")
        check.photo_count(len(items), tier_value)
        if tag_value is None:
            return await self._create(items, tier_value, None, uploader, on_progress, policy,
                                      before_add, timeout)
        async with self._tag_locks[tag_value]:
            return await self._create(items, tier_value, tag_value, uploader, on_progress, policy,
                                      before_add, timeout)

    async def get_or_create(
        self,
        photos: Sequence[ImageInput],
        *,
        tag: str,
        tier: TrainingTier | str = TrainingTier.STANDARD,
        uploader: Uploader | None = None,
        on_progress: Callable[[UploadProgress], None] | None = None,
        policy: PhotoPolicy | None = None,
        before_add: BeforeAdd | None = None,
        timeout: float | None = None,
    ) -> TrainingJob:
        """The training of the profile tagged ``tag``; one is created from ``photos`` (checked,
        uploaded, paid) only when the account has none with that tag.

        This is how a retried or resumed run finds the profile it already paid for instead of
        training again, so give every subject its own tag (an end user's id and the subject's
        name, say). When several profiles carry the tag, a READY one is returned, else one still
        training, else the first. Options are those of :meth:`create`.
        """
        tier_value = check.enum_value(tier, TrainingTier, "tier")
        tag_value = check.tag(tag)
        if tag_value is None:
            raise InvalidInputError("tag", "is required to find an existing profile",
                                    allowed=f"a string of 1..{C.TAG_MAX_LENGTH} characters")
        items = image_list(photos, "photos")
        async with self._tag_locks[tag_value]:
            existing = [summary.profile_id for summary in await self.list(tag=tag_value)]
            if existing:
                return self.training(await self._pick(existing))
            check.photo_count(len(items), tier_value)
            return await self._create(items, tier_value, tag_value, uploader, on_progress,
                                      policy, before_add, timeout)

    async def _pick(self, profile_ids: list[str]) -> str:
        """Of several profiles with one tag: a READY one, else one in training, else the first."""
        if len(profile_ids) == 1:
            return profile_ids[0]
        profiles = [await self.status(pid) for pid in profile_ids]
        ready = [p.profile_id for p in profiles if p.status == ProfileStatus.READY]
        failed = (ProfileStatus.ERROR, ProfileStatus.INACTIVE)
        training = [p.profile_id for p in profiles if p.status not in failed]
        return (ready or training or profile_ids)[0]

    async def _create(
        self,
        items: list[ImageInput],
        tier: TrainingTier,
        tag: str | None,
        uploader: Uploader | None,
        on_progress: Callable[[UploadProgress], None] | None,
        policy: PhotoPolicy | None,
        before_add: BeforeAdd | None,
        timeout: float | None,
    ) -> TrainingJob:
        """Check, upload, add: with a tag, under that tag's lock (see :meth:`_add`)."""
        self._ctx.requester.check_credit()  # before any upload: a 402 already said no
        report, prepared = await prepare_photos(items, tier, policy=policy)
        raise_for_report(report)
        store = uploader or self._default_uploader()
        if store is None and any(p.url is None for p in prepared):
            raise InvalidInputError(
                "uploader", "local photos must be uploaded where the API can fetch them",
                allowed="AsyncPhota(uploader=S3Uploader(...)) or photo URLs",
            )
        urls = await upload_photos(prepared, store, on_progress=on_progress)  # type: ignore[arg-type]
        request = AddProfileRequest(image_urls=urls, training_tier=tier, tag=tag)
        if before_add is not None:
            await before_add()
        profile_id = await self._add(request, timeout)
        return self.training(profile_id)

    async def _add(self, request: AddProfileRequest, timeout: float | None) -> str:
        """POST profiles/add once; after an ambiguous failure, reconcile through the tag.

        With a tag, the caller holds the tag's lock: creates with one tag run one at a time on
        a client, and ids this client already returned are not taken. Reconciling assumes that
        no other process creates a profile with the same tag at the same moment (a tag is
        usually one end user's id).
        """
        if request.tag is None:
            return await self._post_add(request, timeout, before=None)
        before = await self._ids(request.tag)
        profile_id = await self._post_add(request, timeout, before=before)
        self._returned.add(profile_id)
        return profile_id

    async def _post_add(
        self, request: AddProfileRequest, timeout: float | None, *, before: set[str] | None
    ) -> str:
        try:
            response = await self._ctx.requester.call(
                "POST", "profiles/add", kind=Idempotency.UNSAFE, submit=True, timeout=timeout,
                json_body=converter.unstructure(request), how_to_check=_HOW_TO_CHECK_ADD,
            )
        except APIError as exc:
            if not exc.maybe_processed or before is None:
                raise
            created = await self._ids(request.tag) - before - self._returned
            if len(created) != 1:
                raise
            profile_id = created.pop()
            log.info("profiles/add failed ambiguously (%s) but created %s: using it", exc,
                     profile_id)
            return profile_id
        return str(response.json()["profile_id"])

    async def _ids(self, tag: str | None) -> set[str]:
        return {summary.profile_id for summary in await self.list(tag=tag)}

    async def list(self, tag: str | None = None) -> list[ProfileSummary]:
        """The account's profiles, optionally only those with ``tag``."""
        params = {"tag": check.tag(tag) or ""} if tag is not None else None
        response = await self._ctx.requester.call(
            "GET", "profiles/ids", kind=Idempotency.SAFE, params=params
        )
        return parse_profile_list(response.json())

    async def status(self, profile_id: str) -> Profile:
        """The training status of one profile."""
        pid = check.resource_id(profile_id, "profile_id")
        response = await self._ctx.requester.call(
            "GET", f"profiles/{pid}/status", kind=Idempotency.SAFE
        )
        return structure(response.json(), Profile)

    async def picture(self, profile_id: str) -> bytes:
        """The profile's picture, as JPEG bytes."""
        pid = check.resource_id(profile_id, "profile_id")
        response = await self._ctx.requester.call(
            "GET", f"profiles/{pid}/profile_picture", kind=Idempotency.SAFE
        )
        return response.body

    async def delete(self, profile_id: str) -> DeletedProfile:
        """Delete a profile and all its data, for good."""
        pid = check.resource_id(profile_id, "profile_id")
        try:
            response = await self._ctx.requester.call(
                "DELETE", f"profiles/{pid}", kind=Idempotency.SAFE
            )
        except NotFoundError as exc:
            if exc.attempts > 1:  # an earlier attempt deleted it and its answer was lost
                return DeletedProfile(pid)
            raise
        body: Any = response.json() or {"profile_id": pid}
        return structure(body, DeletedProfile)

    def training(self, profile_id: str) -> TrainingJob:
        """Re-attach a :class:`TrainingJob` to an existing profile (no request is sent)."""
        pid = check.resource_id(profile_id, "profile_id")
        return self._ctx.handle(
            TrainingJob, pid, lambda: TrainingJob(self._ctx, pid, submitted_at=None)
        )

