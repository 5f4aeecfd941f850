"""The one converter between our models and the wire's JSON.

Parsing is forward compatible (phota-api.md section 9): unknown keys are ignored, unknown enum
values are kept as strings, and every listed variant of a response is accepted. The irregular
shapes (job objects, error bodies, profile lists) have hand-written hooks registered on the same
converter, so every response goes through ``converter.structure``.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import math
import reprlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from .. import _constants as C
from .._exceptions import APIResponseError
from .._redaction import KeyRedactor
from .enums import JobState, ProfileStatus
from .models import (
    EditRequest,
    EnhanceRequest,
    ErrorInfo,
    GenerateRequest,
    ImageResponse,
    JobHandle,
    JobSnapshot,
    KnownSubjects,
    Profile,
    ProfileSummary,
    RemixRequest,
)
from .validation import is_resource_id

__all__ = [
    "classify_status",
    "converter",
    "decode_json",
    "excerpt",
    "parse_error_body",
    "parse_retry_after",
    "structure",
]

log = logging.getLogger("phota_async")
T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False)

_PENDING = frozenset({"queued", "pending", "starting", "running", "processing", "in_progress"})
_SUCCEEDED = frozenset({"completed", "succeeded", "success", "done"})
_FAILED = frozenset({"failed", "error", "canceled", "cancelled", "expired", "timed_out"})
_unknown_statuses_seen: set[str] = set()


class _BadShape(ValueError):
    """Raised by our hooks: an answer lacks what a model needs (the text says what)."""


# Excerpts of hostile answers stay short and shallow, whatever their size or depth.
_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxstring, _EXCERPT.maxother = 3, 80, 80
_EXCERPT.maxdict = _EXCERPT.maxlist = 6


def excerpt(value: Any) -> str:
    """A short, shallow repr of a decoded answer, for an error message."""
    return _EXCERPT.repr(value)


def structure(obj: Any, cls: type[T]) -> T:
    """Structure a decoded JSON value into ``cls``; a shape we cannot read raises
    :class:`APIResponseError` (a ValueError) that says what is wrong."""
    try:
        return converter.structure(obj, cls)
    except (cattrs.BaseValidationError, LookupError, TypeError, AttributeError, ValueError,
            ArithmeticError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, _BadShape) else type(exc).__name__
        raise APIResponseError(
            f"unexpected answer shape for {cls.__name__} ({reason}): {excerpt(obj)}"
        ) from None


def decode_json(
    body: bytes | str,
    *,
    max_depth: int = C.MAX_JSON_DEPTH,
    scrub: KeyRedactor | None = None,
) -> Any:
    """``body`` decoded as JSON; ValueError saying why when it is not JSON or nests containers
    deeper than ``max_depth`` (a hostile answer must not end in a RecursionError).

    ``scrub``, when given, is applied to every string (keys included): it hides a secret the
    server echoed before any of the text can reach an exception or a log line.
    """
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError(f"it nests deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"it is not JSON ({type(exc).__name__})") from None
    if isinstance(value, str):
        return scrub(value) if scrub else value
    if not isinstance(value, dict | list):
        return value
    # The common answer is small and holds no trace of the secret: two scans in C then spare
    # the walk over every string (a body cannot nest deeper than it has brackets).
    if scrub is not None and not scrub.may_hide(body):
        scrub = None
    if scrub is None and _brackets(body) <= max_depth:
        return value
    if not _walk(value, max_depth, scrub):
        raise ValueError(f"it nests deeper than {max_depth} levels")
    return value


def _brackets(body: bytes | str) -> int:
    if isinstance(body, bytes):
        return body.count(b"[") + body.count(b"{")
    return body.count("[") + body.count("{")


def _walk(root: dict[str, Any] | list[Any], limit: int, scrub: Callable[[str], str] | None) -> bool:
    """Check the nesting of ``root`` (iteratively: no recursion) and scrub its strings in
    place; False when containers nest more than ``limit`` deep."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            if scrub is not None and any(scrub(key) != key for key in node):
                items = [(scrub(key), child) for key, child in node.items()]
                node.clear()
                node.update(items)
            pairs: Iterable[tuple[Any, Any]] = node.items()
        else:
            pairs = enumerate(node)
        for slot, child in pairs:  # replacing a value in place is safe while iterating
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif scrub is not None and isinstance(child, str):
                node[slot] = scrub(child)
    return True


