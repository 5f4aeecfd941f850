"""Every command's --help, the version, usage errors and the command without the cli extra."""

from __future__ import annotations

import sys
from typing import Any

import click
import pytest

from phota_async import __version__
from phota_async.cli._app import phota as app
from tests.cli.conftest import run_phota


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


COMMANDS = _command_paths(app)


def test_every_command_is_listed() -> None:
    assert {path[0] for path in COMMANDS} >= {
        "generate", "edit", "enhance", "remix", "profiles", "jobs", "headshots", "emulator", "demo"
    }
    assert {p for p in COMMANDS if len(p) == 2} >= {
        ("profiles", "create"), ("profiles", "list"), ("profiles", "status"),
        ("profiles", "picture"), ("profiles", "delete"), ("jobs", "get"), ("jobs", "wait"),
    }


@pytest.mark.parametrize("path", [(), *COMMANDS], ids=lambda p: " ".join(p) or "phota")
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    run = run_phota(*path, "--help")
    assert run.code == 0, run.stderr
    assert "usage:" in run.stdout.lower()
    assert "``" not in run.stdout  # help texts are not reStructuredText


def test_version() -> None:
    run = run_phota("--version")
    assert (run.code, run.stdout.strip()) == (0, f"phota {__version__}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["generate"], "Missing argument 'PROMPT'"),
        (["generate", "x", "--bogus"], "No such option '--bogus'"),
        (["generate", "x", "-n", "9"], "9 is not in the range 1<=x<=4"),
        (["edit", "x"], "Missing argument 'IMAGES...'"),
        (["profiles"], "missing command (one of: create, delete, list, picture, status"),
        ([], "missing command (one of: demo, edit, emulator, enhance, generate, headshots"),
        (["jobs", "wait"], "Missing argument 'ID_OR_TOKEN'"),
        (["headshots", "people"], "Missing option '--out'"),
        (["headshots", "people", "--out", "o", "--preset", "nope"], "'nope' is not one of"),
        (["headshots", "people", "--out", "o", "--min-side", "0"], "0 is not in the range 1<=x"),
        (["headshots", "people", "--out", "o", "--max-spend", "0"], "0 is not in the range x>0"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    run = run_phota(*args, env={"PHOTA_API_KEY": None})
    assert run.code == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert run.error_line.startswith("phota") and message in run.error_line


def test_debug_shows_the_traceback(phota: Any) -> None:
    run = phota("--debug", "jobs", "get", "not a job id")
    assert run.code == 2
    assert "Traceback" in run.stderr
    assert run.error_line.startswith("phota jobs get: job_id:")


def test_without_the_cli_extra_demo_and_emulator_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """click and rich missing (a plain pip install): one line naming the extra, except for the
    demo and the emulator, which run on the standard library."""
    monkeypatch.setitem(sys.modules, "click", None)  # import click now raises ImportError
    for module in [m for m in sys.modules if m.startswith("phota_async.cli._")]:
        if module != "phota_async.cli._emulator":
            monkeypatch.delitem(sys.modules, module)
    from phota_async.cli import main

    code = main(["generate", "a fox"])
    assert code == 2
    code = main(["--version"])
    assert code == 0
    assert main(["demo", "--help"]) == 0
    assert main(["demo", "--time-scale", "-1"]) == 2
    assert main(["emulator", "--time-scale", "0"]) == 2


def test_without_the_cli_extra_the_message_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.setitem(sys.modules, module, None)  # import rich... raises ImportError
    for module in [m for m in sys.modules if m.startswith("phota_async.cli._")]:
        monkeypatch.delitem(sys.modules, module)
    from phota_async.cli import main

    assert main(["profiles", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'phota-async[cli]'" in err


def test_no_api_key_is_one_line_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTA_API_KEY", raising=False)
    run = run_phota("generate", "a fox")
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "no API key: set PHOTA_API_KEY" in run.stderr
