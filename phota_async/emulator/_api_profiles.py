"""The /profiles endpoints: create (and train), list, status, picture, delete."""

from __future__ import annotations

from aiohttp import web

from ._context import context
from ._errors import not_found
from ._fields import PROFILE_FIELDS
from ._rules import check_photo_count, check_photo_urls, load_images
from ._schema import json_body, validate
from ._state import ProfileRecord


async def add_profile(request: web.Request) -> web.Response:
    """Check, fetch every photo (as the real server does), bill, then train in the background."""
    ctx = context(request)
    params = validate(await json_body(request), PROFILE_FIELDS)
    urls: list[str] = params["image_urls"]
    check_photo_count(params["training_tier"], len(urls))
    check_photo_urls(urls)
    fields = [(f"image_urls[{index}]", url) for index, url in enumerate(urls)]
    photos = await load_images(fields, ctx.outbound)
    profile = await ctx.training.create(
        photos, tier=params["training_tier"], tag=params["tag"], path="/profiles/add"
    )
    return web.json_response({"profile_id": profile.id})


async def list_profiles(request: web.Request) -> web.Response:
    ctx = context(request)
    tag = request.query.get("tag")
    items = [
        ctx.dialect.profile_item(profile)
        for profile in ctx.store.profiles.values()
        if tag is None or profile.tag == tag
    ]
    return web.json_response({"profiles": items})


async def profile_status(request: web.Request) -> web.Response:
    profile = _profile(request)
    body = {"profile_id": profile.id, "status": profile.status, "message": profile.message}
    return web.json_response(body)


async def profile_picture(request: web.Request) -> web.Response:
    return web.Response(body=_profile(request).picture, content_type="image/jpeg")


async def delete_profile(request: web.Request) -> web.Response:
    ctx = context(request)
    profile = _profile(request)
    ctx.training.stop(profile)
    del ctx.store.profiles[profile.id]
    return web.json_response({"profile_id": profile.id, "status": "ok"})


def _profile(request: web.Request) -> ProfileRecord:
    profile = context(request).store.profiles.get(request.match_info["profile_id"])
    if profile is None:
        raise not_found("Profile not found")
    return profile
