"""The request pipeline around every handler, outermost first:

intake (record the request) -> faults (inject what tests asked for) -> errors (render errors
as JSON) -> auth (API key, rate limit) -> handler.

Faults sit outside the error rendering so that an error answer can be dropped or slowed too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from ._clock import http_date
from ._context import Context, context
from ._errors import ApiError, status_error
from ._recording import API_PREFIX, RecordedRequest

log = logging.getLogger("phota_async.emulator")

REQUEST_ID_HEADER = "X-Request-Id"
_TRICKLE_CHUNKS = 10


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def api_path(request: web.Request) -> str | None:
    """The path relative to /v1/phota, or None outside the API (bucket, download files)."""
    if request.path.startswith(API_PREFIX + "/"):
        return request.path[len(API_PREFIX) :]
    return None


def error_response(error: ApiError) -> web.Response:
    """The error as JSON; its body and its header carry the same request id."""
    request_id = new_request_id()
    headers = {**error.headers, REQUEST_ID_HEADER: request_id}
    return web.json_response(error.body(request_id), status=error.status, headers=headers)


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, streamed or not, carries a request id."""
    response.headers.setdefault(REQUEST_ID_HEADER, new_request_id())


@web.middleware
async def intake(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = context(request)
    if not ctx.settings.record_requests:
        return await handler(request)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        body = b""  # recorded without its body; the handler's own read answers 413
    ctx.requests.append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            time=ctx.clock.now(),
        )
    )
    return await handler(request)


@web.middleware
async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = api_path(request)
    if path is None:
        return await handler(request)
    effects = context(request).faults.effects_for(request.method, path)
    await asyncio.sleep(effects.latency)
    if effects.drop == "before":
        return _drop(request)
    if effects.status is not None:
        retry_after = http_date(1) if effects.retry_after == "date" else effects.retry_after
        response: web.StreamResponse = error_response(
            status_error(effects.status, retry_after=retry_after)
        )
    else:
        response = await handler(request)
    if effects.drop == "after":
        return _drop(request)
    if effects.slow_body and isinstance(response, web.Response):
        return await _trickle(request, response, effects.slow_body)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:  # the router's 404 / 405, a 413 from reading the body
        if exc.status < 400:
            raise
        return error_response(ApiError(exc.status, exc.reason))
    except Exception:
        log.exception("emulator handler crashed on %s %s", request.method, request.path)
        return error_response(ApiError(500, "Internal server error"))


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The key first (as FastAPI's APIKeyHeader: missing 403, unknown 401), then the rate limit."""
    path = api_path(request)
    if path is None or request.match_info.http_exception is not None:
        return await handler(request)
    ctx = context(request)
    key = request.headers.get("X-API-Key")
    if not key:
        raise ApiError(403, "Not authenticated")
    if key not in ctx.settings.api_keys:
        raise ApiError(401, "Invalid API key")
    _check_rate_limit(ctx, path)
    return await handler(request)


def _check_rate_limit(ctx: Context, path: str) -> None:
    limit = ctx.faults.rate_limit
    if limit is None or not limit.applies_to(path):
        return
    wait = limit.bucket.take()
    if wait > 0.0:
        # HTTP dates have whole seconds: round up, so that the date is never already past.
        retry_after = (
            http_date(math.ceil(wait)) if limit.retry_after == "date" else limit.retry_after
        )
        raise status_error(429, retry_after=retry_after)


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer: the client sees a server disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp writes this response into the aborted transport, which silently discards it.
    return web.Response(status=499)


async def _trickle(
    request: web.Request, response: web.Response, seconds: float
) -> web.StreamResponse:
    """Send the headers at once, then the body in chunks spread over `seconds` real seconds."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    stream.headers.update(
        (name, value) for name, value in response.headers.items() if name != "Content-Length"
    )
    stream.content_length = len(body)
    await stream.prepare(request)
    step = max(1, -(-len(body) // _TRICKLE_CHUNKS))
    chunks = [body[start : start + step] for start in range(0, len(body), step)]
    try:
        for chunk in chunks:
            await asyncio.sleep(seconds / len(chunks))
            await stream.write(chunk)
        await stream.write_eof()
    except ConnectionResetError:
        pass  # the client gave up waiting for the body, which is what slow bodies are for
    return stream
