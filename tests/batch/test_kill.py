"""Crash safety in real processes: a headshot batch (3 people x 3 styles) runs in a subprocess
against an emulator in its own process, is killed with SIGKILL at checkpoints spread over
upload, training, submit, wait and save (and at random moments), and is run again each time.
The emulator's ledger file must then show 3 trainings and 9 image jobs billed, once each, and
every output must be on disk, whole and decodable.

The kill points and counts are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from PIL import Image

from phota_async.emulator import sample_photo

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# At x600 an image job takes about 90 ms, and a training (120 emulated seconds) 0.2 s: each
# phase of a run is long enough to be killed in.
SCALE, TRAINING_SECONDS = "600", "120"
TARGET = Path(__file__).with_name("kill_target.py")
PEOPLE, STYLES = 3, ("studio", "outdoor", "office")
# (phase, N): kill at the Nth checkpoint of that phase in the run (see phota_async.batch._crash),
# or at the last one the journal guarantees the run will pass, if there are fewer.
KILL_POINTS = [
    ("upload", 2), ("upload", 9), ("upload", 14), ("upload", 5),
    ("training", 1), ("training", 2), ("training", 3), ("training", 5), ("training", 4),
    ("submit", 1), ("submit", 4), ("submit", 2), ("submit", 7), ("submit", 3),
    ("wait", 1), ("wait", 3), ("wait", 2),
    ("save", 1), ("save", 2), ("save", 3), ("save", 4), ("save", 6), ("save", 9),
]
# Then killed from outside at random moments (once an item has ended in the run), while more
# than three items are left undone.
RANDOM_KILLS = 4
# Checkpoints a run surely passes, per phase, for an item at each journal stage (None: none).
SURE = {
    "upload": {None: 5},
    "training": {None: 5, "adding": 4, "training": 2},
    "submit": {None: 3, "sending": 3},
    "wait": {None: 2, "sending": 2, "submitted": 2},
    "save": {None: 4, "sending": 4, "submitted": 4, "succeeded": 4, "expired": 4},
}


@contextmanager
def emulator(tmp_path: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m phota_async.emulator`` on a free port, writing ``ledger.jsonl``."""
    command = [sys.executable, "-m", "phota_async.emulator", "--port", "0", "--time-scale",
               SCALE, "--training-seconds", TRAINING_SECONDS,
               "--ledger", str(tmp_path / "ledger.jsonl"), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]  # URL, key, bucket
        assert banner[0].startswith("Phota emulator at "), banner
        yield banner[0].split()[-1], process
    finally:
        process.terminate()
        process.wait(timeout=10)


def people_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "people"
    for p in range(PEOPLE):
        (folder / f"person-{p}").mkdir(parents=True)
        for i in range(5):
            (folder / f"person-{p}" / f"{i}.jpg").write_bytes(sample_photo(p * 50 + i, size=96))
    return folder


def run_batch(url: str, tmp_path: Path, *, crash: str | None = None,
              kill_after_items: int | None = None) -> int:
    """One run of the batch in a subprocess; its exit code (-9 when killed). With
    ``kill_after_items``, SIGKILL once that many items have ended in this run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    if crash:
        env["PHOTA_BATCH_CRASH_AT"] = crash
    command = [sys.executable, str(TARGET), url, str(tmp_path / "people"), str(tmp_path / "out"),
               SCALE]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    if kill_after_items is not None:
        assert process.stdout is not None
        ended = 0
        while ended < kill_after_items and (line := process.stdout.readline()):
            ended += not json.loads(line)["resumed"]
        process.send_signal(signal.SIGKILL)
    out, err = process.communicate(timeout=120)
    if process.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"the batch ended {process.returncode}:\n{out}\n{err[-3000:]}")
    return process.returncode


def finish(url: str, tmp_path: Path) -> int:
    """Run without kills until the batch succeeds; how many runs it took."""
    for runs in range(1, 4):
        if run_batch(url, tmp_path) == 0:
            return runs
    raise AssertionError("the batch did not finish in 3 runs after the kills")


def billed(tmp_path: Path) -> collections.Counter[str]:
    """Net charges per kind in the emulator's ledger file; refunds are counted apart."""
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        counts["refund" if line["refund"] else line["kind"]] += 1
    counts["cents"] = round(sum(line["amount"] for line in lines) * 100)
    counts["distinct images"] = len({line["ref"] for line in lines if line["kind"] == "image"})
    return counts


