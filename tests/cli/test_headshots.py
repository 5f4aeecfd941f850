"""phota headshots: reading and checking the plan, the estimate and the confirmation, progress
and the summary, all against a fake runner (the command's seam, :mod:`phota_async.cli._pipeline`:
private, tested here because the batch runner that will fill it is not part of this package yet).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from phota_async import InsufficientCreditError
from phota_async.cli import _pipeline
from phota_async.cli._headshots import read_styles
from phota_async.cli._pipeline import Estimate, HeadshotPlan, PersonOutcome, Progress
from phota_async.emulator import PhotaEmulator

PRICE_TRAINING, PRICE_IMAGE = 2.90, 0.12


class FakeRunner:
    """Records the plan; reports progress per person; every person ends ``ok``."""

    def __init__(self, *, error: BaseException | None = None) -> None:
        self.error = error
        self.plans: list[HeadshotPlan] = []
        self.ran = False

    async def estimate(self, plan: HeadshotPlan) -> Estimate:
        self.plans.append(plan)
        images = len(plan.people) * len(plan.styles) * plan.images_per_style
        total = round(len(plan.people) * PRICE_TRAINING + images * PRICE_IMAGE, 2)
        return Estimate(total=total, trainings=len(plan.people), images=images)

    async def run(self, plan: HeadshotPlan,
                  on_progress: Callable[[Progress], None]) -> Sequence[PersonOutcome]:
        self.ran = True
        if self.error is not None:
            raise self.error
        jobs = len(plan.people) * len(plan.styles)
        outcomes = []
        for done, person in enumerate(plan.people, 1):
            images = tuple(plan.out / person.name / style.name / "0.jpg" for style in plan.styles)
            spent = PRICE_TRAINING + len(images) * plan.images_per_style * PRICE_IMAGE
            on_progress(Progress(len(plan.people), done, jobs, done * len(plan.styles), 0, 0,
                                 spent * done, eta_seconds=60.0))
            outcomes.append(PersonOutcome(person.name, "ok", f"prof_{person.name}", images,
                                          spent=round(spent, 2)))
        return outcomes


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    fake = FakeRunner()
    monkeypatch.setattr(_pipeline, "runner_for", lambda phota: fake)
    return fake


def test_a_run_shows_the_estimate_progress_and_summary(
    phota: Any, runner: FakeRunner, people: Path, tmp_path: Path
) -> None:
    run = phota("headshots", str(people), "--out", str(tmp_path / "out"), "--yes")
    assert run.code == 0, run.stderr
    plan = runner.plans[0]
    assert [p.name for p in plan.people] == ["amara", "bruno", "chen"]
    assert all(len(p.photos) == 10 for p in plan.people)
    assert [s.name for s in plan.styles] == ["studio", "outdoor", "office"]
    assert plan.styles[0].prompt_for("prof_1").count("[[prof_1]]") == 1
    assert (plan.images_per_style, plan.journal) == (2, tmp_path / "out" / "headshots.journal")
    assert ("3 people x 3 styles x 2 images: 3 training(s) and 18 image(s) to pay, about $10.86"
            in run.stderr)
    assert "people trained 3/3, jobs done 9/9" in run.stderr
    assert "3 of 3 people done, $10.86 spent" in run.stdout
    for name in ("amara", "bruno", "chen"):
        assert f"prof_{name}" in run.stdout


@pytest.mark.parametrize(("answer", "message"), [("n\n", "not confirmed"), ("", "aborted")])
def test_nothing_runs_unless_the_spend_is_confirmed(
    phota: Any, runner: FakeRunner, people: Path, tmp_path: Path, answer: str, message: str
) -> None:
    run = phota("headshots", str(people), "--out", str(tmp_path), input=answer)
    assert "Spend up to $10.86? [y/N]" in run.stderr
    assert run.code == 1 and message in run.error_line
    assert not runner.ran


def test_yes_at_the_prompt_runs(phota: Any, runner: FakeRunner, people: Path,
                                tmp_path: Path) -> None:
    run = phota("headshots", str(people), "--out", str(tmp_path), input="y\n")
    assert run.code == 0 and runner.ran


def test_max_spend_below_the_estimate_is_refused_before_anything(
    phota: Any, runner: FakeRunner, people: Path, tmp_path: Path
) -> None:
    run = phota("headshots", str(people), "--out", str(tmp_path), "--max-spend", "5", "--yes")
    assert run.code == 2
    assert run.error_line == ("phota headshots: --max-spend $5.00 is below the estimate of "
                              "$10.86: raise it, or drop people or styles")
    assert not runner.ran
    ok = phota("headshots", str(people), "--out", str(tmp_path), "--max-spend", "20", "--yes")
    assert ok.code == 0 and runner.plans[-1].max_spend == 20.0


def test_styles_file_and_presets(phota: Any, runner: FakeRunner, people: Path,
                                 tmp_path: Path) -> None:
    styles = tmp_path / "styles.txt"
    styles.write_text("# my styles\n\nbeach: [[id]] on a beach at noon\n"
                      "duo: [[id]] and [[id]] again, mirrored\n")
    run = phota("headshots", str(people), "--out", str(tmp_path / "o"), "--styles", str(styles),
                "--preset", "noir", "--images-per-style", "1", "--tier", "standard", "--yes",
                "--journal", str(tmp_path / "j.db"))
    assert run.code == 0, run.stderr
    plan = runner.plans[0]
    assert [s.name for s in plan.styles] == ["beach", "duo", "noir"]
    assert plan.journal == tmp_path / "j.db" and plan.images_per_style == 1


def test_a_person_with_too_few_photos_is_skipped_and_named(
    phota: Any, runner: FakeRunner, people: Path, tmp_path: Path
) -> None:
    root = tmp_path / "people"
    shutil.copytree(people, root)
    for photo in sorted((root / "bruno").iterdir())[3:]:
        photo.unlink()
    run = phota("headshots", str(root), "--out", str(tmp_path / "out"), "--yes", "--json")
    assert run.code == 1  # some work was not done
    assert f"skipping bruno: 3 photo(s) in {root / 'bruno'}; the standard tier takes 10..50" \
        in run.stderr
    assert [p.name for p in runner.plans[0].people] == ["amara", "chen"]
    summary = json.loads(run.stdout)
    assert [(p["name"], p["status"]) for p in summary["people"]] == [
        ("amara", "ok"), ("chen", "ok"), ("bruno", "skipped")]
    assert summary["spent"] == pytest.approx(2 * (PRICE_TRAINING + 6 * PRICE_IMAGE))


def test_an_interrupted_run_says_how_to_resume(
    phota: Any, runner: FakeRunner, people: Path, tmp_path: Path
) -> None:
    runner.error = KeyboardInterrupt()
    run = phota("headshots", str(people), "--out", str(tmp_path), "--yes")
    assert run.code == 130
    assert ("stopped; run the same command again to resume (journal: "
            f"{tmp_path / 'headshots.journal'})") in run.stderr
    assert run.error_line == "phota headshots: interrupted"


def test_a_failed_run_is_one_line(phota: Any, runner: FakeRunner, people: Path,
                                  tmp_path: Path) -> None:
    runner.error = InsufficientCreditError("[402 INSUFFICIENT_CREDIT] Insufficient credit",
                                           status=402)
    run = phota("headshots", str(people), "--out", str(tmp_path), "--yes")
    assert run.code == 1 and run.error_line.startswith("phota headshots: [402")


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "PEOPLE_DIR {root} does not exist"),
        ("file", "PEOPLE_DIR {root} is not a folder"),
        ("flat", "PEOPLE_DIR {root} has no person folders (its photos must go in one sub-folder "
                 "per person)"),
        ("too-few", "PEOPLE_DIR {root}: no person has 10..50 photos for the standard tier"),
    ],
)
def test_bad_people_folders(phota: Any, runner: FakeRunner, emulator: PhotaEmulator,
                            people: Path, tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "people"
    if layout == "file":
        root.write_text("")
    elif layout == "flat":
        shutil.copytree(people / "amara", root)
    elif layout == "too-few":
        (root / "solo").mkdir(parents=True)
        shutil.copy(next((people / "amara").iterdir()), root / "solo")
    before = len(emulator.requests)
    run = phota("headshots", str(root), "--out", str(tmp_path / "out"), "--yes")
    assert run.code == 2 and message.format(root=root) in run.error_line
    assert len(emulator.requests) == before and not runner.plans


def test_an_unwritable_out_is_refused(phota: Any, runner: FakeRunner, people: Path,
                                      tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = phota("headshots", str(people), "--out", str(blocker / "out"), "--yes")
    assert run.code == 2 and "--out" in run.error_line and "cannot write there" in run.error_line
    assert not runner.plans


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("studio: Studio headshot of [[ id ]]\n", "1: [[ id ]] is not a placeholder"),
        ("studio: Headshot of [[id]\n", "1: malformed placeholder"),
        ("studio: Headshot of [id]\n", "1: malformed placeholder"),
        ("a: ok [[id]]\nstudio: Headshot of [[name]]\n", "2: [[name]] is not a placeholder"),
        ("studio: Headshot of [[]]\n", "1: [[]] is not a placeholder"),
        ("studio:\n", "1: style 'studio' has an empty prompt"),
        ("studio:    \n", "1: style 'studio' has an empty prompt"),
        ("Studio headshot of [[id]]\n", "1: expected 'NAME: PROMPT'"),
        ("my style: x [[id]]\n", "1: expected 'NAME: PROMPT'"),
        ("st/udio: x [[id]]\n", "1: style name 'st/udio' must be"),
        ("studio: a portrait in a studio\n", "1: style 'studio' never names the person"),
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


def test_bad_styles_file_stops_the_command(phota: Any, runner: FakeRunner, people: Path,
                                           tmp_path: Path) -> None:
    styles = tmp_path / "styles.txt"
    styles.write_text("ok: [[id]] smiling\nbad: [[ id ]] frowning\n")
    run = phota("headshots", str(people), "--out", str(tmp_path), "--styles", str(styles))
    assert run.code == 2 and run.error_line == (
        f"phota headshots: {styles}:2: [[ id ]] is not a placeholder: write [[id]] where the "
        "person goes")
    twice = phota("headshots", str(people), "--out", str(tmp_path), "--preset", "noir",
                  "--preset", "noir")
    assert twice.code == 2 and "style 'noir' is given twice" in twice.error_line
    missing = phota("headshots", str(people), "--out", str(tmp_path), "--styles",
                    str(tmp_path / "nope.txt"))
    assert missing.code == 2 and "cannot read it" in missing.error_line
    assert not runner.plans


def test_until_the_batch_runner_is_wired_the_command_stops_after_its_checks(
    phota: Any, emulator: PhotaEmulator, people: Path, tmp_path: Path
) -> None:
    """LEAD(#11): replace with the SIGKILL test of the issue once runner_for is wired."""
    billed = len(emulator.ledger)
    run = phota("headshots", str(people), "--out", str(tmp_path), "--yes")
    assert run.code == 1 and "not wired in yet" in run.error_line
    assert len(emulator.ledger) == billed
