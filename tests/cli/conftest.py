"""Fixtures of the ``phota`` command's tests: an emulator on its own thread (the command runs its
own event loop, as it does in a shell), and :func:`phota`, which runs the command under click's
CliRunner isolation and checks what every run must respect (no traceback, no API key)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from click.testing import CliRunner

from phota_async.cli import _common, main
from phota_async.demo import demo_people
from phota_async.emulator import PhotaEmulator
from tests.conftest import TIME_SCALE, make_client

API_KEY = "cli-test-key-7f3a9c"  # must never be printed


@frozen
class Run:
    """What one run of ``phota`` did: its exit code and what it wrote."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The last line on stderr: the one-line error of a failed run."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def emulator() -> Iterator[PhotaEmulator]:
    """An emulator in scaled time on another thread's loop; trainings take 0.1 s."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cli-emulator", daemon=True)
    thread.start()
    emu = PhotaEmulator(api_keys=(API_KEY,), time_scale=TIME_SCALE, training_seconds=60,
                        job_seconds={"remix": 1e9})  # remix jobs never end: for timeouts
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(10)
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def phota(emulator: PhotaEmulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``phota(*args, input=None, env=None)`` runs the command against the emulator."""
    monkeypatch.setenv("PHOTA_API_KEY", API_KEY)
    monkeypatch.setenv("PHOTA_BASE_URL", emulator.url)
    monkeypatch.delenv("PHOTA_S3_BUCKET", raising=False)
    # The client of a shell user, with the poll cadence scaled to the emulator's time.
    monkeypatch.setattr(_common, "make_client",
                        lambda uploader=None: make_client(emulator, uploader=uploader))
    return run_phota


def run_phota(*args: str, input: str | None = None,
              env: Mapping[str, str | None] | None = None) -> Run:
    """Run ``phota args`` in click's CliRunner isolation (stdin, stdout, stderr, environment)."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (stdout, stderr, _):
        try:
            code = main(list(args))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    run = Run(code, stdout.getvalue().decode(), stderr.getvalue().decode())
    if "--debug" not in args:
        assert "Traceback" not in run.stderr, run.stderr
    assert API_KEY not in run.stdout + run.stderr
    return run


@pytest.fixture(scope="session")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PEOPLE_DIR of three made-up people, ten photos each."""
    root = tmp_path_factory.mktemp("people")
    demo_people(root)
    return root
