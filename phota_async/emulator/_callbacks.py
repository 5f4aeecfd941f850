"""Signed callbacks: best-effort POSTs of a finished job's object to its `callback_url`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from typing import Literal

import aiohttp
import attrs

from ._outbound import Outbound
from ._tasks import BackgroundTasks

log = logging.getLogger("phota_async.emulator")

SIGNATURE_HEADER = "X-Phota-Signature"

SignatureEncoding = Literal["hex", "sha256=", "base64"]


@attrs.frozen
class CallbackPolicy:
    """How callbacks misbehave: every variant the SDK has to survive (phota-api.md 9.3)."""

    encoding: SignatureEncoding = attrs.field(
        default="hex", validator=attrs.validators.in_(("hex", "sha256=", "base64"))
    )
    duplicate: bool = False  # deliver every callback twice
    delay: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))  # real seconds
    drop: bool = False  # never deliver


@attrs.frozen
class CallbackDelivery:
    """One attempt to deliver a callback: `status` is None when the POST itself failed."""

    url: str
    body: bytes
    signature: str
    status: int | None
    error: str | None = None


def sign(secret: str, body: bytes, encoding: SignatureEncoding = "hex") -> str:
    """HMAC-SHA256 of the raw body keyed with the UTF-8 secret, in the chosen encoding."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    prefix = "sha256=" if encoding == "sha256=" else ""
    return prefix + digest.hex()


class CallbackSender:
    def __init__(
        self, *, policy: CallbackPolicy, secret: str, outbound: Outbound, tasks: BackgroundTasks
    ) -> None:
        self._policy = policy
        self._secret = secret
        self._outbound = outbound
        self._tasks = tasks
        self.deliveries: list[CallbackDelivery] = []

    def send(self, url: str, body: bytes) -> None:
        """Schedule the delivery; the caller never waits for it, nor learns if it failed."""
        if not self._policy.drop:
            self._tasks.spawn(self._deliver(url, body), name=f"callback {url}")

    async def _deliver(self, url: str, body: bytes) -> None:
        await asyncio.sleep(self._policy.delay)
        signature = sign(self._secret, body, self._policy.encoding)
        headers = {SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
        for _ in range(2 if self._policy.duplicate else 1):
            self.deliveries.append(await self._post(url, body, signature, headers))

    async def _post(
        self, url: str, body: bytes, signature: str, headers: dict[str, str]
    ) -> CallbackDelivery:
        try:
            status = await self._outbound.post(url, body, headers)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("callback to %s failed: %r", url, exc)
            return CallbackDelivery(url, body, signature, None, repr(exc))
        return CallbackDelivery(url, body, signature, status)