def _server_id(value: Any, name: str) -> str:
    """An id the server gave: a string (or an integer) that passes the same rule as a user's
    ids, never ``None`` as 'None' nor a path such as ``../x``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if is_resource_id(value):
        return str(value)
    raise _BadShape(f"{name} is missing or not a usable id")


# --- Requests: drop unset fields; ``async_`` goes on the wire as ``async`` ----------------

for _request_cls in (GenerateRequest, EditRequest, EnhanceRequest, RemixRequest):
    _fn = make_dict_unstructure_fn(
        _request_cls, converter, _cattrs_omit_if_default=False, async_=override(rename="async")
    )

    def _drop_none(obj: Any, _fn: Any = _fn) -> dict[str, Any]:
        return {k: v for k, v in _fn(obj).items() if v is not None}

    converter.register_unstructure_hook(_request_cls, _drop_none)


# --- Statuses ------------------------------------------------------------------------------


def classify_status(raw: str) -> JobState:
    """Map a job status word to a state; unknown words are pending (and logged once)."""
    word = raw.strip().lower()
    if word in _SUCCEEDED:
        return JobState.SUCCEEDED
    if word in _FAILED:
        return JobState.FAILED
    if word not in _PENDING and word not in _unknown_statuses_seen:
        _unknown_statuses_seen.add(word)
        log.warning("unknown job status %r: treating the job as still pending", raw)
    return JobState.PENDING


def _profile_status(raw: Any) -> ProfileStatus | str:
    text = str(raw)
    try:
        return ProfileStatus(text.upper())
    except ValueError:
        return text


# --- Image results ---------------------------------------------------------------------------


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _known_subjects(value: Any) -> KnownSubjects:
    counts = value.get("counts") if isinstance(value, Mapping) else None
    if not isinstance(counts, Mapping):
        return KnownSubjects()
    # Counts that are not finite numbers (1e999, NaN, true) are not counts: leave them out.
    return KnownSubjects({
        str(k): int(v) for k, v in counts.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    })


def _image_response(obj: Any, _: type) -> ImageResponse:
    if isinstance(obj, list):  # an ``output`` that is a bare list of URLs or base64 images
        items = _str_list(obj)
        urls = [i for i in items if i.startswith(("http://", "https://"))]
        return ImageResponse(images=[i for i in items if i not in urls], download_urls=urls)
    if not isinstance(obj, Mapping):
        raise TypeError("an image result must be an object")
    return ImageResponse(
        images=_str_list(obj.get("images")),
        download_urls=_str_list(obj.get("download_urls")),
        known_subjects=_known_subjects(obj.get("known_subjects")),
    )


converter.register_structure_hook(ImageResponse, _image_response)

_RESULT_KEYS = ("images", "download_urls", "known_subjects")


# --- Job objects -----------------------------------------------------------------------------


def _error_info(value: Any) -> ErrorInfo | None:
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, Mapping):
        kind = value.get("type") or value.get("code")
        text = value.get("message") or value.get("detail")
        return ErrorInfo(
            type=str(kind) if kind is not None else None,
            message=str(text) if text is not None else None,
        )
    return ErrorInfo(message=str(value))


def _poll_after(obj: Mapping[str, Any]) -> float | None:
    if isinstance(obj.get("poll_after_ms"), int | float):
        return max(0.0, float(obj["poll_after_ms"]) / 1000.0)
    if isinstance(obj.get("retry_after"), int | float):
        return max(0.0, float(obj["retry_after"]))
    return None


def _job_result(obj: Mapping[str, Any]) -> ImageResponse | None:
    for key in ("result", "output"):
        nested = obj.get(key)
        if isinstance(nested, Mapping | list) and nested:
            return _image_response(nested, ImageResponse)
    if any(obj.get(key) for key in _RESULT_KEYS):
        return _image_response(obj, ImageResponse)
    return None


def _job_handle(obj: Any, _: type) -> JobHandle:
    if not isinstance(obj, Mapping):
        raise _BadShape("a job handle must be an object")
    poll_url = obj.get("poll_url")
    return JobHandle(
        job_id=_server_id(obj.get("job_id"), "job_id"),
        poll_url=poll_url if isinstance(poll_url, str) else None,
    )


converter.register_structure_hook(JobHandle, _job_handle)


def _job_snapshot(obj: Any, _: type) -> JobSnapshot:
    if not isinstance(obj, Mapping):
        raise _BadShape("a job must be an object")
    job_id = _server_id(obj.get("job_id") or obj.get("id"), "job_id")
    raw = str(obj.get("status") or "")
    return JobSnapshot(
        job_id=job_id,
        status=raw,
        state=classify_status(raw),
        result=_job_result(obj),
        error=_error_info(obj.get("error")),
        poll_after=_poll_after(obj),
    )


converter.register_structure_hook(JobSnapshot, _job_snapshot)


# --- Profiles ---------------------------------------------------------------------------------


def _profile(obj: Any, _: type) -> Profile:
    message = obj.get("message")
    return Profile(
        profile_id=_server_id(obj.get("profile_id"), "profile_id"),
        status=_profile_status(obj["status"]),
        message=str(message) if message is not None else None,
    )


def _profile_summary(obj: Any, _: type) -> ProfileSummary:
    if isinstance(obj, str):
        return ProfileSummary(_server_id(obj, "profile_id"))
    status = obj.get("status")
    tag = obj.get("tag")
    return ProfileSummary(
        profile_id=_server_id(obj.get("profile_id") or obj.get("id"), "profile_id"),
        tag=str(tag) if tag is not None else None,
        status=_profile_status(status) if status is not None else None,
    )


converter.register_structure_hook(Profile, _profile)
converter.register_structure_hook(ProfileSummary, _profile_summary)


def parse_profile_list(obj: Any) -> list[ProfileSummary]:
    """``{"profiles": [...]}`` (or a bare list) into summaries; items are ids or objects."""
    items = obj.get("profiles") if isinstance(obj, Mapping) else obj
    if not isinstance(items, list):
        raise APIResponseError(f"unexpected answer shape for a profile list: {excerpt(obj)}")
    return [structure(item, ProfileSummary) for item in items]


def parse_webhook_secret(obj: Any) -> str:
    """The secret of ``GET /webhook-secret``, under any of the three known keys."""
    if isinstance(obj, Mapping):
        for key in ("secret", "webhook_secret", "signing_secret"):
            if isinstance(obj.get(key), str) and obj[key]:
                return str(obj[key])
    raise APIResponseError("the webhook-secret answer holds no secret")


# --- Errors and hints -------------------------------------------------------------------------


def parse_error_body(body: Any) -> tuple[str | None, str | None, Any, str | None]:
    """``(error_type, message, detail, request_id)`` from any error body, lenient to shape."""
    if not isinstance(body, Mapping):
        return None, None, None, None
    detail = body.get("detail")
    error_type = body.get("type") or body.get("error_type") or body.get("code")
    # FastAPI's HTTPException(detail={...}) nests the type and text in ``detail``.
    nested = next(
        (body[key] for key in ("error", "detail") if isinstance(body.get(key), Mapping)), None
    )
    if not error_type and nested:
        error_type = nested.get("type") or nested.get("error_type") or nested.get("code")
    if not error_type and isinstance(detail, str) and detail.isupper() and " " not in detail:
        error_type = detail  # e.g. {"detail": "CONTENT_MODERATION"}
    message = body.get("message") or (
        nested.get("message") or nested.get("detail") if nested else None
    )
    if not message:
        message = _detail_text(detail)
    request_id = body.get("request_id")
    return (
        str(error_type) if error_type else None,
        str(message) if message else None,
        detail,
        str(request_id) if request_id else None,
    )


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI's 422 list
        parts = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
        return "; ".join(parts) or None
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # asctime dates and "-0000" carry no zone: HTTP dates are GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
