"""The batch journal: what a batch committed to, and what came of it.

A batch writes an item's intent (with its ``client_request_id`` or its profile tag) before the
first send of the paid request, then each outcome (job id and token, status, saved paths). A
write is committed when it returns (it survives the process being killed), so that a process
killed at any instruction loses nothing that a re-run would pay for again.

:class:`Journal` is the small protocol a batch needs; :class:`SqliteJournal` is the default (a
file beside the outputs); :class:`RedisJournal` is shared by the workers of one batch on many
machines. Another store only has to keep records and meta values durably and let one writer
at a time write an item.
"""

from __future__ import annotations

import json
import os
import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import anyio
import anyio.to_thread
import attrs
from attrs import frozen

from .._exceptions import JournalError

__all__ = ["ItemRecord", "Journal", "SqliteJournal", "Stage"]

_FORMAT = "1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS phota_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS phota_items (key TEXT PRIMARY KEY, body TEXT NOT NULL)",
)
_START_OVER = ("move it away only if you accept paying again for the work it records")


class Stage(StrEnum):
    """Where an item stands. Image items go ``sending`` -> ``submitted`` -> ``succeeded`` ->
    ``saved`` (or ``failed``, ``expired``); trainings go ``adding`` -> ``training`` -> ``ready``
    (or ``failed``). ``sending`` and ``adding`` are intents: the paid request may have reached
    the server."""

    SENDING = "sending"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    SAVED = "saved"
    EXPIRED = "expired"
    ADDING = "adding"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


