"""Signed job callbacks: verify them, then make the named job due for a confirming poll.

A callback only tells the SDK where to look: the job is still resolved from ``GET /jobs/{id}``
(polling is authoritative), so a replayed or duplicated callback never does anything twice.

With a coordination shared between processes, the worker that verified a callback announces the
job's id (never the body); every client holding that job makes it due now, wherever it runs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from .. import _constants as C
from .._coord.base import Member
from .._exceptions import WebhookVerificationError
from .._http.retry import Idempotency
from .._jobs.context import ClientContext
from .._jobs.handles import Job
from .._wire.converter import parse_webhook_secret, structure
from .._wire.models import JobSnapshot

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("phota_async")

__all__ = ["Webhooks", "signature_matches"]


def _decode_signature(value: str) -> bytes | None:
    text = value.strip()
    if text.lower().startswith("sha256="):
        text = text[len("sha256="):]
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 32 else None


def signature_matches(secret: str, body: bytes, signature: str) -> bool:
    """True when ``signature`` (hex, ``sha256=<hex>`` or base64) is the HMAC-SHA256 of ``body``."""
    claimed = _decode_signature(signature)
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return claimed is not None and hmac.compare_digest(claimed, expected)


class Webhooks:
    """``phota.webhooks``: the account secret, verification, and the callback handler."""

    def __init__(self, ctx: ClientContext, coordination: Member) -> None:
        self._ctx = ctx
        self._secret: str | None = None
        self._lock = asyncio.Lock()
        self._coord = coordination
        self._refreshes: dict[str, asyncio.Task[object]] = {}  # by job id: one at a time
        coordination.listen(self._on_due)

    async def secret(self) -> str:
        """The account's signing secret (fetched once, then cached)."""
        async with self._lock:
            if self._secret is None:
                response = await self._ctx.requester.call(
                    "GET", "webhook-secret", kind=Idempotency.SAFE
                )
                self._secret = parse_webhook_secret(response.json())
        return self._secret

    async def verify(self, body: bytes, headers: Mapping[str, str]) -> JobSnapshot:
        """Check the signature over the raw ``body``; return the job object it carries.

        Raises :class:`WebhookVerificationError` when the signature is missing or wrong.
        """
        if not isinstance(body, bytes | bytearray):
            raise WebhookVerificationError("verify the raw request body (bytes), not parsed JSON")
        signature = CIMultiDict(headers).get(C.SIGNATURE_HEADER)  # any case, as HTTP allows
        if not signature:
            raise WebhookVerificationError(f"the {C.SIGNATURE_HEADER} header is missing")
        if not signature_matches(await self.secret(), bytes(body), signature):
            raise WebhookVerificationError("the callback's signature does not match")
        try:
            return structure(json.loads(body), JobSnapshot)
        except ValueError as exc:
            raise WebhookVerificationError(f"a signed callback with no job object: {exc}") from None

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Job | None:
        """Verify a callback, then poll the job it names now; returns that job's handle if this
        client holds one (``None`` otherwise: attach it with ``phota.jobs.attach``). The job's
        id is also announced through the coordination, to the process that awaits it."""
        snapshot = await self.verify(body, headers)
        await self._coord.announce_due(snapshot.job_id)
        job = self._ctx.held(Job, snapshot.job_id)
        if job is None:
            return None
        if job.done():
            return job  # a replayed or duplicated callback: nothing to do twice
        job.called_back()
        if job.wants_polling():
            self._ctx.scheduler.poll_now(job)  # the waiters' shared poll, now
        else:
            await job.refresh()  # nobody waits: bring the handle up to date once
        return job

    def _held(self, job_id: str) -> Job | None:
        """This client's unfinished handle for ``job_id``, if it holds one."""
        job = self._ctx.held(Job, job_id)
        if job is None or job.done():
            return None  # not ours, or a replayed or duplicated callback: nothing to do twice
        return job

    def _on_due(self, job_id: str) -> None:
        """Another client or process verified a callback for ``job_id``."""
        job = self._held(job_id)
        if job is None:
            return
        job.called_back()
        if job.wants_polling():
            self._ctx.scheduler.poll_now(job)
        elif job_id not in self._refreshes:  # nobody waits: bring the handle up to date once
            task = asyncio.get_running_loop().create_task(job.refresh())
            self._refreshes[job_id] = task
            task.add_done_callback(lambda done: self._refreshed(job_id, done))

    def _refreshed(self, job_id: str, task: asyncio.Task[object]) -> None:
        self._refreshes.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.info("refreshing job %s after a callback failed: %s", job_id, task.exception())

    async def aclose(self) -> None:
        """Stop refreshes started for announced jobs (the client is closing)."""
        tasks = list(self._refreshes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def aiohttp_handler(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A ready-made ``aiohttp.web`` handler: 204 when verified, 401 when not."""
        from aiohttp import web

        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                await self.handle(await request.read(), request.headers)
            except WebhookVerificationError:
                return web.Response(status=401, text="invalid signature")
            return web.Response(status=204)

        return handler
