"""phota generate | edit | enhance | remix against the emulator: waiting and saving, printing a
token, JSON, and every bad input refused in one line before anything is sent or paid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from phota_async.emulator import PhotaEmulator
from tests.conftest import photo


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "in.png"
    path.write_bytes(photo(1, fmt="png", size=300))
    return path


def _decodes(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


def test_generate_waits_saves_and_prints_the_paths(phota: Any, tmp_path: Path) -> None:
    run = phota("generate", "a lighthouse at dusk", "-n", "2", "--aspect-ratio", "16:9",
                "--out", str(tmp_path))
    assert run.code == 0, run.stderr
    paths = [Path(line) for line in run.stdout.split()]
    assert len(paths) == 2 and all(p.parent == tmp_path for p in paths)
    width, height = _decodes(paths[0])
    assert width > height


def test_generate_json(phota: Any, tmp_path: Path) -> None:
    run = phota("generate", "a red fox", "--output-format", "png", "--json", "--out",
                str(tmp_path))
    data = json.loads(run.stdout)
    assert data["state"] == "succeeded" and data["job_id"].startswith("job_")
    assert [Path(p).suffix for p in data["paths"]] == [".png"]


def test_no_wait_prints_a_token_that_jobs_wait_takes(phota: Any, tmp_path: Path) -> None:
    submitted = phota("generate", "a red fox", "--no-wait", "--client-request-id", "fox-1")
    assert submitted.code == 0
    token = submitted.stdout.strip()
    assert token.startswith("phj1.") and "phota jobs wait" in submitted.stderr
    again = phota("generate", "a red fox", "--no-wait", "--client-request-id", "fox-1", "--json")
    assert json.loads(again.stdout)["token"].startswith("phj1.")  # the same job, not a new one
    waited = phota("jobs", "wait", token, "--out", str(tmp_path))
    assert waited.code == 0, waited.stderr
    assert _decodes(Path(waited.stdout.strip()))[0] == 512


def test_sync_mode(phota: Any, tmp_path: Path) -> None:
    run = phota("generate", "a red fox", "--mode", "sync", "--out", str(tmp_path))
    assert run.code == 0, run.stderr
    assert _decodes(Path(run.stdout.strip()))


def test_edit_enhance_remix_take_files(phota: Any, picture: Path, tmp_path: Path) -> None:
    for args in (["edit", "make it blue", str(picture), str(picture)],
                 ["enhance", str(picture), "--prompt", "sharper"],
                 ["remix", str(picture), str(picture), "--output-format", "png"]):
        if args[0] == "remix":
            args += ["--no-wait"]  # remix jobs never end on this emulator
        else:
            args += ["--out", str(tmp_path / args[0])]
        run = phota(*args)
        assert run.code == 0, (args, run.stderr)


def test_a_failed_job_exits_1_in_one_line(phota: Any, tmp_path: Path) -> None:
    run = phota("generate", "a red fox [fail]", "--out", str(tmp_path))
    assert run.code == 1
    assert run.stderr.count("\n") == 1 and run.error_line.startswith("phota generate: ")
    assert "failed" in run.error_line.lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "x", "--base-model", "reve", "--quality", "high"], "quality"),
        (["generate", "x", "--base-model", "flux-2", "--resolution", "4K"], "resolution"),
        (["generate", "x [[ ]]"], "empty [[ ]] profile reference"),
        (["generate", "x", "--client-request-id", "has space"], "client_request_id"),
        (["generate", "x", "--callback-url", "http://example.com/cb"], "callback_url"),
        (["generate", "x", "--no-wait", "--mode", "sync"], "--no-wait cannot be used"),
        (["generate", "x", "--no-wait", "--out", "somewhere"], "--out needs --wait"),
        (["edit", "x", "missing.jpg"], "'missing.jpg' does not exist"),
        (["edit", "x", "."], "is a folder, not a photo"),
        (["enhance", "http://example.com/a.jpg", "--profile-id", "[[p]]"], "profile_ids[0]"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    phota: Any, emulator: PhotaEmulator, args: list[str], message: str
) -> None:
    before = len(emulator.requests)
    run = phota(*args)
    assert run.code == 2, run.stderr
    assert run.stderr.count("\n") == 1 and message in run.error_line
    assert len(emulator.requests) == before


def test_an_unwritable_out_is_refused_before_submitting(
    phota: Any, emulator: PhotaEmulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = len(emulator.requests)
    run = phota("generate", "x", "--out", str(blocker / "out"))
    assert run.code == 2 and "--out" in run.error_line and "cannot write there" in run.error_line
    assert len(emulator.requests) == before
