"""``examples/headshots_batch.py`` runs on the embedded emulator, and its printed estimate is what
the emulator bills for it, to the cent (the demo batch: 3 people x 3 styles x 2 images)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "headshots_batch.py"


def test_the_example_runs_and_costs_what_it_estimated(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    run = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(tmp_path / "out")],
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    estimate = re.search(r"estimated cost: \$(\d+\.\d\d)", run.stdout)
    billed = re.search(r"billed by the emulator: \$(\d+\.\d\d)", run.stdout)
    assert estimate and billed and estimate[1] == billed[1] == "10.86"
    outputs = sorted((tmp_path / "out").rglob("*.jpg"))
    assert len(outputs) == 3 * 3 * 2
    with Image.open(outputs[0]) as image:
        image.load()
