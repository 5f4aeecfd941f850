"""The pre-flight report of a training photo set: :class:`PhotoIssue` (one problem),
:class:`PhotoCheck` (what was found about one photo), :class:`PhotoReport` (every photo's check in
input order, plus the issues of the set as a whole) and :func:`raise_for_report`, which turns a
report with errors into :class:`InvalidInputError`. They are frozen, JSON-ready data with no Pillow
work and no I/O: the public result of :func:`check_photos`, kept apart from the checks that fill
them in so that a reader (or a web backend showing the report to its user) finds them whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from attrs import field, frozen, validators

from .. import _constants as C
from .._exceptions import InvalidInputError
from .._wire.enums import TrainingTier

__all__ = ["PhotoCheck", "PhotoIssue", "PhotoPolicy", "PhotoReport", "raise_for_report"]

Level = Literal["warning", "error"]
Status = Literal["ok", "warning", "error"]
PolicyMode = Literal["strict", "warn"]


@frozen
class PhotoPolicy:
    """How the pre-flight treats problems.

    ``mode="strict"`` (the default) refuses a set with any error. ``mode="warn"`` goes on with
    warnings only: a photo that cannot be used (unreadable, not an image, under the floor) and
    the extra copies of a duplicate are left out, each with a warning, and the set is refused
    only when too few usable photos remain for the tier. ``min_side`` is the floor on a photo's
    short side (256 px): it is this SDK's judgement, not a rule of the server, so lower it
    knowingly (small photos train a weaker likeness; under 1024 px is always warned about).
    """

    mode: PolicyMode = field(default="strict", validator=validators.in_(("strict", "warn")))
    min_side: int = field(default=C.PHOTO_MIN_SIDE, validator=[
        validators.instance_of(int), validators.ge(1), validators.le(C.PHOTO_GOOD_SIDE)])


@frozen
class PhotoIssue:
    """One problem: ``level`` (an error refuses the set, a warning does not), a stable ``code``
    (``too_small``, ``duplicate``...), a human ``message``, and the ``indexes`` of the photos
    concerned (empty for a problem of the whole set, such as the count)."""

    level: Level
    code: str
    message: str
    indexes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The issue as JSON-ready data."""
        return {"level": self.level, "code": self.code, "message": self.message,
                "indexes": list(self.indexes)}


def _status(issues: Sequence[PhotoIssue]) -> Status:
    levels = {issue.level for issue in issues}
    return "error" if "error" in levels else "warning" if "warning" in levels else "ok"


@frozen
class PhotoCheck:
    """What the check found about one photo: ``source`` is a display name (the file name,
    ``bytes``, or the URL without its query), ``format`` the real format read from the content,
    ``width``/``height`` as displayed (EXIF orientation applied). ``remote`` photos are URLs,
    passed through unchecked: the API fetches them itself."""

    index: int
    source: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    issues: tuple[PhotoIssue, ...] = ()
    remote: bool = False

    @property
    def status(self) -> Status:
        """``error``, ``warning`` or ``ok``: the worst of the photo's issues."""
        return _status(self.issues)

    @property
    def label(self) -> str:
        """How the photo is named in messages: ``photos[3] (IMG_0004.jpg)``."""
        return f"photos[{self.index}] ({self.source})"

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return {"index": self.index, "source": self.source, "format": self.format,
                "width": self.width, "height": self.height, "status": self.status,
                "remote": self.remote, "issues": [i.to_dict() for i in self.issues]}


@frozen
class PhotoReport:
    """The pre-flight report of a photo set for a training ``tier``: one :class:`PhotoCheck` per
    photo, in input order, and the ``issues`` of the set as a whole (count, duplicates)."""

    tier: TrainingTier
    photos: tuple[PhotoCheck, ...]
    issues: tuple[PhotoIssue, ...] = ()

    @property
    def all_issues(self) -> tuple[PhotoIssue, ...]:
        """Every issue: the set's first, then each photo's in order."""
        return self.issues + tuple(i for photo in self.photos for i in photo.issues)

    @property
    def errors(self) -> tuple[PhotoIssue, ...]:
        """The issues that refuse the set."""
        return tuple(i for i in self.all_issues if i.level == "error")

    @property
    def warnings(self) -> tuple[PhotoIssue, ...]:
        """The issues worth telling the user about that do not refuse the set."""
        return tuple(i for i in self.all_issues if i.level == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing refuses the set (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """Human text: a headline, then one line per problem naming the photo and the problem."""
        count = len(self.photos)
        head = f"{count} photo(s) for training tier {self.tier.value!r}"
        if not self.all_issues:
            return f"{head}: no problems found"
        errors, warnings = len(self.errors), len(self.warnings)
        lines = [f"{head}: {errors} error(s), {warnings} warning(s)"]
        lines += [f"- {issue.level}: {issue.message}" for issue in self.issues]
        for photo in self.photos:
            lines += [f"- {i.level}: {photo.label}: {i.message}" for i in photo.issues]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {"tier": self.tier.value, "ok": self.ok,
                "issues": [i.to_dict() for i in self.issues],
                "photos": [p.to_dict() for p in self.photos]}


def raise_for_report(report: PhotoReport) -> None:
    """Raise :class:`InvalidInputError` (field ``photos``, carrying the report) if it has errors."""
    if not report.ok:
        raise InvalidInputError("photos", report.summary(), report=report)
