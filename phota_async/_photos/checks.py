"""Profile photos: the pre-flight check of a training set, and its preparation for upload.

:func:`check_photos` reports what is wrong with a set before $2.90 is paid for a training that would
fail twenty minutes later; :func:`prepare_photos` does the same check and, in the same single read
and decode of each photo, readies it for upload (EXIF orientation applied, long side at most
4096 px, HEIC turned into JPEG). Every byte of Pillow work runs in worker threads, a bounded number
at a time, so that fifty 24 MP photos never stall the event loop.

This module runs the set: one examination per photo (:mod:`.examine`, Pillow work in
:mod:`.pillow`), then the checks of the set as a whole (count, exact and near duplicates).
A bad photo never raises: it goes into the :class:`PhotoReport` (:mod:`.report`), and
:func:`raise_for_report` turns a report with errors into :class:`InvalidInputError` (what
``profiles.create`` does).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import anyio
import anyio.to_thread
import attrs

from .. import _constants as C
from .._concurrency import map_concurrently
from .._wire.enums import TrainingTier
from .._wire.validation import enum_value, photo_count_problem
from .examine import Outcome, PreparedPhoto, examine, source_name
from .inputs import ImageInput, image_list, is_url
from .report import PhotoCheck, PhotoIssue, PhotoPolicy, PhotoReport

__all__ = ["check_photos", "default_photo_workers", "prepare_photos"]


def default_photo_workers() -> int:
    """Worker threads for photos by default: one per core, at most ``PHOTO_MAX_WORKERS_CAP``."""
    return max(1, min(C.PHOTO_MAX_WORKERS_CAP, os.cpu_count() or 2))


# --- The set ----------------------------------------------------------------------------------


def _names(checks: Sequence[PhotoCheck]) -> str:
    labels = [check.label for check in checks]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _count_issue(count: int, tier: TrainingTier, usable: bool) -> PhotoIssue | None:
    problem = photo_count_problem(count, tier, usable=usable)
    return PhotoIssue("error", "count", problem) if problem else None


def _left_out(outcome: Outcome) -> Outcome:
    """Under ``mode="warn"``: a photo with an error of its own is left out, told as a warning."""
    check = outcome.check
    issues = tuple(
        PhotoIssue("warning", i.code, f"left out: {i.message}", i.indexes)
        if i.level == "error" else i for i in check.issues
    )
    return attrs.evolve(outcome, check=attrs.evolve(check, issues=issues))


def _exact_groups(outcomes: Sequence[Outcome], photos: Sequence[object]) -> list[list[int]]:
    """Indexes of photos that are the same file (same bytes) or the same URL, by group."""
    groups: dict[object, list[int]] = {}
    for outcome in outcomes:
        check = outcome.check
        key: object = photos[check.index] if check.remote else outcome.digest
        if key is not None:
            groups.setdefault(key, []).append(check.index)
    return [group for group in groups.values() if len(group) > 1]


def _near_groups(outcomes: Sequence[Outcome], skip: set[int]) -> list[list[int]]:
    """Photos whose perceptual hashes are close, joined into groups (union-find)."""
    hashed = [(o.check.index, o.dhash) for o in outcomes
              if o.dhash is not None and o.check.index not in skip]
    parent = {index: index for index, _ in hashed}

    def root(index: int) -> int:
        while parent[index] != index:
            index = parent[index]
        return index

    for pos, (a, hash_a) in enumerate(hashed):
        for b, hash_b in hashed[pos + 1:]:
            if (hash_a ^ hash_b).bit_count() <= C.PHOTO_NEAR_DUPLICATE_DISTANCE:
                parent[max(root(a), root(b))] = min(root(a), root(b))
    groups: dict[int, list[int]] = {}
    for index, _ in hashed:
        groups.setdefault(root(index), []).append(index)
    return [group for group in groups.values() if len(group) > 1]


def _set_issues(
    outcomes: Sequence[Outcome], photos: Sequence[object], tier: TrainingTier, strict: bool
) -> tuple[tuple[PhotoIssue, ...], set[int]]:
    """The issues of the set as a whole, and (under ``mode="warn"``) the photos left out."""
    checks = [o.check for o in outcomes]
    unusable = set() if strict else {o.check.index for o in outcomes if o.check.status == "error"}
    issues: list[PhotoIssue] = []
    copies: set[int] = set()
    for group in _exact_groups(outcomes, photos):
        copies.update(group[1:])
        names = _names([checks[i] for i in group])
        issues.append(
            PhotoIssue("error", "duplicate", f"{names} are the same photo; keep one", tuple(group))
            if strict else PhotoIssue("warning", "duplicate", f"{names} are the same photo; "
                                      f"only {checks[group[0]].label} is used", tuple(group)))
    for group in _near_groups(outcomes, copies):
        issues.append(PhotoIssue("warning", "near_duplicate",
                                 f"{_names([checks[i] for i in group])} look almost the same; "
                                 "varied photos train better", tuple(group)))
    left_out = set() if strict else unusable | copies
    count = _count_issue(len(outcomes) - len(left_out), tier, usable=not strict)
    return (count, *issues) if count else tuple(issues), left_out


async def _run(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str,
    prepare: bool,
    max_workers: int | None,
    limiter: anyio.CapacityLimiter | None,
    policy: PhotoPolicy | None,
) -> tuple[PhotoReport, list[PreparedPhoto]]:
    photos = image_list(photos, "photos")
    tier = enum_value(tier, TrainingTier, "tier")
    policy = policy or PhotoPolicy()
    strict = policy.mode == "strict"
    limiter = limiter or anyio.CapacityLimiter(max_workers or default_photo_workers())

    async def one(index: int) -> Outcome:
        photo = photos[index]
        source = source_name(photo)
        if isinstance(photo, str) and is_url(photo):
            prepared = PreparedPhoto.from_url(index, photo) if prepare else None
            return Outcome(PhotoCheck(index, source, remote=True), prepared=prepared)
        # examine() never raises for a bad photo: it reports it.
        return await anyio.to_thread.run_sync(
            examine, index, source, photo, prepare, policy.min_side, limiter=limiter
        )

    done = await map_concurrently(one, len(photos))
    set_issues, left_out = _set_issues(done, photos, tier, strict)
    checks = tuple((o if strict else _left_out(o)).check for o in done)
    prepared = [o.prepared for o in done
                if o.prepared is not None and o.check.index not in left_out]
    return PhotoReport(tier, checks, set_issues), prepared


async def check_photos(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str = TrainingTier.STANDARD,
    *,
    max_workers: int | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    policy: PhotoPolicy | None = None,
) -> PhotoReport:
    """Check a training photo set for ``tier``; bad photos go into the report, never raise.

    Each local photo is read and decoded once in a worker thread, at most ``max_workers`` at a
    time (default :func:`default_photo_workers`), or under a ``limiter`` shared across calls.
    URLs are passed through unchecked. ``policy`` (a :class:`PhotoPolicy`) sets the floor on
    a photo's size and whether errors refuse the set (strict) or leave photos out (warn).
    Raises :class:`InvalidInputError` only for a bad argument (a tier that does not exist, a
    lone photo instead of a list).
    """
    report, _ = await _run(photos, tier, False, max_workers, limiter, policy)
    return report


async def prepare_photos(
    photos: Sequence[ImageInput],
    tier: TrainingTier | str = TrainingTier.STANDARD,
    *,
    max_workers: int | None = None,
    limiter: anyio.CapacityLimiter | None = None,
    policy: PhotoPolicy | None = None,
) -> tuple[PhotoReport, list[PreparedPhoto]]:
    """Check and ready a photo set in one read and decode of each photo.

    Returns the report and, in input order, a :class:`PreparedPhoto` for each photo without an
    error of its own (set-level errors such as the count are only in the report): EXIF
    orientation applied, long side at most 4096 px, the original bytes when nothing changed,
    otherwise re-encoded in the same format (JPEG for HEIC); under ``PhotoPolicy(mode="warn")``
    the photos left out are not among them. Call :func:`raise_for_report`
    before uploading anything.
    """
    return await _run(photos, tier, True, max_workers, limiter, policy)
