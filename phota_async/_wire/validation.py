"""Local checks of a request, made before anything is sent (a bad request costs nothing).

Each check raises :class:`InvalidInputError` naming the field and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TypeGuard, TypeVar
from urllib.parse import urlsplit

from .. import _constants as C
from .._exceptions import InvalidInputError
from .enums import BaseModel, Quality, Resolution, TrainingTier

E = TypeVar("E", bound=StrEnum)

# What each base model can render (phota-api.md section 3).
MODEL_RESOLUTIONS: dict[BaseModel, frozenset[Resolution]] = {
    BaseModel.NB2: frozenset({Resolution.R1K, Resolution.R2K, Resolution.R4K}),
    BaseModel.GPT_IMAGE_2: frozenset({Resolution.R1K, Resolution.R2K, Resolution.R4K}),
    BaseModel.QWEN_IMAGE_2: frozenset({Resolution.R1K, Resolution.R2K}),
    BaseModel.FLUX_2: frozenset({Resolution.R1K, Resolution.R2K}),
    BaseModel.REVE: frozenset({Resolution.R1K}),
}
_CLIENT_REQUEST_ID = re.compile(C.CLIENT_REQUEST_ID_PATTERN)
_PROFILE_REF = re.compile(r"\[\[([^\[\]]*)\]\]")
_RESOURCE_ID = re.compile(r"[^/?#%\\\s\x00-\x1f\x7f]+")


def _listing(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def enum_value(value: object, enum: type[E], field: str) -> E:
    """``value`` as a member of ``enum``; the member itself or its string value is accepted."""
    try:
        return enum(value)  # type: ignore[arg-type]  # a wrong type is reported below
    except ValueError:
        raise InvalidInputError(
            field, f"{value!r} is not a valid value", allowed=_listing(m.value for m in enum)
        ) from None


def optional_enum(value: object, enum: type[E], field: str) -> E | None:
    """Like :func:`enum_value`, but ``None`` stays ``None`` (the field is not sent)."""
    return None if value is None else enum_value(value, enum, field)


def int_in_range(value: object, low: int, high: int, field: str) -> int:
    """An int within ``low..high`` (bool is refused, since it is almost always a mistake)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(
            field, f"must be an integer, got {value!r}", allowed=f"{low}..{high}"
        )
    if not low <= value <= high:
        raise InvalidInputError(field, f"{value} is out of range", allowed=f"{low}..{high}")
    return value


def count_in_range(items: Sequence[object], low: int, high: int, field: str) -> None:
    """A list's length within ``low..high``."""
    if not low <= len(items) <= high:
        raise InvalidInputError(
            field, f"got {len(items)} item(s)", allowed=f"{low}..{high} items"
        )


def prompt(value: object, field: str = "prompt", *, required: bool = True) -> str | None:
    """A non-blank prompt string (or None where the endpoint makes it optional) whose
    ``[[profile_id]]`` references are not empty."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(field, "must be a non-empty string")
    prompt_profile_refs(value, field)
    return value


def profile_ids(value: object, field: str = "profile_ids") -> list[str] | None:
    """A list of non-empty profile id strings, or None."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInputError(field, "must be a list of profile id strings")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or "[" in item or "]" in item:
            raise InvalidInputError(f"{field}[{index}]", f"{item!r} is not a profile id")
    return list(value)


def prompt_profile_refs(text: str | None, field: str = "prompt") -> list[str]:
    """The ``[[profile_id]]`` references of a prompt; an empty ``[[ ]]`` is refused."""
    if not text:
        return []
    refs = _PROFILE_REF.findall(text)
    for ref in refs:
        if not ref.strip():
            raise InvalidInputError(field, "holds an empty [[ ]] profile reference")
    return refs


def model_options(
    base_model: BaseModel | None, resolution: Resolution | None, quality: Quality | None
) -> None:
    """``quality`` only with gpt-image-2; the resolution must be one the model renders."""
    model = base_model or BaseModel.NB2
    if quality is not None and model is not BaseModel.GPT_IMAGE_2:
        raise InvalidInputError(
            "quality", f"is not supported by base_model {model.value!r}",
            allowed="only with base_model 'gpt-image-2'",
        )
    supported = MODEL_RESOLUTIONS[model]
    if resolution is not None and resolution not in supported:
        allowed = _listing(r.value for r in Resolution if r in supported)
        raise InvalidInputError(
            "resolution", f"{resolution.value!r} is not supported by base_model {model.value!r}",
            allowed=allowed,
        )


def callback_url(value: object) -> str | None:
    """An https URL; plain http only to a loopback host (for local testing)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError("callback_url", "must be a URL string")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return value
    raise InvalidInputError(
        "callback_url", f"{value!r} is not allowed", allowed="https URLs (http only to loopback)"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_request_id(value: object) -> str | None:
    """At most 128 characters from ``[A-Za-z0-9._:-]``."""
    if value is None:
        return None
    allowed = f"1..{C.CLIENT_REQUEST_ID_MAX_LENGTH} characters from [A-Za-z0-9._:-]"
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= C.CLIENT_REQUEST_ID_MAX_LENGTH
        or not _CLIENT_REQUEST_ID.fullmatch(value)
    ):
        raise InvalidInputError("client_request_id", f"{value!r} is not valid", allowed=allowed)
    return value


def tag(value: object) -> str | None:
    """A profile tag: a string of 1..128 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= C.TAG_MAX_LENGTH:
        raise InvalidInputError(
            "tag", f"{value!r} is not valid",
            allowed=f"a string of 1..{C.TAG_MAX_LENGTH} characters",
        )
    return value


def photo_count_problem(count: int, tier: TrainingTier, *, usable: bool = False) -> str | None:
    """Why ``count`` photos (``usable``: those left after leaving bad ones out) do not suit
    training ``tier`` (``C.TIER_PHOTOS``), or None."""
    low, high = C.TIER_PHOTOS[tier.value]
    if low <= count <= high:
        return None
    ranges = ", ".join(f"{name}: {a}..{b}" for name, (a, b) in C.TIER_PHOTOS.items())
    what = f"{count} usable photo(s) left" if usable else f"got {count} photo(s)"
    return f"{what}; training tier {tier.value!r} takes {low}..{high} ({ranges})"


def photo_count(count: int, tier: TrainingTier) -> None:
    """The tier's range of photos (fast: 5..10, standard: 10..50)."""
    problem = photo_count_problem(count, tier)
    if problem:
        raise InvalidInputError("photos", problem)


def is_resource_id(value: object) -> TypeGuard[str]:
    """True for an id that names one resource in a URL path and one file name: the rule for
    ids a user gives and ids the server sends alike (``../x`` must never reach a path)."""
    return isinstance(value, str) and bool(_RESOURCE_ID.fullmatch(value)) and value not in (
        ".", "..")


def resource_id(value: object, field: str) -> str:
    """A profile or job id that is safe to put in a URL path as it is.

    ``?``, ``#``, ``/`` and ``%`` would change which resource the URL names (``delete("a?b")``
    would delete ``a``), so they are refused rather than escaped.
    """
    if not is_resource_id(value):
        raise InvalidInputError(
            field, f"{value!r} is not a valid id",
            allowed="printable characters other than / ? # % \\ and spaces",
        )
    return value