@frozen
class ItemRecord:
    """One item's journal entry. ``cost_cents`` is the price table's estimate, counted as spent
    from the moment the intent is written; ``sent_at`` is the wall-clock time of that intent."""

    key: str
    kind: Literal["image", "training"]
    stage: Stage = attrs.field(converter=Stage)
    cost_cents: int = 0
    client_request_id: str | None = None
    tag: str | None = None
    profile_id: str | None = None
    job_id: str | None = None
    token: str | None = None
    urls: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    paths: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    error: str | None = None
    sent_at: float | None = None

    @property
    def unpaid(self) -> bool:
        """An intent the server refused (a 402, a refused key): nothing was billed for it, and
        the next run sends it again, with the same ``client_request_id``."""
        return self.stage in (Stage.SENDING, Stage.ADDING) and self.error is not None

    def to_json(self) -> str:
        """The record as compact JSON (what a journal stores)."""
        return json.dumps(attrs.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ItemRecord:
        """A record read back; ValueError (or TypeError) when it is not one."""
        fields: Any = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("a journal record must be a JSON object")
        return cls(**fields)

    def update(self, **changes: Any) -> ItemRecord:
        """A copy with ``changes``."""
        return attrs.evolve(self, **changes)


@runtime_checkable
class Journal(Protocol):
    """Where a batch keeps its records. Every write is committed when it returns (it survives
    the writer being killed); one writer at a time writes an item (SQLite: one process holds
    the file; Redis: the worker holding the item's claim); ``open`` raises
    :class:`JournalError` for a store it cannot use. ``name`` says which store it is, in
    messages."""

    name: str

    async def open(self) -> None:
        """Open (creating it if needed) and take the writer's lock, if the store has one."""

    async def records(self) -> dict[str, ItemRecord]:
        """Every record, by key."""

    async def write(self, record: ItemRecord) -> None:
        """Insert or replace ``record`` (by key), durably."""

    async def get_meta(self, key: str) -> str | None:
        """A value of the batch's key/value store (identity, the poll cadence's state...)."""

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value of the key/value store, durably."""

    async def aclose(self) -> None:
        """Release the lock and close."""


class SqliteJournal:
    """A journal in one SQLite file (stdlib ``sqlite3``, run in a worker thread, one at a time).

    WAL mode: a commit is in the file when :meth:`write` returns, so a process killed at any
    instruction (``kill -9``) keeps every commit whole. ``synchronous=NORMAL`` syncs the disk
    at checkpoints rather than at each commit (ten times the writes per second): a power cut
    may lose the last commits, which a re-run recovers without paying twice, since it resends
    the same ``client_request_id`` and finds trainings by their tags. The file is locked for
    one process (``locking_mode=EXCLUSIVE``): a second run of the batch gets
    :class:`JournalError`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._one_at_a_time = anyio.CapacityLimiter(1)

    def __repr__(self) -> str:
        return f"SqliteJournal({self.name!r})"

    async def open(self) -> None:
        """Open or create the file, take its lock and check that it is a journal."""
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(
                self._open, limiter=self._one_at_a_time
            )

    async def records(self) -> dict[str, ItemRecord]:
        """Every record, by key; JournalError naming the file when one is unreadable."""
        rows = await self._run(
            lambda conn: conn.execute("SELECT key, body FROM phota_items").fetchall()
        )
        try:
            return {key: ItemRecord.from_json(body) for key, body in rows}
        except (ValueError, TypeError) as exc:
            raise JournalError(
                f"journal {self.name} holds a record that is not readable ({exc}); "
                f"{_START_OVER}", path=self.name,
            ) from None

    async def write(self, record: ItemRecord) -> None:
        """Insert or replace ``record``, committed before returning."""
        await self._upsert("phota_items", "body", record.key, record.to_json())

    async def get_meta(self, key: str) -> str | None:
        """A meta value, or None."""
        row = await self._run(lambda conn: conn.execute(
            "SELECT value FROM phota_meta WHERE key = ?", (key,)).fetchone())
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        """Set a meta value, committed before returning."""
        await self._upsert("phota_meta", "value", key, value)

    async def aclose(self) -> None:
        """Close the file (and release its lock)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._one_at_a_time)

    # --- In the worker thread ------------------------------------------------------------

    async def _upsert(self, table: str, column: str, key: str, value: str) -> None:
        sql = (f"INSERT INTO {table} (key, {column}) VALUES (?, ?) "
               f"ON CONFLICT(key) DO UPDATE SET {column} = excluded.{column}")
        await self._run(lambda conn: conn.execute(sql, (key, value)))

    async def _run(self, work: Any) -> Any:
        conn = self._conn
        if conn is None:
            raise JournalError(f"journal {self.name} is not open", path=self.name)

        def guarded() -> Any:
            try:
                return work(conn)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

        # Not abandoned on cancellation: a commit under way finishes before the task ends.
        return await anyio.to_thread.run_sync(guarded, limiter=self._one_at_a_time)

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise JournalError(f"journal {self.name} is a directory", path=self.name)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=0)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"journal {self.name} cannot be opened: {exc}",
                               path=self.name) from None
        try:
            self._prepare(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # Exclusive before WAL: the lock is held from the first write until close, and no
        # shared-memory index is made, so a second process is refused instead of interleaving.
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
            raise sqlite3.DatabaseError("the integrity check failed")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if tables and "phota_meta" not in tables:
            raise JournalError(f"{self.name} is an SQLite file but not a batch journal",
                               path=self.name)
        conn.execute("BEGIN IMMEDIATE")  # takes the lock now, not at the first record
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO phota_meta VALUES ('format', ?)", (_FORMAT,))
        stored = conn.execute("SELECT value FROM phota_meta WHERE key = 'format'").fetchone()
        conn.execute("COMMIT")
        if stored != (_FORMAT,):
            raise JournalError(f"journal {self.name} has format {stored[0]!r}; this version "
                               f"reads format {_FORMAT}", path=self.name)

    def _error(self, exc: sqlite3.Error) -> JournalError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return JournalError(f"journal {self.name} is in use by another process (is this "
                                "batch already running?)", path=self.name)
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return JournalError(f"journal {self.name} is corrupt or not a journal ({text}); "
                                f"{_START_OVER}", path=self.name)
        return JournalError(f"journal {self.name}: {text}", path=self.name)
