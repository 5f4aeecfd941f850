"""The one place HTTP happens: an aiohttp session, the API key, timeouts and error mapping.

One call of :meth:`Transport.request` is one attempt; retries, deadlines and the limiter live
above it (``_retry.py``, ``_limiter.py``). The key is sent to the API's own origin only: never to
download hosts, never across a redirect, and never into a repr, a log line or an exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio.to_thread
import attrs
from attrs import field, frozen
from multidict import CIMultiDictProxy

from .. import _clock as clock
from .. import _constants as C
from .._exceptions import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    PhotaError,
    status_error_class,
)
from .._redaction import KeyRedactor, display_url
from .._wire.converter import decode_json, parse_error_body, parse_retry_after, structure

log = logging.getLogger("phota_async")
T = TypeVar("T")

_MAX_REDIRECTS = 5
_NOT_DECODED: Any = object()
# Answers that may carry images inline (base64 in JSON, or picture bytes) get the larger cap.
_IMAGE_ENDPOINTS = frozenset({"edit", "generate", "enhance", "remix"})
_DEPRECATIONS_REMEMBERED = 64  # distinct warnings; a server inventing dates gets no more
_EXCERPT_CHARS = 500  # of an unusable answer, kept on its error


class Secret:
    """A string that never shows itself in a repr or a str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def api_key(cls, api_key: object) -> Secret:
        """The key as a Secret; InvalidInputError (which never shows the key) when it cannot
        go into a header as it is: a trailing newline from a file, a control character..."""
        if not isinstance(api_key, str):
            raise InvalidInputError("api_key", f"must be a string, not {type(api_key).__name__}")
        if not (api_key.isascii() and api_key.isprintable()) or api_key != api_key.strip():
            raise InvalidInputError(
                "api_key", "holds a line break, a control character, surrounding spaces or "
                "non-ASCII text (copied from a file with its newline?); the key is not shown",
                allowed="printable ASCII, as the Phota dashboard gives it",
            )
        return cls(api_key)

    def reveal(self) -> str:
        """The secret itself, for the one header that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@frozen
class Response:
    """A successful answer: status, headers and the whole body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    request_id: str | None
    label: str = "answer"  # METHOD /path, for errors
    max_depth: int = C.MAX_JSON_DEPTH
    redactor: KeyRedactor | None = None
    # The body already decoded in a worker thread (a large answer), or _NOT_DECODED.
    decoded: Any = field(default=_NOT_DECODED, repr=False, eq=False)

    def json(self) -> Any:
        """The body decoded as JSON, with the API key hidden wherever the server echoed it;
        :class:`APIResponseError` when it is not usable JSON."""
        if isinstance(self.decoded, APIResponseError):
            raise self.decoded
        if self.decoded is not _NOT_DECODED:
            return self.decoded
        if not self.body:
            return None
        try:
            return decode_json(self.body, max_depth=self.max_depth, scrub=self.redactor)
        except ValueError as exc:
            text = self.body[: 2 * _EXCERPT_CHARS].decode("utf-8", "replace")
            raise APIResponseError(
                f"{self.label}: the answer ({self.status}) cannot be used: {exc}",
                status=self.status, request_id=self.request_id,
                body=self.redactor.excerpt(text, _EXCERPT_CHARS) if self.redactor else "",
            ) from None

    def parse(self, cls: type[T]) -> T:
        """The body as a ``cls`` (through the converter); :class:`APIResponseError`, naming
        this answer, when it is not one."""
        try:
            return structure(self.json(), cls)
        except APIResponseError as exc:
            if exc.status is None:
                exc.status, exc.request_id = self.status, self.request_id
                exc.message = f"{self.label}: {exc.message}"
                exc.args = (exc.message,)
            raise

    async def json_off_loop(self) -> Any:
        """The body decoded as JSON, in a worker thread when it is large (inline images)."""
        if len(self.body) < C.THREAD_ENCODE_THRESHOLD or self.decoded is not _NOT_DECODED:
            return self.json()
        return await anyio.to_thread.run_sync(self.json)

    async def predecode(self) -> Response:
        """This answer with its JSON decoded in a worker thread, once, so that callers that
        read ``json()`` on the loop do not stall it on megabytes of inline images."""
        try:
            value = await anyio.to_thread.run_sync(self.json)
        except APIResponseError as exc:
            value = exc
        return attrs.evolve(self, decoded=value)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def encode_json(value: Any, *, large: bool) -> bytes:
    """``value`` as JSON bytes; a large body (base64 images) is encoded in a worker thread.

    Encoded once, the body is reused as it is by every attempt of the call.
    """
    return await anyio.to_thread.run_sync(_dumps, value) if large else _dumps(value)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class Transport:
    """Owns the ``aiohttp.ClientSession`` (created lazily inside the running loop)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        connect_timeout: float = C.DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = C.DEFAULT_READ_TIMEOUT,
        attempt_timeout: float | None = C.DEFAULT_ATTEMPT_TIMEOUT,
        max_response_bytes: int = C.MAX_RESPONSE_BYTES,
        max_image_response_bytes: int = C.MAX_IMAGE_RESPONSE_BYTES,
        max_json_depth: int = C.MAX_JSON_DEPTH,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._key = Secret.api_key(api_key)
        # Every text a server sends goes through this before it reaches an error or a log.
        self._redact = KeyRedactor(self._key.reveal())
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._attempt_timeout = attempt_timeout
        self._max_bytes = max_response_bytes
        self._max_image_bytes = max(max_image_response_bytes, max_response_bytes)
        self._max_depth = max_json_depth
        self._session = session
        self._owns_session = session is None
        self._shut = False
        self._deprecations_seen: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: tuple[tuple[float | None, float | None], aiohttp.ClientTimeout] = (
            (-1.0, None), aiohttp.ClientTimeout()
        )
        self.opened_session = False

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @property
    def closed(self) -> bool:
        """True once the transport closed its session (or never opened one)."""
        return self._session is None or self._session.closed

    def bind_loop(self) -> None:
        """Bind this client to the running event loop on first use; PhotaError, before anything
        is sent, when it is later used from another loop (a second ``asyncio.run``): its
        connections, limiter and job polling belong to the first loop, so a paid request sent
        from the second could never be answered."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise PhotaError(
                "this AsyncPhota client was first used in another event loop (an earlier "
                "asyncio.run?) and nothing was sent: a client belongs to the loop it first ran "
                "in. Create the client inside the coroutine given to asyncio.run (one per loop); "
                "move a job to the new client with phota.jobs.from_token(job.to_token())"
            )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._shut:  # a closed client must not quietly open a session nobody will close
            raise PhotaError("this client is closed (aclose() was called)")
        self.bind_loop()
        if self._session is None or self._session.closed:
            # Created here, not in __init__, so it binds to the loop that actually runs it.
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": C.USER_AGENT}
            )
            # aiohttp resends a GET or DELETE once, silently, when a kept-alive connection
            # drops (aio-libs/aiohttp#10790); the retry policy must see and count every attempt.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._owns_session = True
            self.opened_session = True
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport created it; later requests raise PhotaError."""
        self._shut = True
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()

    def url(self, path: str) -> str:
        """The absolute URL of an API path (made of checked ids: a plain concatenation)."""
        return self.base_url + path.lstrip("/")

    def is_api_url(self, url: str) -> bool:
        """True when ``url`` is on the API's own origin (the only place the key may go)."""
        return _origin(url) == self._origin

    def _timeout(self, total: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (total, read)
        if self._timeouts[0] != key:  # without a deadline, attempts reuse the last one
            self._timeouts = (key, aiohttp.ClientTimeout(
                total=total, connect=self._connect_timeout, sock_read=read or self._read_timeout,
                ceil_threshold=math.inf,  # exact deadlines: never rounded up to a whole second
            ))
        return self._timeouts[1]

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """One attempt of an API call; an error status raises its :class:`APIStatusError`.

        ``json_body`` is a JSON value, or ``bytes`` already encoded by :func:`encode_json`.
        ``timeout`` is what is left of the call's deadline; the attempt also ends after its own
        budget (``attempt_timeout``, plus ``read_timeout`` for a call that waits on purpose).
        """
        url = self.url(path)
        body = json_body if isinstance(json_body, bytes) else (
            None if json_body is None else _dumps(json_body)
        )
        session = self._get_session()
        budget = self._attempt_budget(read_timeout)
        by_budget = budget is not None and (timeout is None or budget < timeout)
        limit = budget if by_budget else timeout
        # aiohttp's own total timeout is the attempt's one deadline (a second timer of ours
        # would cost as much again); a redirect's hop gets what is left of it.
        end = None if limit is None else clock.now() + limit
        left = limit
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                if left is not None and left <= 0:  # aiohttp reads a total of 0 as "none"
                    raise TimeoutError
                async with session.request(
                    method, url, data=body, params=params,
                    headers=self._headers(json=body is not None),
                    allow_redirects=False, timeout=self._timeout(left, read_timeout),
                ) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = self._redirect_target(url, resp)
                        left = None if end is None else end - clock.now()
                        continue
                    return await self._read(method, path, resp)
            raise APIConnectionError(f"{method} {path}: too many redirects")
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            sent = not isinstance(exc, aiohttp.ConnectionTimeoutError)
            why = f" (an attempt may take {budget:g}s: attempt_timeout)" if by_budget else ""
            raise APITimeoutError(f"{method} {path} timed out{why}", request_sent=sent) from None
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(
                f"{method} {path}: cannot connect to {exc.host}:{exc.port} ({exc.os_error})",
                request_sent=False,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            # aiohttp's parser errors quote what the server sent (a status line, a header).
            raise APIConnectionError(
                f"{method} {path}: connection failed ({type(exc).__name__}: "
                f"{self._redact(str(exc))})"
            ) from None

    def _attempt_budget(self, read_timeout: float | None) -> float | None:
        if self._attempt_timeout is None:
            return None
        return self._attempt_timeout + (read_timeout or 0.0)

    def _headers(self, *, json: bool) -> dict[str, str]:
        """The headers of one attempt. Built in this short frame and handed straight to
        aiohttp, so that no frame on an error path holds the key in a local (reporters such
        as Sentry record the locals of every frame of a traceback)."""
        headers = {C.API_KEY_HEADER: self._key.reveal()}
        if json:
            headers["Content-Type"] = "application/json"
        return headers

    def _redirect_target(self, url: str, resp: aiohttp.ClientResponse) -> str:
        target = urljoin(url, resp.headers["Location"])
        if not self.is_api_url(target):
            # Following would carry the key to another host. A status error, so it is not
            # retried: the server will redirect again.
            raise APIStatusError(
                "refused a redirect to another origin "
                f"({self._redact(urlsplit(target).hostname or '')})",
                status=resp.status, request_id=self._request_id(resp),
            )
        return target

    async def _read(self, method: str, path: str, resp: aiohttp.ClientResponse) -> Response:
        request_id = self._request_id(resp)
        label = f"{method} /{path}"
        log.debug("%s %s -> %s (request id %s)", method, path, resp.status, request_id)
        if C.DEPRECATION_HEADER in resp.headers:
            self._note_deprecation(method, path, resp.headers[C.DEPRECATION_HEADER])
        if resp.status >= 400:  # an error page is read up to the cap: its start says enough
            body = await self._read_capped(resp, label, self._max_bytes, truncate=True)
            raise _status_error(method, path, resp, body, request_id, self._redact,
                                max_depth=self._max_depth)
        images = _may_carry_images(method, path)
        cap = self._max_image_bytes if images else self._max_bytes
        body = await self._read_capped(resp, label, cap, truncate=False)
        response = Response(resp.status, resp.headers, body, request_id, label,
                            max_depth=self._max_depth, redactor=self._redact)
        if len(body) >= C.THREAD_ENCODE_THRESHOLD and resp.content_type == "application/json":
            response = await response.predecode()
        return response

    async def _read_capped(
        self, resp: aiohttp.ClientResponse, label: str, cap: int, *, truncate: bool
    ) -> bytes:
        """The body, counted as it streams: past ``cap`` bytes it is cut (``truncate``) or
        refused with :class:`APIResponseError`; an announced length past it is refused unread."""
        announced = resp.content_length
        if not truncate and announced is not None and announced > cap:
            raise self._too_large(resp, label, cap, f"it announces {announced} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(C.DOWNLOAD_CHUNK_SIZE):
            if size + len(chunk) > cap:
                if truncate:
                    chunks.append(chunk[: cap - size])
                    break
                raise self._too_large(resp, label, cap, f"it ran past {size + len(chunk)} bytes")
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    def _too_large(
        self, resp: aiohttp.ClientResponse, label: str, cap: int, how: str
    ) -> APIResponseError:
        option = "max_image_response_bytes" if cap == self._max_image_bytes and (
            cap != self._max_bytes) else "max_response_bytes"
        return APIResponseError(
            f"{label}: the answer is larger than the limit of {cap} bytes ({how}); "
            f"raise the client's {option} if the server is trusted",
            status=resp.status, request_id=self._request_id(resp),
        )

    def _request_id(self, resp: aiohttp.ClientResponse) -> str | None:
        request_id = resp.headers.get(C.REQUEST_ID_HEADER)
        return None if request_id is None else self._redact(request_id)

    def _note_deprecation(self, method: str, path: str, date: str | None) -> None:
        """Warn once per endpoint that a server default this call relies on will change."""
        endpoint = f"{method} /{path.split('/')[0]}"
        seen = self._deprecations_seen
        if date and (endpoint, date) not in seen and len(seen) < _DEPRECATIONS_REMEMBERED:
            seen.add((endpoint, date))
            log.warning("%s relies on a server default that changes after %s (%s header)",
                        endpoint, self._redact(date[:100]), C.DEPRECATION_HEADER)

    @asynccontextmanager
    async def download(
        self, url: str, *, timeout: float | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Stream a result URL. The API key is never sent, whatever the host. A redirect is
        handed back, not followed: the caller decides where a download may go."""
        session = self._get_session()
        try:
            async with session.get(
                url, timeout=self._timeout(timeout, None), allow_redirects=False
            ) as resp:
                if resp.status >= 400:
                    body = b""  # enough for a message: a hostile host may send gigabytes
                    while len(body) < C.DOWNLOAD_ERROR_BODY_MAX and (
                        more := await resp.content.read(C.DOWNLOAD_ERROR_BODY_MAX - len(body))
                    ):
                        body += more
                    raise _status_error("GET", display_url(url), resp, body, None, self._redact)
                yield resp
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise APITimeoutError(f"download of {display_url(url)} timed out") from None
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(
                f"download of {display_url(url)}: cannot connect ({exc.os_error})",
                request_sent=False,
            ) from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(
                f"download of {display_url(url)} failed ({type(exc).__name__})"
            ) from None


def _may_carry_images(method: str, path: str) -> bool:
    """Whether an answer may hold images inline: a synchronous image call
    (``response_mode=bytes``), a finished job's status, a profile picture."""
    parts = path.strip("/").split("/")
    if method == "POST":
        return len(parts) == 1 and parts[0] in _IMAGE_ENDPOINTS
    return method == "GET" and (parts[0] == "jobs" or parts[-1] == "profile_picture")


def _status_error(
    method: str,
    path: str,
    resp: aiohttp.ClientResponse,
    body: bytes,
    request_id: str | None,
    redact: KeyRedactor,
    *,
    max_depth: int = C.MAX_JSON_DEPTH,
) -> APIStatusError:
    """The exception for an error answer, built from redacted parts only: a server that echoes
    the key (in any encoding, in the body or the reason) must not put it in our exception."""
    text = redact(body.decode("utf-8", "replace"))
    try:
        decoded = decode_json(text, max_depth=max_depth, scrub=redact) if text else None
    except ValueError:
        decoded = None
    error_type, message, detail, body_request_id = parse_error_body(decoded)
    cls = status_error_class(resp.status, error_type)
    summary = message or (text[:200] if text else redact(resp.reason or "") or "error")
    return cls(
        f"{method} {path}: {summary}",
        status=resp.status,
        request_id=request_id or body_request_id,
        error_type=error_type,
        detail=detail,
        body=text,
        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
    )
