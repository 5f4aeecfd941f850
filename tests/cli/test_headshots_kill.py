"""The done-when test of ``phota headshots``: the command runs in a subprocess against an emulator
in its own process (``--ledger FILE``), is killed with SIGKILL at checkpoints over upload,
training, submit, wait and save (``PHOTA_BATCH_CRASH_AT``, the batch's test hook) and from
outside once some items have ended; the same command is run again each time. A second test
interrupts it with Ctrl-C and runs it again. Each ledger file must then show each training and
each image billed once, and every output must be on disk, whole and decodable.

The emulator, the people, the ledger and journal readers are the batch kill test's (one way to
read them). The figures are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.batch.test_kill import (
    SCALE,
    assert_outputs_whole,
    billed,
    people_folder,
    sure_checkpoints,
    undone,
)
from tests.batch.test_kill import emulator as emulator_process

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# The interruptions, in this order: a phase is a SIGKILL at a checkpoint of that phase picked
# at random among the first few the journal guarantees the run will pass (see
# phota_async.batch._crash), "outside" a SIGKILL from outside once 1..2 items have ended in the
# run, made while items are still to save (last in the schedule, a loaded machine's runs could
# leave too few for it). Each is skipped when the journal says the run would not get there. Each
# run costs a Python start (about a second on a loaded machine), so there are no more than the
# test needs.
SCHEDULE = ["upload", "upload", "training", "training", "submit", "submit", "wait", "wait",
            "outside", "save", "save"]
EARLY = 4  # kill at one of the first EARLY checkpoints: each run dies early in its phase
# What a run got done before it died depends on timing: short of this many SIGKILLs after the
# schedule, more are made while items are left to wait on or save.
SIGKILLS = 10
PROGRESS = "  [people trained "  # the end of a line that tells an item ended (not a terminal)


def command(tmp_path: Path) -> list[str]:
    """The user's command: 3 people (5 small photos each) x 3 styles, one image each."""
    return [sys.executable, "-m", "phota_async.cli", "headshots", str(tmp_path / "people"),
            "--out", str(tmp_path / "out"), "--tier", "fast", "--min-side", "64",
            "--images-per-style", "1", "--yes"]


def environment(url: str, crash: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    env.update(PHOTA_API_KEY="emu-test-key", PHOTA_BASE_URL=url, PHOTA_TIME_SCALE=SCALE)
    if crash:
        env["PHOTA_BATCH_CRASH_AT"] = crash
    return env


def run(url: str, tmp_path: Path, *, crash: str | None = None, after_items: int | None = None,
        signum: int = signal.SIGKILL) -> tuple[int, str, str]:
    """One run of the command; its exit code (-9 when killed), stdout and stderr. With
    ``after_items``, send ``signum`` once that many items have ended in this run."""
    process = subprocess.Popen(command(tmp_path), env=environment(url, crash),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    if after_items is not None:
        assert process.stderr is not None
        ended = 0
        while ended < after_items and (line := process.stderr.readline()):
            seen.append(line)
            ended += PROGRESS in line
        process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    err = "".join(seen) + err
    if process.returncode not in (0, -signal.SIGKILL, 130):
        raise AssertionError(f"phota headshots ended {process.returncode}:\n{out}\n{err[-3000:]}")
    return process.returncode, out, err


def interrupted(url: str, tmp_path: Path) -> None:
    """Ctrl-C once an item has ended: a clean stop (130) that says how to resume."""
    code, _, err = run(url, tmp_path, after_items=1, signum=signal.SIGINT)
    assert code == 130, err
    assert "stopped; run the same command again to resume (journal: " in err
    assert err.rstrip().endswith("phota headshots: interrupted")


def test_killed_anywhere_and_run_again_bills_each_training_and_image_once(
    tmp_path: Path
) -> None:
    people_folder(tmp_path)
    rng = random.Random(12)
    kills: collections.Counter[str] = collections.Counter()
    runs = 0
    with emulator_process(tmp_path) as (url, _):
        for phase in SCHEDULE:
            if phase == "outside":
                if undone(tmp_path) <= 3:
                    continue
                runs += 1
                kills[phase] += run(url, tmp_path, after_items=rng.randint(1, 2))[0] != 0
            elif sure := sure_checkpoints(tmp_path, phase):
                runs += 1
                at = rng.randint(1, min(EARLY, sure))
                kills[phase] += run(url, tmp_path, crash=f"{phase}:{at}")[0] != 0
        while sum(kills.values()) < SIGKILLS and (
                left := [(p, n) for p in ("save", "wait", "submit")
                         if (n := sure_checkpoints(tmp_path, p))]):
            phase, sure = left[0]
            runs += 1
            at = rng.randint(1, min(EARLY, sure))
            kills[phase] += run(url, tmp_path, crash=f"{phase}:{at}")[0] != 0
        runs += 1
        code, out, err = run(url, tmp_path)
        assert code == 0, err
        assert "3 of 3 people done, $5.55 spent" in out
    charges = billed(tmp_path)
    print(f"\nkills: {dict(kills)} ({sum(kills.values())}); runs: {runs}; "
          f"ledger: {dict(charges)}")
    assert sum(kills.values()) >= SIGKILLS
    assert all(kills[phase] >= 1 for phase in ("upload", "training", "submit", "wait", "save",
                                               "outside"))
    assert (charges["training"], charges["image"], charges["refund"]) == (3, 9, 0)
    assert charges["distinct images"] == 9 and charges["cents"] == 3 * 149 + 9 * 12
    assert_outputs_whole(tmp_path)


def test_interrupted_with_ctrl_c_and_run_again_bills_each_training_and_image_once(
    tmp_path: Path
) -> None:
    """Ctrl-C once the first item has ended (every other item still to do): a clean stop (130)
    that says how to resume; the same command then finishes the work, each item billed once."""
    people_folder(tmp_path)
    with emulator_process(tmp_path) as (url, _):
        interrupted(url, tmp_path)
        code, out, err = run(url, tmp_path)
        assert code == 0, err
        assert "3 of 3 people done, $5.55 spent" in out
    charges = billed(tmp_path)
    assert (charges["training"], charges["image"], charges["refund"]) == (3, 9, 0)
    assert charges["distinct images"] == 9 and charges["cents"] == 3 * 149 + 9 * 12
    assert_outputs_whole(tmp_path)
