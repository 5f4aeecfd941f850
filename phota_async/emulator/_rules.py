"""The server's business rules (400s), applied after the body passed the field checks (422s).

This is also where input images are loaded, as the real server does: URLs are fetched, base64 is
decoded, and both must turn out to be JPEG, PNG, WebP or HEIC.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL

from . import _pictures as _images
from ._errors import bad_request, content_moderation
from ._fields import MODEL_RESOLUTIONS, QUALITY_MODELS, TIER_PHOTO_COUNTS
from ._outbound import FetchError, Outbound
from ._state import ImageRequest, ProfileRecord

INLINE_PROFILE = re.compile(r"\[\[([^\[\]]+)\]\]")
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)
_FAIL_MARKER = "[fail]"
_PINNED_MODEL = "nb2"  # enhance and remix always run on Nano Banana 2
_LOOPBACK_NAMES = ("localhost",)


async def image_request(
    kind: str,
    path: str,
    params: Mapping[str, Any],
    *,
    profiles: Mapping[str, ProfileRecord],
    outbound: Outbound,
) -> ImageRequest:
    """Check the rules cheapest first; fetching the input images comes last."""
    prompt: str | None = params.get("prompt")
    if prompt is not None and _MODERATED.search(prompt):
        raise content_moderation()
    if "base_model" in params:
        check_model_options(params)
    check_callback(params["callback_url"], is_async=params["async"])
    named = named_profiles(prompt, params.get("profile_ids") or (), profiles)
    inputs = await load_images(image_fields(kind, params), outbound)
    output_format = params["output_format"]
    return ImageRequest(
        kind=kind,
        path=path,
        prompt=prompt,
        base_model=params.get("base_model", _PINNED_MODEL),
        aspect_ratio=params.get("aspect_ratio", "auto"),
        num_output_images=params["num_output_images"],
        output_format=output_format or "jpg",
        output_format_defaulted=output_format is None,
        response_mode=params["response_mode"],
        is_async=params["async"],
        callback_url=params["callback_url"],
        client_request_id=params["client_request_id"],
        profile_ids=named,
        input_count=len(inputs),
        should_fail=_FAIL_MARKER in (prompt or ""),
    )


def check_model_options(params: Mapping[str, Any]) -> None:
    model, resolution = params["base_model"], params["resolution"]
    if params["quality"] is not None and model not in QUALITY_MODELS:
        raise bad_request(f"quality is only supported by {', '.join(QUALITY_MODELS)}, not {model}")
    supported = MODEL_RESOLUTIONS[model]
    if resolution not in supported:
        allowed = ", ".join(supported)
        raise bad_request(f"resolution {resolution} is not supported by {model} (only {allowed})")


def check_callback(callback_url: str | None, *, is_async: bool) -> None:
    if callback_url is None:
        return
    if not is_async:
        raise bad_request("callback_url requires async: true")
    url = _parse_url(callback_url)
    if url is None or not (url.scheme == "https" or (url.scheme == "http" and _is_loopback(url))):
        raise bad_request("callback_url must be an https URL")


def named_profiles(
    prompt: str | None, profile_ids: Sequence[str], profiles: Mapping[str, ProfileRecord]
) -> tuple[str, ...]:
    """Profiles from `profile_ids` and `[[id]]` in the prompt, merged; each must be READY."""
    named = dict.fromkeys([*profile_ids, *INLINE_PROFILE.findall(prompt or "")])
    for profile_id in named:
        profile = profiles.get(profile_id)
        if profile is None:
            raise bad_request(f"profile {profile_id} does not exist", type="PROFILE_NOT_FOUND")
        if profile.status != "READY":
            raise bad_request(
                f"profile {profile_id} is not READY (status {profile.status})",
                type="PROFILE_NOT_READY",
            )
    return tuple(named)


def image_fields(kind: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(location, image string) of every input image of the request."""
    if kind == "edit":
        return [(f"images[{i}]", image) for i, image in enumerate(params["images"])]
    if kind == "enhance":
        return [("image", params["image"])]
    if kind == "remix":
        return [
            ("input_image", params["input_image"]),
            ("reference_image", params["reference_image"]),
        ]
    return []


def check_photo_count(tier: str, count: int) -> None:
    low, high = TIER_PHOTO_COUNTS[tier]
    if not low <= count <= high:
        raise bad_request(f"training_tier {tier} takes {low} to {high} photos, got {count}")


def check_photo_urls(urls: Sequence[str]) -> None:
    for index, value in enumerate(urls):
        if not is_http_url(value):
            raise bad_request(
                f"image_urls[{index}] is not an http(s) URL (base64 is not accepted here)"
            )


async def load_images(fields: Sequence[tuple[str, str]], outbound: Outbound) -> tuple[bytes, ...]:
    """Every image's bytes, fetched concurrently; the first bad one (by position) is the 400."""
    results = await asyncio.gather(
        *(load_image(loc, value, outbound) for loc, value in fields),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return tuple(result for result in results if isinstance(result, bytes))


async def load_image(loc: str, value: str, outbound: Outbound) -> bytes:
    if value.startswith("data:"):
        raise bad_request(f"{loc}: send plain base64, not a data: URI")
    if is_http_url(value):
        data = await _fetch(loc, value, outbound)
    else:
        data = _decode_base64(loc, value)
    fmt = _images.sniff(data)
    if fmt is None or not await asyncio.to_thread(_images.decodes, data, fmt):
        raise bad_request(f"{loc} is not a JPEG, PNG, WebP or HEIC image")
    return data


def is_http_url(value: str) -> bool:
    url = _parse_url(value)
    return url is not None and url.scheme in ("http", "https")


async def _fetch(loc: str, url: str, outbound: Outbound) -> bytes:
    try:
        return await outbound.fetch(url)
    except FetchError as exc:
        raise bad_request(f"{loc}: could not fetch {url}: {exc}") from exc


def _decode_base64(loc: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"{loc} is neither an http(s) URL nor valid base64") from exc


def _parse_url(value: str) -> URL | None:
    try:
        url = URL(value)
    except (ValueError, TypeError):
        return None
    return url if url.is_absolute() and url.host else None


def _is_loopback(url: URL) -> bool:
    host = url.host or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
