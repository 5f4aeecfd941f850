"""Every example runs green against the embedded emulator with no key, as a user would run it;
the FastAPI webhook route is also checked with FastAPI's own test client."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from phota_async.emulator import sign

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_runs_on_the_emulator(example: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    done = subprocess.run([sys.executable, str(example)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "emulator running at http://127.0.0.1:" in done.stdout
    assert "Traceback" not in done.stderr


def test_the_aiohttp_backend_resolves_the_request_through_its_webhook(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    done = subprocess.run([sys.executable, str(EXAMPLES / "aiohttp_backend.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=True)
    lines = done.stdout.splitlines()
    callback = next(line for line in lines if line.startswith("callback: job_"))
    answer = next(line for line in lines if line.startswith("headshots: 200 2 images, job"))
    assert callback.split()[-1] == answer.split()[-1]  # the callback named the awaited job
    assert "'status': 'READY'" in done.stdout


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fastapi_webhook_route_verifies_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("PHOTA_")]:
        monkeypatch.delenv(name)
    example = _load("fastapi_webhook")
    body = json.dumps({"job_id": "job_unknown", "status": "completed"}).encode()
    with TestClient(example.create_app()) as client:
        secret = "whsec-emulator"  # the embedded emulator's account secret
        unsigned = client.post("/phota/callback", content=body)
        forged = client.post("/phota/callback", content=body,
                             headers={"X-Phota-Signature": sign("another-secret", body)})
        signed = client.post("/phota/callback", content=body,
                             headers={"X-Phota-Signature": sign(secret, body)})
        assert (unsigned.status_code, forged.status_code, signed.status_code) == (401, 401, 204)
        assert client.app.state.callbacks == 1  # type: ignore[attr-defined]
