"""A batch journal in Redis, so that the workers of one batch on many machines share it.

The batch runner's journal records, per item, its intent (the deterministic ``client_request_id``)
before the first paid request, then its job id and its outcome. On Redis every worker sees every
item's entry; a worker that dies leaves its entries behind for the one that takes over. A batch
id is bound to the batch's fingerprint (what its items are): another batch under the same id is
refused, the same batch resumes.

``BatchJournal`` is the small protocol the runner needs of a journal; ``RedisJournal`` is its
Redis implementation (the SQLite one is the runner's default).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any, Protocol

from .. import _constants as C
from .._exceptions import CoordinationError, InvalidInputError
from .redis import display_redis_url

__all__ = ["FINAL_STATES", "BatchJournal", "RedisJournal", "check_batch_id"]

FINAL_STATES = frozenset({"ok", "failed", "skipped", "expired"})
_BATCH_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ITEM_KEY_MAX = 256

# KEYS: the batch's meta key. ARGV: the fingerprint, the ttl (s). 1: bound or resumed, 0: taken.
_BIND = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
# KEYS: the claim's key. ARGV: the owner. Deletes the claim only if this owner holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BatchJournal(Protocol):
    """What a batch runner needs of a journal shared by its workers (one batch per journal)."""

    batch_id: str

    async def open(self, fingerprint: str) -> None:
        """Bind the batch id to ``fingerprint``; refuse (``InvalidInputError``) another batch
        already journaled under this id."""

    async def record(self, item_key: str, fields: Mapping[str, str]) -> None:
        """Merge ``fields`` into the item's entry, durably, before returning."""

    async def entry(self, item_key: str) -> dict[str, str]:
        """The item's entry (empty if never recorded)."""

    async def entries(self) -> dict[str, dict[str, str]]:
        """Every recorded item's entry."""


def check_batch_id(batch_id: object) -> str:
    """A batch id: 1..64 characters from ``[A-Za-z0-9._:-]`` (it seeds ``client_request_id``s)."""
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        raise InvalidInputError("batch_id", f"{batch_id!r} is not valid",
                                allowed="1..64 characters from [A-Za-z0-9._:-]")
    return batch_id


def _check_item_key(item_key: object) -> str:
    if not isinstance(item_key, str) or not 1 <= len(item_key) <= _ITEM_KEY_MAX:
        raise InvalidInputError("item_key", f"{item_key!r} is not valid",
                                allowed=f"a string of 1..{_ITEM_KEY_MAX} characters")
    return item_key


class RedisJournal:
    """A :class:`BatchJournal` in Redis for batch ``batch_id``, on a ``redis.asyncio`` client.

    Entries expire ``ttl`` seconds after the batch's last write. Redis errors become
    :class:`CoordinationError`: a journal that cannot write must stop the batch before it pays.
    """

    def __init__(
        self, redis: Any, batch_id: str, *, prefix: str = C.COORD_PREFIX,
        ttl: int = C.COORD_JOURNAL_TTL, where: str = "Redis",
    ) -> None:
        self.batch_id = check_batch_id(batch_id)
        self._redis = redis
        self._ttl = ttl
        self._where = where
        self._base = f"{prefix}:batch:{batch_id}"
        self._bind = redis.register_script(_BIND)
        self._release = redis.register_script(_RELEASE)
        self._errors: tuple[type[BaseException], ...] = (
            importlib.import_module("redis.exceptions").RedisError, OSError, TimeoutError,
        )

    @classmethod
    def from_url(cls, url: str, batch_id: str, **options: Any) -> RedisJournal:
        """A journal on its own connection to ``url`` (close it with :meth:`aclose`)."""
        aioredis = importlib.import_module("redis.asyncio")
        client = aioredis.Redis.from_url(url, socket_timeout=C.COORD_REDIS_TIMEOUT,
                                         socket_connect_timeout=C.COORD_REDIS_TIMEOUT)
        return cls(client, batch_id, where=display_redis_url(url), **options)

    async def aclose(self) -> None:
        """Close the connection (of a journal made by :meth:`from_url`)."""
        await self._redis.aclose()

    def _item(self, item_key: str) -> str:
        return f"{self._base}:item:{_check_item_key(item_key)}"

    async def _run(self, what: str, call: Any) -> Any:
        try:
            return await call
        except self._errors as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise CoordinationError(
                f"the journal of batch {self.batch_id} cannot {what} in {self._where}: {reason}"
            ) from None

    async def open(self, fingerprint: str) -> None:
        """Bind or resume; see :class:`BatchJournal`."""
        bound = await self._run("open", self._bind(
            keys=[f"{self._base}:meta"], args=[fingerprint, self._ttl]
        ))
        if not bound:
            raise InvalidInputError(
                "batch_id", f"{self.batch_id!r} is already used by another batch (other items)",
                allowed="a new batch id, or the same items to resume that batch",
            )

    async def record(self, item_key: str, fields: Mapping[str, str]) -> None:
        """Merge ``fields`` into the item's entry (one transaction)."""
        key = self._item(item_key)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping=dict(fields))
        pipe.sadd(f"{self._base}:keys", item_key)
        for name in (key, f"{self._base}:keys", f"{self._base}:meta"):
            pipe.expire(name, self._ttl)
        await self._run("write", pipe.execute())

    async def entry(self, item_key: str) -> dict[str, str]:
        """The item's entry, decoded."""
        raw = await self._run("read", self._redis.hgetall(self._item(item_key)))
        return _decoded(raw)

    async def entries(self) -> dict[str, dict[str, str]]:
        """Every recorded item's entry."""
        keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in await self._run(
            "read", self._redis.smembers(f"{self._base}:keys")
        ))
        pipe = self._redis.pipeline(transaction=False)
        for item_key in keys:
            pipe.hgetall(self._item(item_key))
        rows = await self._run("read", pipe.execute())
        return {item_key: _decoded(row) for item_key, row in zip(keys, rows, strict=True)}

    async def claim(self, item_key: str, owner: str, lease: float) -> bool:
        """Hold ``item_key`` for ``lease`` seconds if nobody else does (a worker's lease)."""
        key = f"{self._base}:claim:{_check_item_key(item_key)}"
        taken = await self._run("claim", self._redis.set(
            key, owner, nx=True, px=max(1, round(lease * 1000))
        ))
        return bool(taken)

    async def release(self, item_key: str, owner: str) -> None:
        """Give up ``owner``'s claim on ``item_key`` (another owner's claim is left alone)."""
        key = f"{self._base}:claim:{_check_item_key(item_key)}"
        await self._run("release", self._release(keys=[key], args=[owner]))


def _decoded(raw: Mapping[Any, Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    return {text(k): text(v) for k, v in raw.items()}
