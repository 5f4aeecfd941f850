"""Bad input to a batch fails with InvalidInputError naming the problem, before anything is
sent or paid; a person with too few photos is only skipped (see test_runner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from phota_async import (
    AsyncPhota,
    Batch,
    HeadshotPlan,
    ImageTask,
    InvalidInputError,
    Person,
    Style,
    find_people,
)
from phota_async.emulator import PhotaEmulator
from tests.batch.conftest import STYLES, headshots, new_batch, run_batch


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is not a folder") as caught:
        find_people(tmp_path / "nobody")
    assert caught.value.field == "people"


def test_a_folder_with_no_person(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no sub-folders here")
    with pytest.raises(InvalidInputError, match="has no sub-folder"):
        HeadshotPlan.from_folder(tmp_path, STYLES)


def test_people_come_from_sub_folders(tmp_path: Path) -> None:
    for name in ("ada", "bob", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "ada" / "1.JPG").write_bytes(b"x")
    (tmp_path / "ada" / "notes.txt").write_text("not a photo")
    people = find_people(tmp_path)
    assert [(p.name, [Path(str(f)).name for f in p.photos]) for p in people] == [
        ("ada", ["1.JPG"]), ("bob", [])]


@pytest.mark.parametrize(("prompt", "problem"), [
    ("Headshot of [[ ]]", "empty [[ ]]"),
    ("Headshot of [[person]", "malformed"),
    ("Headshot of person]] and [[person]]", "malformed"),
    ("Headshot of someone", "must name the person as [[person]]"),
    ("   ", "non-empty"),
])
def test_a_style_with_a_bad_prompt(prompt: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Style("studio", prompt)
    assert problem in str(caught.value)


@pytest.mark.parametrize("make", [
    lambda: Style("a/b", "x [[person]]"),
    lambda: Style("..", "x [[person]]"),
    lambda: Person("", []),
    lambda: HeadshotPlan([Person("ada", [])], [STYLES[0], Style("Studio", "y [[person]]")]),
    lambda: HeadshotPlan([Person("ada", [])], STYLES, num_output_images=5),
    lambda: HeadshotPlan([Person("ada", [])], STYLES, options={"client_request_id": "x"}),
    lambda: HeadshotPlan([], STYLES),
    lambda: ImageTask.generate("k", "a [[ ]] b"),
    lambda: ImageTask.generate("k", "fine", client_request_id="mine"),
    lambda: ImageTask("k", "paint", {}),  # type: ignore[arg-type]
])
def test_bad_plans_and_tasks(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidInputError):
        make()


@pytest.mark.parametrize("options", [
    {"batch_id": "has spaces"}, {"batch_id": ""}, {"max_spend": -1}, {"concurrency": 0},
    {"download_concurrency": True},
])
def test_bad_batch_options(client: AsyncPhota, tmp_path: Path, options: dict[str, object]
                           ) -> None:
    settings: dict[str, object] = {"batch_id": "ok", "out": tmp_path, **options}
    with pytest.raises(InvalidInputError):
        Batch(client, **settings)  # type: ignore[arg-type]


async def test_an_unwritable_output_folder(
    client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(InvalidInputError, match="is not a writable folder") as caught:
        await new_batch(client, blocker / "out").open()
    assert caught.value.field == "out" and emu.requests == []


async def test_keys_used_twice(client: AsyncPhota, emu: PhotaEmulator, tmp_path: Path) -> None:
    tasks = [ImageTask.generate("same", "a cat"), ImageTask.generate("same", "a dog")]
    with pytest.raises(InvalidInputError, match="more than once"):
        await run_batch(client, tmp_path, tasks)
    assert emu.requests == []


async def test_a_batch_must_be_open_to_run(client: AsyncPhota, tmp_path: Path) -> None:
    batch = new_batch(client, tmp_path)
    with pytest.raises(Exception, match="open the batch first"):
        await batch.estimate(headshots())
