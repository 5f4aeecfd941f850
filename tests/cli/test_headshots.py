"""phota headshots on the batch runner, against the emulator: the plan read from folders and
styles files, the estimate and the confirmation, --max-spend, people skipped for their photos,
the progress and the summary, resuming without paying again, and every bad input as one line
with exit code 2 before anything is sent. (The command killed with SIGKILL and run again:
test_headshots_kill.py.)
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console

from phota_async.batch import BatchProgress, ItemResult, SqliteJournal
from phota_async.cli._batch_view import ProgressView
from phota_async.cli._common import Output
from phota_async.cli._headshots import read_styles
from phota_async.emulator import PhotaEmulator, sample_photo
from tests.cli.conftest import API_KEY, run_phota

# Three people of five small photos each, on the fast tier ($1.49 a training); 96 px photos
# pass the pre-flight once --min-side is lowered. 3 x $1.49 + 9 x 2 images x $0.12 = $6.63.
FAST = ("--tier", "fast", "--min-side", "64")
ESTIMATE = "$6.63"
STYLES = ("studio", "outdoor", "office")


@pytest.fixture
def small_people(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    for p, name in enumerate(("ada", "bob", "cy")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            (root / name / f"{i}.jpg").write_bytes(sample_photo(p * 50 + i, size=96))
    return root


def headshots(phota: Any, people: Path, out: Path, *options: str, **kwargs: Any) -> Any:
    return phota("headshots", str(people), "--out", str(out), *FAST, *options, **kwargs)


def charges(emulator: PhotaEmulator, since: int) -> dict[str, int]:
    """The emulator's charges since index ``since``, per kind."""
    kinds: dict[str, int] = {}
    for charge in emulator.ledger[since:]:
        kinds[charge.kind] = kinds.get(charge.kind, 0) + 1
    return kinds


def decodes(path: Path) -> bool:
    with Image.open(path) as image:
        image.load()
    return True


