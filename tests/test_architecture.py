"""The dependency rule of ``phota_async/__init__.py``, checked by import-linter's contracts in
``pyproject.toml``: a layer imports only the layers below it, and the emulator and the SDK share
no code (so the emulator can catch the SDK's mistakes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_import_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout and run.stdout.count("KEPT") >= 3


def test_examples_import_only_public_names() -> None:
    for example in sorted((ROOT / "examples").glob("*.py")):
        for line in example.read_text().splitlines():
            words = line.split()
            if words[:1] in (["from"], ["import"]) and words[1].startswith("phota_async"):
                module = words[1]
                names = " ".join(words[3:]) if words[0] == "from" else ""
                private = [p for p in module.split(".") if p.startswith("_")]
                assert not private, f"{example.name}: {line.strip()}"
                assert not any(n.strip("(,").startswith("_") for n in names.split()), line
