"""POST /edit, /generate, /enhance, /remix: image work, synchronous or as a job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ._context import Context, context
from ._fields import IMAGE_FIELDS
from ._recording import API_PREFIX
from ._rules import image_request
from ._schema import json_body, validate
from ._state import JobRecord

# Sent when a request relied on the default output_format, which moves from png to jpg.
DEPRECATION_HEADER = "X-Phota-Deprecation-Date"
DEPRECATION_DATE = "2027-03-01"


def image_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await submit(request, kind)

    return handle


async def submit(request: web.Request, kind: str) -> web.Response:
    """422 field checks, then the idempotency key, then 400 rules, then billing and the work."""
    ctx = context(request)
    params = validate(await json_body(request), IMAGE_FIELDS[kind])
    headers = _deprecation_headers(params)
    origin = str(request.url.origin())
    # A retried async submit gets its original job back, whatever its body says now.
    replayed = ctx.store.job_for_client_request_id(params["client_request_id"])
    if params["async"] and replayed is not None:
        return _accepted(ctx, replayed, origin, headers)
    checked = await image_request(
        kind, f"/{kind}", params, profiles=ctx.store.profiles, outbound=ctx.outbound
    )
    if checked.is_async:
        return _accepted(ctx, ctx.jobs.submit(checked, origin=origin), origin, headers)
    result = await ctx.jobs.run_sync(checked, origin=origin)
    return web.json_response(result.payload(), headers=headers)


def _accepted(
    ctx: Context, job: JobRecord, origin: str, headers: Mapping[str, str]
) -> web.Response:
    body: dict[str, Any] = {
        "job_id": job.id,
        "poll_url": f"{origin}{API_PREFIX}/jobs/{job.id}",
        "status": ctx.dialect.status_word(job),
    }
    return web.json_response(body, status=202, headers=headers)


def _deprecation_headers(params: Mapping[str, Any]) -> dict[str, str]:
    return {DEPRECATION_HEADER: DEPRECATION_DATE} if params["output_format"] is None else {}
