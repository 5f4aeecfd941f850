"""The SQLite journal: durable records and meta values, one process at a time, and a clear
refusal (naming the file) of anything it cannot trust, never a silent fresh start."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from phota_async import JournalError, SqliteJournal
from phota_async.batch import ItemRecord, Journal, Stage


def record(key: str = "alice/studio", **fields: object) -> ItemRecord:
    return ItemRecord(key, "image", Stage.SENDING, 24, client_request_id="pb.x.1", **fields)  # type: ignore[arg-type]


async def test_records_and_meta_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SqliteJournal(path)
    await journal.open()
    await journal.write(record())
    await journal.write(record().update(stage=Stage.SUBMITTED, job_id="job_1", token="t"))
    await journal.write(record("bob/studio", urls=["https://x/1.jpg"]))
    await journal.set_meta("batch_id", "spring")
    await journal.aclose()

    again = SqliteJournal(path)
    await again.open()
    records = await again.records()
    assert records["alice/studio"].stage is Stage.SUBMITTED
    assert records["alice/studio"].job_id == "job_1"
    assert records["bob/studio"].urls == ("https://x/1.jpg",)
    assert await again.get_meta("batch_id") == "spring"
    assert await again.get_meta("nothing") is None
    await again.aclose()
    assert isinstance(again, Journal)


async def test_a_second_process_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    first = SqliteJournal(tmp_path / "j.sqlite")
    await first.open()
    second = SqliteJournal(tmp_path / "j.sqlite")
    with pytest.raises(JournalError, match="in use by another process") as caught:
        await second.open()
    assert caught.value.path == str(tmp_path / "j.sqlite")
    await first.aclose()
    await second.open()  # free again once the first is closed (or killed)
    await second.aclose()


@pytest.mark.parametrize(
    "content", [b"not a database at all " * 100, b"SQLite format 3\x00" + b"\xff" * 2000]
)
async def test_a_corrupt_file_is_refused_by_name(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(content)
    with pytest.raises(JournalError, match=r"broken\.sqlite") as caught:
        await SqliteJournal(path).open()
    assert "corrupt" in str(caught.value) and "paying again" in str(caught.value)
    assert path.read_bytes() == content  # left as it was: never started over


async def test_another_sqlite_file_is_not_taken_for_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match="not a batch journal"):
        await SqliteJournal(path).open()


async def test_an_unreadable_record_is_refused(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    await journal.open()
    await journal.set_meta("x", "y")
    await journal.aclose()
    with closing(sqlite3.connect(tmp_path / "j.sqlite")) as conn, conn:
        conn.execute("INSERT INTO phota_items VALUES ('k', '{\"key\": 1}')")
    await journal.open()
    with pytest.raises(JournalError, match="not readable"):
        await journal.records()
    await journal.aclose()


async def test_a_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        await SqliteJournal(tmp_path).open()
