"""GET /jobs/{id} (the authoritative job state) and GET /webhook-secret (to check callbacks)."""

from __future__ import annotations

from aiohttp import web

from ._context import context
from ._errors import not_found


async def get_job(request: web.Request) -> web.Response:
    ctx = context(request)
    job = ctx.store.jobs.get(request.match_info["job_id"])
    if job is None:
        raise not_found("Job not found")
    if ctx.settings.refresh_expired_urls:
        ctx.jobs.refresh_expired_urls(job)
    headers = ctx.dialect.poll_headers(job, ctx.clock)
    return web.json_response(ctx.dialect.job_object(job, ctx.clock), headers=headers)


async def webhook_secret(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response(ctx.dialect.secret_body(ctx.settings.webhook_secret))
