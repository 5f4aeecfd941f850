"""A batch :class:`Journal` in Redis, shared by every worker of one batch, on any machine.

It keeps what :class:`SqliteJournal` keeps (the records, by key, and a few meta values) in two
Redis hashes under ``<prefix>:batch:<batch id>``; every write is one transaction, applied when
it returns, and refreshes the batch's lifetime (``ttl``, counted from its last write). Unlike a
file it lets many writers in: each item is written only by the worker holding its claim
(:meth:`RedisJournal.claim`). :meth:`RedisJournal.bind` ties the batch id to what its items
are, so that another batch under the same id is refused and the same batch resumes.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from .. import _constants as C
from .._coord.redis import check_redis_url, display_redis_url
from .._exceptions import InvalidInputError, JournalError
from ._ids import check_batch_id
from ._journal import ItemRecord

__all__ = ["RedisJournal"]

# KEYS: the meta hash. ARGV: the fingerprint, the ttl (s). Nil once bound (or resumed), else
# the fingerprint of the batch that holds the id.
_BIND = """
local current = redis.call('HGET', KEYS[1], 'fingerprint')
if current and current ~= ARGV[1] then return current end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return false
"""
# KEYS: the claim, the owner's set of held items. ARGV: owner, lease (ms), item key. A claim
# is taken when free, or already this owner's (a worker restarted under its name).
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""
# KEYS: the claim, the owner's set. ARGV: owner, item key. 1 when the claim was this owner's.
_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""


class RedisJournal:
    """A :class:`Journal` in Redis for batch ``batch_id``, on a ``redis.asyncio`` client
    (``redis``, borrowed: :meth:`aclose` leaves it open) or its own (:meth:`from_url`).

    Give every worker of a batch the same Redis and ``prefix``. Records expire ``ttl`` seconds
    after the batch's last write. A Redis that cannot be reached or written raises
    :class:`JournalError` (the batch stops before paying for anything it could not journal).
    Needs the extra: ``pip install 'phota-async[redis]'``.
    """

    def __init__(
        self, redis: Any, batch_id: str, *, prefix: str = C.COORD_PREFIX,
        ttl: int = C.COORD_JOURNAL_TTL, where: str = "Redis",
    ) -> None:
        self.batch_id = check_batch_id(batch_id)
        if not isinstance(prefix, str) or not 1 <= len(prefix) <= 100:
            raise InvalidInputError("prefix", f"{prefix!r} is not allowed",
                                    allowed="a string of 1..100 characters")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
            raise InvalidInputError("ttl", f"{ttl!r} is not allowed", allowed="seconds, 1 or more")
        self._redis = redis
        self._prefix, self._ttl, self._where = prefix, ttl, where
        self._base = f"{prefix}:batch:{batch_id}"
        self.name = f"{where} {self._base}"
        self._only: list[str] | None = None  # a view's keys (see scoped)
        self._owned = False  # made by from_url: aclose closes the connection
        self._bind = redis.register_script(_BIND)
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._errors: tuple[type[BaseException], ...] = (
            importlib.import_module("redis.exceptions").RedisError, OSError, TimeoutError,
        )

    @classmethod
    def from_url(cls, url: str, batch_id: str, **options: Any) -> RedisJournal:
        """A journal on its own connection to ``url`` (closed by :meth:`aclose`)."""
        check_redis_url(url)
        aioredis = importlib.import_module("redis.asyncio")
        client = aioredis.Redis.from_url(url, socket_timeout=C.COORD_JOURNAL_TIMEOUT,
                                         socket_connect_timeout=C.COORD_JOURNAL_TIMEOUT)
        journal = cls(client, batch_id, where=display_redis_url(url), **options)
        journal._owned = True
        return journal

    def __repr__(self) -> str:
        return f"RedisJournal({self.name!r})"

    def scoped(self, keys: Collection[str]) -> RedisJournal:
        """A view of this journal that reads only the records of ``keys`` (one item's run on a
        worker need not read the whole batch), on the same connection."""
        view = RedisJournal(self._redis, self.batch_id, prefix=self._prefix, ttl=self._ttl,
                            where=self._where)
        view._only = sorted(set(keys))
        return view

    # --- The Journal protocol -------------------------------------------------------------

    async def open(self) -> None:
        """Check that Redis answers (many workers may have the journal open at once)."""
        await self._run("open", self._redis.ping())

    async def records(self) -> dict[str, ItemRecord]:
        """Every record (of this view's keys), by key."""
        if self._only is None:
            raw = await self._run("read", self._redis.hgetall(self._records_key))
            pairs = [(_text(key), body) for key, body in raw.items()]
        elif self._only:
            bodies = await self._run("read", self._redis.hmget(self._records_key, self._only))
            pairs = [(key, body) for key, body in zip(self._only, bodies, strict=True)
                     if body is not None]
        else:
            pairs = []
        try:
            return {key: ItemRecord.from_json(_text(body)) for key, body in pairs}
        except (ValueError, TypeError) as exc:
            raise JournalError(f"journal {self.name} holds a record that is not readable "
                               f"({exc})", path=self.name) from None

    async def write(self, record: ItemRecord) -> None:
        """Insert or replace ``record`` (one transaction, applied when this returns)."""
        await self._set(self._records_key, record.key, record.to_json())

    async def get_meta(self, key: str) -> str | None:
        """A meta value, or None."""
        value = await self._run("read", self._redis.hget(self._meta_key, key))
        return None if value is None else _text(value)

    async def set_meta(self, key: str, value: str) -> None:
        """Set a meta value (applied when this returns)."""
        await self._set(self._meta_key, key, value)

    async def aclose(self) -> None:
        """Close the connection of a journal made by :meth:`from_url` (a borrowed one stays)."""
        if self._owned:
            self._owned = False
            await self._redis.aclose()

    # --- What many workers need -------------------------------------------------------------

    async def bind(self, fingerprint: str) -> None:
        """Tie the batch id to ``fingerprint`` (what its items are), or check that it is tied
        to it: :class:`JournalError` when another batch holds the id."""
        holder = await self._run("bind", self._bind(
            keys=[self._meta_key], args=[fingerprint, self._ttl]))
        if holder is not None:
            raise JournalError(
                f"journal {self.name} belongs to another batch with the id {self.batch_id!r} "
                "(other items): use a new batch id, or the same items to resume that batch",
                path=self.name)

    async def claim(self, key: str, owner: str, lease: float) -> bool:
        """Hold item ``key`` for ``lease`` seconds unless another owner holds it; True when
        ``owner`` holds it now."""
        taken = await self._run("claim", self._claim(
            keys=[self._claim_key(key), self._held_key(owner)],
            args=[owner, max(1, round(lease * 1000)), key]))
        return bool(taken)

    async def release(self, key: str, owner: str) -> bool:
        """Give up ``owner``'s claim on ``key`` (another owner's claim is left alone); True
        when it was ``owner``'s."""
        released = await self._run("release", self._release(
            keys=[self._claim_key(key), self._held_key(owner)], args=[owner, key]))
        return bool(released)

    async def held_by(self, owner: str) -> list[str]:
        """The items ``owner`` holds (those a worker killed under this name left behind)."""
        keys = await self._run("read", self._redis.smembers(self._held_key(owner)))
        return sorted(_text(key) for key in keys)

    async def take_back(self, owner: str) -> list[str]:
        """Release every claim ``owner`` still holds; the items whose claims they were. Call
        it only from a worker restarted under ``owner``: the one it replaces must be dead."""
        return [key for key in await self.held_by(owner) if await self.release(key, owner)]

    # --- Inside ------------------------------------------------------------------------------

    @property
    def _records_key(self) -> str:
        return f"{self._base}:records"

    @property
    def _meta_key(self) -> str:
        return f"{self._base}:meta"

    def _claim_key(self, key: str) -> str:
        return f"{self._base}:claim:{key}"

    def _held_key(self, owner: str) -> str:
        return f"{self._base}:held:{owner}"

    async def _set(self, hash_key: str, field: str, value: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(hash_key, field, value)
        pipe.expire(self._records_key, self._ttl)
        pipe.expire(self._meta_key, self._ttl)
        await self._run("write", pipe.execute())

    async def _run(self, what: str, call: Any) -> Any:
        try:
            return await call
        except self._errors as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise JournalError(f"journal {self.name} cannot {what}: {reason}",
                               path=self.name) from None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