def assert_outputs_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                   if p.is_file() and not p.name.startswith("phota-journal.sqlite"))
    expected = sorted(f"person-{p}/{s}-0.jpg" for p in range(PEOPLE) for s in STYLES)
    assert found == expected  # no partial file, nothing extra
    for name in found:
        with Image.open(out / name) as image:
            image.load()


def stages(tmp_path: Path) -> dict[str, str]:
    """Each item's stage in the journal a (dead) run left."""
    path = tmp_path / "out" / "phota-journal.sqlite"
    if not path.exists():
        return {}
    with closing(sqlite3.connect(path)) as conn:
        bodies = [json.loads(row[0]) for row in conn.execute("SELECT body FROM phota_items")]
    return {body["key"]: body["stage"] for body in bodies}


def undone(tmp_path: Path) -> int:
    """Items not finished yet: people not READY, images not saved."""
    done = list(stages(tmp_path).values())
    return PEOPLE * (1 + len(STYLES)) - done.count("ready") - done.count("saved")


def sure_checkpoints(tmp_path: Path, phase: str) -> int:
    """How many checkpoints of ``phase`` the next run passes for certain, from the journal."""
    journal = stages(tmp_path)
    keys = ([f"person-{p}" for p in range(PEOPLE)] if phase in ("upload", "training") else
            [f"person-{p}/{s}" for p in range(PEOPLE) for s in STYLES])
    return sum(SURE[phase].get(journal.get(key), 0) for key in keys)


def test_killed_at_every_step_and_rerun_bills_each_item_once(tmp_path: Path) -> None:
    people_folder(tmp_path)
    rng = random.Random(11)
    kills: collections.Counter[str] = collections.Counter()
    with emulator(tmp_path) as (url, _):
        runs = 0
        for phase, n in KILL_POINTS:
            sure = sure_checkpoints(tmp_path, phase)
            if sure:
                runs += 1
                kills[phase] += run_batch(url, tmp_path, crash=f"{phase}:{min(n, sure)}") != 0
        for _ in range(RANDOM_KILLS):
            if undone(tmp_path) > 3:
                runs += 1
                kills["random"] += run_batch(url, tmp_path,
                                             kill_after_items=rng.randint(1, 2)) != 0
        runs += finish(url, tmp_path)
    charges = billed(tmp_path)
    print(f"\nkills per phase: {dict(kills)}; runs: {runs}; ledger: {dict(charges)}")
    assert sum(kills.values()) - kills["random"] >= 20
    assert all(kills[phase] >= 2 for phase in ("upload", "training", "submit", "wait", "save"))
    assert (charges["training"], charges["image"], charges["refund"]) == (3, 9, 0)
    assert charges["distinct images"] == 9 and charges["cents"] == 3 * 149 + 9 * 12
    assert_outputs_whole(tmp_path)


def test_urls_expiring_between_runs_are_fetched_fresh(tmp_path: Path) -> None:
    people_folder(tmp_path)
    points = [("submit", 4), ("wait", 2), ("save", 1), ("save", 2), ("save", 3), ("save", 1),
              ("wait", 1), ("save", 4), ("save", 2)]
    kills, resumed_expired = 0, 0
    with emulator(tmp_path, "--refresh-expired-urls") as (url, process):
        assert process.stdout is not None
        for phase, n in points:
            sure = sure_checkpoints(tmp_path, phase)
            kills += bool(sure) and run_batch(url, tmp_path, crash=f"{phase}:{min(n, sure)}") != 0
            process.send_signal(signal.SIGUSR1)  # every URL handed out so far expires now
            while not (line := process.stdout.readline()).startswith("expired "):
                assert line, "the emulator ended before it expired the URLs"
            resumed_expired += list(stages(tmp_path).values()).count("succeeded")
        reruns = finish(url, tmp_path)
    charges = billed(tmp_path)
    print(f"\nkills: {kills}; reruns: {reruns}; items resumed with expired URLs: "
          f"{resumed_expired}; ledger: {dict(charges)}")
    assert kills >= 6 and resumed_expired >= 1
    assert (charges["training"], charges["image"], charges["refund"]) == (3, 9, 0)
    assert_outputs_whole(tmp_path)
