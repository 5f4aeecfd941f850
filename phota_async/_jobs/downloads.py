"""Fetching result files: where a download may go, how large it may be, and how it reaches disk.

The URLs come from the server's answers (``download_urls``), so a broken or hostile server
chooses them. A file is fetched only over https (plain http only from the API's own origin, or
from loopback when the API itself is local, as the emulator is), only from ``download_hosts``
when the client has that allow-list (the API's own origin is always allowed), and through
redirects only within the same origin. It is streamed and counted, refused past
``max_download_bytes``, and written under a fresh temporary name inside the target folder,
renamed when complete and removed when not.
The API key is never sent: :meth:`Transport.download` sees to that.
"""

from __future__ import annotations

import ipaddress
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp
import anyio
import anyio.to_thread
from attrs import field, frozen

from .. import _constants as C
from .._exceptions import APIError, APIStatusError, InvalidInputError, PhotaError
from .._http.transport import Transport
from .._photos.inputs import EXTENSIONS, image_format
from .._wire.validation import is_loopback

__all__ = [
    "DownloadSettings", "check_download_url", "fetch_bytes", "fetch_to_file", "file_stem",
    "write_file",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CONTENT_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_UNSAFE_IN_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
_SNIFF_BYTES = 16  # enough of a file's start to tell its format


def _default_limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(C.DEFAULT_DOWNLOAD_CONCURRENCY)


@frozen
class DownloadSettings:
    """How one client downloads results: at most ``limiter`` files at once, only from ``hosts``
    when it is set (lower-case host names), at most ``max_bytes`` a file, and within
    ``timeout`` seconds a call (the client's; ``DOWNLOAD_TIMEOUT`` when None)."""

    limiter: anyio.CapacityLimiter = field(factory=_default_limiter)
    hosts: frozenset[str] | None = None
    max_bytes: int = C.MAX_DOWNLOAD_BYTES
    timeout: float | None = None

    @classmethod
    def build(
        cls,
        *,
        concurrency: int,
        hosts: Iterable[str] | None,
        max_bytes: int,
        timeout: float | None,
    ) -> DownloadSettings:
        """Settings from ``AsyncPhota``'s arguments; a bad one raises InvalidInputError."""
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise InvalidInputError("max_download_bytes", f"{max_bytes!r} is not valid",
                                    allowed="a positive number of bytes")
        return cls(anyio.CapacityLimiter(concurrency), _host_names(hosts), max_bytes, timeout)


def _host_names(hosts: Iterable[str] | None) -> frozenset[str] | None:
    if hosts is None:
        return None
    allowed = "a list of host names, such as ['cdn.example.com']"
    if isinstance(hosts, str | bytes) or not isinstance(hosts, Iterable):
        raise InvalidInputError("download_hosts", "must be a list of host names", allowed=allowed)
    names = set()
    for host in hosts:
        name = host.strip().lower().strip("[]") if isinstance(host, str) else None
        if not name or not (_HOST_NAME.fullmatch(name) or _is_ip(name)):
            raise InvalidInputError("download_hosts", f"{host!r} is not a host name",
                                    allowed=allowed)
        names.add(name)
    return frozenset(names)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- Where a download may go --------------------------------------------------------------------


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _shown(parts: SplitResult) -> str:
    """A URL fit for an error message: no credentials, no query (a signature), no fragment."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def check_download_url(url: str, *, api_url: str, hosts: frozenset[str] | None) -> None:
    """Raise :class:`APIError` unless ``url`` may be fetched: https (plain http only on the
    origin of the API at ``api_url``, or on loopback when that API is local too), no
    credentials, a host in ``hosts`` when it is set (the API's own origin is always allowed)."""
    parts = urlsplit(url)
    try:
        why = _refusal(parts, urlsplit(api_url), hosts)
    except ValueError:  # a port that is not a number
        why = "the URL is malformed"
    if why:
        raise APIError(f"refused to download {_shown(parts)}: {why}")


def _refusal(parts: SplitResult, api: SplitResult, hosts: frozenset[str] | None) -> str | None:
    scheme, host, _ = _origin(parts)
    if scheme not in ("http", "https"):
        return f"only https URLs are fetched, not {scheme or 'no scheme'!r}"
    if not host:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "a URL with credentials is never fetched"
    on_api = _origin(parts) == _origin(api)  # the API's own origin is trusted as it is
    local = is_loopback(host) and is_loopback(api.hostname or "")
    if scheme == "http" and not (on_api or local):
        return "plain http is fetched only from the API's origin or, for a local API, loopback"
    if hosts is not None and host not in hosts and not on_api:
        return f"{host} is not in download_hosts"
    return None


def _redirect_target(url: str, resp: aiohttp.ClientResponse) -> str:
    """Where a redirect leads, if that is within the same origin; APIStatusError if not."""
    location = resp.headers.get("Location")
    here = urlsplit(url)
    if resp.status not in _REDIRECTS or not location:
        raise APIStatusError(f"download of {_shown(here)}: unexpected {resp.status} answer",
                             status=resp.status)
    target = urljoin(url, location)
    there = urlsplit(target)
    try:
        same = _origin(there) == _origin(here)
    except ValueError:
        same = False
    if not same:
        raise APIStatusError(
            f"download of {_shown(here)}: refused a redirect to another origin "
            f"({there.scheme}://{there.hostname or ''})", status=resp.status,
        )
    return target


@asynccontextmanager
async def _open(
    transport: Transport, settings: DownloadSettings, url: str
) -> AsyncIterator[aiohttp.ClientResponse]:
    """The answer for ``url`` once its checks and same-origin redirects are passed."""
    check_download_url(url, api_url=transport.base_url, hosts=settings.hosts)
    for _ in range(C.DOWNLOAD_MAX_REDIRECTS + 1):
        async with transport.download(url) as resp:
            if not 300 <= resp.status < 400:
                length = resp.content_length
                if length is not None and length > settings.max_bytes:
                    raise _too_large(url, settings.max_bytes, f"; {length} bytes announced")
                yield resp
                return
            target = _redirect_target(url, resp)
        url = target
    raise APIError(f"download of {_shown(urlsplit(url))}: too many redirects")


def _too_large(url: str, limit: int, detail: str = "") -> APIError:
    return APIError(f"download of {_shown(urlsplit(url))} is larger than {limit} bytes "
                    f"(max_download_bytes){detail}")


def _counted(size: int, chunk: bytes, url: str, limit: int) -> int:
    size += len(chunk)
    if size > limit:
        raise _too_large(url, limit)
    return size


async def fetch_bytes(transport: Transport, settings: DownloadSettings, url: str) -> bytes:
    """The file at ``url`` in memory, at most ``settings.max_bytes`` of it."""
    parts: list[bytes] = []
    size = 0
    async with _open(transport, settings, url) as resp:
        async for chunk in resp.content.iter_chunked(C.DOWNLOAD_CHUNK_SIZE):
            size = _counted(size, chunk, url, settings.max_bytes)
            parts.append(chunk)
    return b"".join(parts)


# --- Where a file may be written ----------------------------------------------------------------


def file_stem(value: object, field: str) -> str:
    """``value`` if it can name a file in a folder without leaving it; else InvalidInputError."""
    if (
        not isinstance(value, str)
        or value in ("", ".", "..")
        or len(value) > C.FILE_STEM_MAX_LENGTH
        or _UNSAFE_IN_NAME.search(value)
    ):
        raise InvalidInputError(
            field, f"{value!r:.60} cannot name a file",
            allowed=f"1..{C.FILE_STEM_MAX_LENGTH} characters without / \\ or control "
            "characters, not '.' or '..' (pass save(..., stem='name') to choose one)",
        )
    return value


def _inside(root: Path, name: str) -> Path:
    path = root / name
    if path.parent != root or name in (".", ".."):  # the resolved folder, and where name leads
        raise PhotaError(f"refused to write {name!r} outside {root}")
    return path


def _partial(root: Path, stem: str) -> tuple[Path, int]:
    """A new temporary file in ``root``: a fresh name, created exclusively (O_EXCL), so that
    nothing planted in the folder is ever written through."""
    path = _inside(root, f".{stem}.{uuid.uuid4().hex[:12]}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return path, os.open(path, flags, 0o644)


def _extension(content_type: str | None, head: bytes) -> str:
    return _CONTENT_EXTENSIONS.get(content_type or "") or EXTENSIONS.get(
        image_format(head) or "", ".bin"
    )


def write_file(root: Path, stem: str, data: bytes) -> Path:
    """Write ``data`` as ``root/stem.<ext>`` (blocking: run it in a worker thread)."""
    partial, fd = _partial(root, stem)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        final = _inside(root, stem + _extension(None, data[:_SNIFF_BYTES]))
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


async def fetch_to_file(
    transport: Transport, settings: DownloadSettings, url: str, root: Path, stem: str
) -> Path:
    """Stream ``url`` into ``root/stem.<ext>``; a failed or cancelled download leaves nothing.

    The few file-system calls that only touch metadata run on the loop: cleanup must also work
    while the task is being cancelled, when no thread can be awaited any more.
    """
    partial, fd = _partial(root, stem)
    out = os.fdopen(fd, "wb")
    try:
        head, size = b"", 0
        async with _open(transport, settings, url) as resp:
            content_type = resp.content_type
            async for chunk in resp.content.iter_chunked(C.DOWNLOAD_CHUNK_SIZE):
                size = _counted(size, chunk, url, settings.max_bytes)
                head += chunk[: _SNIFF_BYTES - len(head)]
                await anyio.to_thread.run_sync(out.write, chunk)
        out.close()
        final = _inside(root, stem + _extension(content_type, head))
        os.replace(partial, final)
    except BaseException:
        out.close()
        partial.unlink(missing_ok=True)
        raise
    return final