def test_a_run_shows_the_estimate_progress_and_summary_then_resumes_for_free(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    out, before = tmp_path / "out", len(emulator.ledger)
    run = headshots(phota, small_people, out, "--yes")
    assert run.code == 0, run.stderr
    assert (f"3 people x 3 styles x 2 image(s): estimate {ESTIMATE} (3 x fast training at $1.49; "
            "9 x generate (2 image(s), with identity) at $0.24") in run.stderr
    assert "ada: trained (profile prof_" in run.stderr
    assert f"ada/studio: saved {out / 'ada' / 'studio-0.jpg'}, " in run.stderr
    assert "people trained 3/3, images 9/9 done, 0 failed, 0 in flight, $6.63 spent" \
        in run.stderr
    assert f"3 of 3 people done, {ESTIMATE} spent" in run.stdout
    assert charges(emulator, before) == {"training": 3, "image": 9}
    for person in ("ada", "bob", "cy"):
        for style in STYLES:
            assert all(decodes(out / person / f"{style}-{n}.jpg") for n in (0, 1))
    assert (out / "phota-journal.sqlite").is_file()  # the journal, beside the outputs

    again = headshots(phota, small_people, out)  # no --yes: nothing is left to confirm
    assert again.code == 0, again.stderr
    assert "nothing left to pay (the journal has every item)" in again.stderr
    assert "resumed: 12 item(s) had ended in earlier runs" in again.stderr
    assert f"3 of 3 people done, {ESTIMATE} spent" in again.stdout
    assert charges(emulator, before) == {"training": 3, "image": 9}


@pytest.mark.parametrize(("answer", "message"), [("n\n", "not confirmed"), ("", "aborted")])
def test_nothing_is_sent_unless_the_spend_is_confirmed(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path, answer: str,
    message: str
) -> None:
    before = len(emulator.requests)
    run = headshots(phota, small_people, tmp_path / "out", input=answer)
    assert f"Spend up to {ESTIMATE}? [y/N]" in run.stderr
    assert run.code == 1 and message in run.error_line
    assert len(emulator.requests) == before


def test_yes_at_the_prompt_runs(phota: Any, small_people: Path, tmp_path: Path) -> None:
    run = headshots(phota, small_people, tmp_path / "out", "--images-per-style", "1",
                    input="y\n")
    assert "Spend up to $5.55? [y/N]" in run.stderr
    assert run.code == 0, run.stderr


def test_max_spend_below_the_estimate_is_refused_before_anything(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    before = len(emulator.requests)
    run = headshots(phota, small_people, tmp_path / "out", "--max-spend", "6.62", "--yes")
    assert run.code == 2
    assert run.error_line == (f"phota headshots: --max-spend $6.62 is below the estimate of "
                              f"{ESTIMATE}: raise it, or drop people or styles")
    assert len(emulator.requests) == before and not (tmp_path / "out").exists()
    ok = headshots(phota, small_people, tmp_path / "out", "--max-spend", "6.63", "--yes")
    assert ok.code == 0, ok.stderr


def test_styles_file_presets_and_journal(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    styles = tmp_path / "styles.txt"
    styles.write_text("# my styles\n\nbeach: [[person]] on a beach at noon\n"
                      "duo: [[person]] and [[person]] again, mirrored\n")
    out, journal = tmp_path / "o", tmp_path / "j.sqlite"
    before = len(emulator.requests)
    run = headshots(phota, small_people, out, "--styles", str(styles), "--preset", "noir",
                    "--images-per-style", "1", "--yes", "--journal", str(journal))
    assert run.code == 0, run.stderr
    assert sorted(p.name for p in (out / "ada").iterdir()) == [
        "beach-0.jpg", "duo-0.jpg", "noir-0.jpg"]
    assert journal.is_file() and not (out / "phota-journal.sqlite").exists()
    prompts = [json.loads(r.body)["prompt"] for r in emulator.requests[before:]
               if r.path.endswith("/generate")]
    assert len(prompts) == 9 and all("[[person]]" not in prompt for prompt in prompts)
    assert sum(prompt.count("[[prof_") == 2 for prompt in prompts) == 3  # the duo style


def test_people_skipped_for_their_photos_are_named_and_the_rest_go_on(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    for photo in sorted((small_people / "bob").iterdir())[2:]:
        photo.unlink()  # 2 photos: below the fast tier's 5
    (small_people / "cy" / "0.jpg").write_bytes(b"not a photo")  # refused by the pre-flight
    before = len(emulator.ledger)
    run = headshots(phota, small_people, tmp_path / "out", "--yes", "--json")
    assert run.code == 1  # some work was not done
    assert (f"skipping bob: 2 photo(s) in {small_people / 'bob'}; the fast tier takes 5..10"
            in run.stderr)
    assert "estimate $4.42" in run.stderr  # ada and cy only
    summary = json.loads(run.stdout)
    people = {p["name"]: p for p in summary["people"]}
    assert [p["name"] for p in summary["people"]] == ["ada", "cy", "bob"]
    assert (people["ada"]["status"], len(people["ada"]["images"])) == ("ok", 6)
    assert people["bob"]["status"] == "skipped" and "the fast tier takes" in people["bob"]["note"]
    assert people["cy"]["status"] == "skipped" and "photos refused" in people["cy"]["note"]
    assert summary["spent"] == pytest.approx(1.49 + 3 * 0.24)
    assert charges(emulator, before) == {"training": 1, "image": 3}


def test_out_of_credit_keeps_what_was_paid_and_says_why(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    before = len(emulator.ledger)
    fault = emulator.inject("/generate", status=402)
    try:
        run = headshots(phota, small_people, tmp_path / "out", "--yes")
    finally:
        fault.remove()
    assert run.code == 1
    assert "stopped sending: InsufficientCreditError" in run.stderr
    assert "0 of 3 people done" in run.stdout and "skipped" in run.stdout
    assert charges(emulator, before) == {"training": 3}
    again = headshots(phota, small_people, tmp_path / "out", "--yes")  # credit is back
    assert again.code == 0, again.stderr
    assert "left to pay $" in again.stderr and "(the journal has the rest)" in again.stderr
    assert charges(emulator, before) == {"training": 3, "image": 9}


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "PEOPLE_DIR {root} does not exist"),
        ("file", "PEOPLE_DIR {root} is not a folder"),
        ("flat", "PEOPLE_DIR {root} has no person folders (its photos must go in one sub-folder "
                 "per person)"),
        ("empty", "PEOPLE_DIR {root} has no person folders"),
        ("too-few", "PEOPLE_DIR {root}: no person has 10..50 photos for the standard tier"),
    ],
)
def test_bad_people_folders(phota: Any, emulator: PhotaEmulator, people: Path, tmp_path: Path,
                            layout: str, message: str) -> None:
    root = tmp_path / "people"
    if layout == "file":
        root.write_text("")
    elif layout == "flat":
        shutil.copytree(people / "amara", root)
    elif layout == "empty":
        root.mkdir()
    elif layout == "too-few":
        (root / "solo").mkdir(parents=True)
        shutil.copy(next((people / "amara").iterdir()), root / "solo")
    before = len(emulator.requests)
    run = phota("headshots", str(root), "--out", str(tmp_path / "out"), "--yes")
    assert run.code == 2 and message.format(root=root) in run.error_line
    assert len(emulator.requests) == before


def test_an_unwritable_out_is_refused(phota: Any, small_people: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = headshots(phota, small_people, blocker / "out", "--yes")
    assert run.code == 2 and "--out" in run.error_line and "cannot write there" in run.error_line


def test_journals_it_cannot_use_are_refused_before_anything(
    phota: Any, emulator: PhotaEmulator, small_people: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not an SQLite file, it is long enough to be read as one" * 20)
    foreign = tmp_path / "foreign.sqlite"
    asyncio.run(_journal_of_batch(foreign, "someone-elses-batch"))
    before = len(emulator.requests)
    bad = headshots(phota, small_people, tmp_path / "out", "--journal", str(corrupt), "--yes")
    assert bad.code == 2 and f"journal {corrupt} is corrupt or not a journal" in bad.error_line
    other = headshots(phota, small_people, tmp_path / "out", "--journal", str(foreign), "--yes")
    assert other.code == 2 and other.error_line == (
        f"phota headshots: journal {foreign} belongs to batch 'someone-elses-batch', which "
        "phota headshots did not start: give another --journal")
    folder = headshots(phota, small_people, tmp_path / "out", "--journal", str(tmp_path))
    assert folder.code == 2 and "is a directory" in folder.error_line
    assert len(emulator.requests) == before


async def _journal_of_batch(path: Path, batch_id: str) -> None:
    journal = SqliteJournal(path)
    await journal.open()
    await journal.set_meta("batch_id", batch_id)
    await journal.aclose()


def test_a_bad_time_scale_is_a_usage_error(emulator: PhotaEmulator, small_people: Path,
                                           tmp_path: Path) -> None:
    """The command's own client (not the tests' one), which reads PHOTA_TIME_SCALE."""
    run = run_phota("headshots", str(small_people), "--out", str(tmp_path / "out"), *FAST,
                    "--yes", env={"PHOTA_API_KEY": API_KEY, "PHOTA_BASE_URL": emulator.url,
                                  "PHOTA_TIME_SCALE": "fast"})
    assert run.code == 2 and run.error_line == (
        "phota headshots: PHOTA_TIME_SCALE: must be a number > 0, not 'fast'")
    assert not (tmp_path / "out" / "phota-journal.sqlite").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("studio: Studio headshot of [[ person ]]\n",
         "1: [[ person ]] is neither [[person]] nor a profile id: write [[person]] where"),
        ("studio: Headshot of [[person]\n", "1: style 'studio': 'Headshot of [[person]' has a "
                                             "malformed [[...]] reference"),
        ("studio: Headshot of [[person]] [[x\n", "1: style 'studio': 'Headshot of [[person]] "
                                                 "[[x' has a malformed [[...]] reference"),
        ("a: ok [[person]]\nstudio: Headshot of [[]]\n", "2: [[]] is neither [[person]]"),
        ("studio:\n", "1: style 'studio' has an empty prompt"),
        ("studio:    \n", "1: style 'studio' has an empty prompt"),
        ("Studio headshot of [[person]]\n", "1: expected 'NAME: PROMPT'"),
        ("my style: x [[person]]\n", "1: expected 'NAME: PROMPT'"),
        ("..: x [[person]]\n", "1: style: '..' is not a usable name"),
        ("studio: a portrait in a studio\n", "1: style 'studio': must name the person as "
                                             "[[person]]"),
        ("studio: a portrait of [[id]]\n", "1: style 'studio': must name the person as "
                                           "[[person]]"),
        ("\n# nothing\n", "no styles in it"),
    ],
)
def test_bad_styles_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "styles.txt"
    path.write_text(text)
    with pytest.raises(Exception) as raised:
        read_styles(path)
    assert message in str(raised.value)
    assert getattr(raised.value, "code", None) == 2


def test_a_profile_id_in_a_style_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "styles.txt"
    path.write_text("pair: [[person]] with [[prof_0a1b]] at the seaside\n")
    (style,) = read_styles(path)
    assert style.prompt_for("prof_x") == "[[prof_x]] with [[prof_0a1b]] at the seaside"


def test_bad_styles_file_stops_the_command(phota: Any, emulator: PhotaEmulator, people: Path,
                                           tmp_path: Path) -> None:
    styles = tmp_path / "styles.txt"
    styles.write_text("ok: [[person]] smiling\nbad: [[ person ]] frowning\n")
    before = len(emulator.requests)
    run = phota("headshots", str(people), "--out", str(tmp_path), "--styles", str(styles))
    assert run.code == 2 and run.error_line == (
        f"phota headshots: {styles}:2: [[ person ]] is neither [[person]] nor a profile id: "
        "write [[person]] where the person goes")
    twice = phota("headshots", str(people), "--out", str(tmp_path), "--preset", "noir",
                  "--preset", "noir")
    assert twice.code == 2 and "style 'noir' is given twice" in twice.error_line
    missing = phota("headshots", str(people), "--out", str(tmp_path), "--styles",
                    str(tmp_path / "nope.txt"))
    assert missing.code == 2 and "cannot read it" in missing.error_line
    assert len(emulator.requests) == before


def test_on_a_terminal_the_progress_is_drawn_live() -> None:
    """The live display needs a terminal, which the CLI runner is not: the view is driven here
    by hand, with the snapshots and endings a batch gives it."""
    output = Output()
    output.err = Console(file=io.StringIO(), force_terminal=True, width=140)
    view = ProgressView(output)
    with view.showing():
        view.update(BatchProgress(total=12, trainings=3, trainings_done=3, done=7, failed=1,
                                  in_flight=2, spent=5.19, eta=75.0))
        view.ended(ItemResult("ada/noir", "image", "failed", reason="JobFailedError: blocked",
                              person="ada", style="noir"), None)
    drawn = output.err.file.getvalue()  # type: ignore[attr-defined]
    assert "people trained" in drawn and "3/3" in drawn
    assert "images done" in drawn and "4/9" in drawn
    assert "1 failed, 2 in flight, $5.19 spent, ETA 1m15s" in drawn
    assert "ada/noir: failed: JobFailedError: blocked" in drawn
