"""Routes outside the API, needing no key: the upload bucket and the signed download files."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from aiohttp import web

from ._context import Context, context
from ._errors import ApiError, not_found
from ._pictures import CONTENT_TYPES
from ._storage import Blob

BUCKET_PREFIX = "/bucket"
FILES_PREFIX = "/files"
_EXTENSIONS = {content_type: ext for ext, content_type in CONTENT_TYPES.items() if ext != "jpeg"}


def put_object(ctx: Context, origin: str, data: bytes, content_type: str, name: str | None) -> str:
    """Store an object in the bucket; its public URL."""
    if not name:
        name = f"{secrets.token_hex(12)}.{_EXTENSIONS.get(content_type, 'bin')}"
    ctx.bucket.put(name, Blob(data, content_type))
    return f"{origin}{BUCKET_PREFIX}/{quote(name)}"


async def bucket_put(request: web.Request) -> web.Response:
    return await _store(request, request.match_info["name"])


async def bucket_post(request: web.Request) -> web.Response:
    return await _store(request, request.headers.get("X-Filename"))


async def bucket_get(request: web.Request) -> web.Response:
    blob = context(request).bucket.get(request.match_info["name"])
    if blob is None:
        raise not_found("No such object")
    return web.Response(body=blob.data, content_type=blob.content_type)


async def file_get(request: web.Request) -> web.Response:
    ctx = context(request)
    blob = ctx.files.get(request.match_info["name"])
    if blob is None:
        raise not_found("No such file")
    if blob.expired(ctx.clock.now()):
        raise ApiError(403, "This download URL has expired", type="URL_EXPIRED")
    return web.Response(body=blob.data, content_type=blob.content_type)


async def _store(request: web.Request, name: str | None) -> web.Response:
    data = await request.read()
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    url = put_object(context(request), str(request.url.origin()), data, content_type, name)
    return web.json_response({"url": url})
