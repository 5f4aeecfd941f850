"""phota emulator as a shell user runs it (a subprocess): it serves until Ctrl-C, and a taken
port or a bad option is one line and an exit code, never a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from tests.cli.conftest import run_phota

COMMAND = [sys.executable, "-m", "phota_async.cli", "emulator"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def test_a_taken_port_is_one_line_and_exit_1(taken_port: int) -> None:
    done = subprocess.run([*COMMAND, "--port", str(taken_port)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == (f"phota emulator: port {taken_port} on 127.0.0.1 is already in use "
                           "(choose another with --port, or --port 0 for any free one)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-scale", "0"], "--time-scale must be greater than 0 (got 0)"),
        (["--time-scale", "-5"], "--time-scale must be greater than 0 (got -5)"),
        (["--port", "http"], "argument --port: invalid int value: 'http'"),
        (["--port", "70000"], "--port must be 0..65535 (got 70000)"),
        (["--fail-rate", "2"], "invalid option: probability must be within 0..1"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    run = run_phota("emulator", *args, "--port", "0") if "--port" not in args else run_phota(
        "emulator", *args)
    assert run.code == 2
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith(f"phota emulator: {message}")


def test_serves_until_ctrl_c() -> None:
    process = subprocess.Popen([*COMMAND, "--port", "0", "--time-scale", "600"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        while "API key:" not in printed:  # "Phota emulator at URL", then "API key: KEY"
            line = process.stdout.readline()
            assert line, "the emulator stopped before printing its key"
            printed[" ".join(line.split()[:-1])] = line.split()[-1]
        url, key = printed["Phota emulator at"], printed["API key:"]
        request = urllib.request.Request(f"{url}/profiles/ids", headers={"X-API-Key": key})
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "Traceback" not in err
