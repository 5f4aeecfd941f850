"""S3-compatible storage as an uploader: :class:`S3Uploader` puts each photo with aiobotocore
(AWS S3, Cloudflare R2, MinIO, GCS interoperability) and returns a presigned GET URL, and
turns botocore failures into :class:`StorageError`, transient or not, for the retry policy of
:func:`upload_photos`. It stands apart from the plain HTTP uploaders (:mod:`._uploaders`) because it
rests on the optional extra ``phota-async[s3]``, imported only when an :class:`S3Uploader` is
created, and has its own client life cycle and error codes.
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from pathlib import PurePosixPath
from typing import Any, Literal

import aiohttp
import anyio
import anyio.to_thread

from .. import _constants as C
from .._exceptions import StorageError
from .._http.retry import TRANSIENT_STATUSES
from .inputs import CONTENT_TYPES, EXTENSIONS

__all__ = ["S3Uploader"]

_S3_EXTRA = "pip install 'phota-async[s3]'"
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException",
                                 "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"})


def _aiobotocore() -> tuple[Any, Any]:
    """aiobotocore's session and config modules, or a clear ImportError."""
    try:
        session = importlib.import_module("aiobotocore.session")
        config = importlib.import_module("aiobotocore.config")
    except ImportError:
        raise ImportError(f"S3Uploader needs the optional extra: {_S3_EXTRA}") from None
    return session, config


def _extension(filename: str, content_type: str) -> str:
    for fmt, known in CONTENT_TYPES.items():
        if known == content_type:
            return EXTENSIONS[fmt]
    return PurePosixPath(filename).suffix.lower()


class S3Uploader:
    """S3-compatible storage (AWS S3, Cloudflare R2, MinIO, GCS interoperability) through
    aiobotocore: ``put_object`` under ``prefix`` + a random name, then a presigned GET URL valid
    ``expires_in`` seconds (default 2 h: the API fetches photos while it trains).

    Credentials come from the arguments or botocore's usual chain (environment, profile, role).
    With temporary credentials a presigned URL dies with them. One client is reused, created on
    first use; close it with :meth:`aclose` (or ``async with``). Needs ``phota-async[s3]``.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = C.S3_DEFAULT_PREFIX,
        expires_in: int = C.S3_URL_EXPIRES,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        session: Any = None,
        addressing_style: Literal["auto", "virtual", "path"] | None = None,
    ) -> None:
        if not 1 <= expires_in <= C.S3_URL_EXPIRES_MAX:
            raise ValueError(f"expires_in must be 1..{C.S3_URL_EXPIRES_MAX} seconds")
        session_module, self._config_module = _aiobotocore()
        self.bucket = bucket
        self.prefix = prefix
        self.expires_in = expires_in
        self._session = session or session_module.get_session()
        self._client_args = {
            "endpoint_url": endpoint_url, "region_name": region_name,
            "aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
        }
        self._addressing_style = addressing_style
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"S3Uploader(bucket={self.bucket!r}, prefix={self.prefix!r})"

    async def _get_client(self) -> Any:
        async with self._lock:  # concurrent first uploads must share one client
            if self._client is None:
                await anyio.to_thread.run_sync(self._warm_up)
                config = self._config_module.AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": self._addressing_style or "auto"},
                    # upload_photos is the one retry layer (its waits, its progress events).
                    retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=C.UPLOAD_CONNECT_TIMEOUT,
                    read_timeout=C.UPLOAD_READ_TIMEOUT,
                )
                self._client = await self._stack.enter_async_context(
                    self._session.create_client("s3", config=config, **self._client_args)
                )
        return self._client

    def _warm_up(self) -> None:
        # Creating a client parses several MB of botocore JSON models (about 100 ms, blocking).
        # Loading them here, in a worker thread, fills the session's cache so that
        # create_client does not stall the event loop.
        loader = self._session.get_component("data_loader")
        for name in ("service-2", "endpoint-rule-set-1"):
            loader.load_service_model("s3", name)
        for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
            with contextlib.suppress(Exception):
                loader.load_data(name)

    async def upload(self, data: bytes, *, filename: str, content_type: str) -> str:
        """``put_object`` with ``ContentType``, then a presigned GET URL of the new object."""
        key = f"{self.prefix}{uuid.uuid4().hex}{_extension(filename, content_type)}"
        client = await self._get_client()
        try:
            await client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                    ContentType=content_type)
        except Exception as exc:
            raise _s3_error(exc, f"s3://{self.bucket}/{key}") from None
        url: str = await client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_in
        )
        return url

    async def aclose(self) -> None:
        """Close the S3 client."""
        await self._stack.aclose()
        self._client = None

    async def __aenter__(self) -> S3Uploader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _s3_error(exc: Exception, where: str) -> StorageError:
    """A botocore failure as a :class:`StorageError`, transient or not."""
    exceptions = importlib.import_module("botocore.exceptions")
    if isinstance(exc, exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code", "")
        transient = status in TRANSIENT_STATUSES or code in _TRANSIENT_S3_CODES
        return StorageError(f"PUT {where}: {code} {error.get('Message', '')}".rstrip(),
                            transient=transient, status=status)
    connection = (exceptions.ConnectionError, exceptions.HTTPClientError,
                  aiohttp.ClientConnectionError, TimeoutError, OSError)
    return StorageError(f"PUT {where}: {type(exc).__name__}: {exc}",
                        transient=isinstance(exc, connection))
