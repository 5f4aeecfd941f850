"""The click application: the ``phota`` group, its commands, and the one place errors become
one line on stderr and an exit code."""

from __future__ import annotations

import sys
import traceback
from typing import cast

import click

from .. import __version__
from .. import _constants as C
from .._exceptions import InvalidInputError, MissingAPIKeyError, PhotaError
from ._common import CliError

__all__ = ["phota", "run"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="phota", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
def phota(debug: bool) -> None:
    """Phota from the command line: generate and edit photos that keep people recognisable,
    train profiles, follow jobs, render headshots in bulk, and run the local emulator.

    The API key is read from PHOTA_API_KEY and never printed; PHOTA_BASE_URL points the
    commands at another server (for instance one started by phota emulator).

    Exit codes: 0 ok, 1 some work failed, 2 bad usage or input (nothing was sent or paid),
    130 interrupted.
    """


def _register() -> None:
    from . import _forwarded, _headshots, _jobs, _profiles, _studio

    for module in (_studio, _profiles, _jobs, _headshots, _forwarded):
        for command in module.COMMANDS:
            phota.add_command(command)


_register()


def run(args: list[str]) -> int:
    """Run ``phota`` with ``args``; every error ends as one line on stderr and an exit code."""
    debug = "--debug" in args
    where = _command_path(args)
    try:
        result = phota.main(args, prog_name="phota", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # "phota profiles" alone
        names = ", ".join(sorted(getattr(exc.ctx.command, "commands", {}))) if exc.ctx else ""
        path = exc.ctx.command_path if exc.ctx else where
        return _fail(f"{path}: missing command (one of: {names}; see {path} --help)", 2, debug)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx else where
        return _fail(f"{path}: {exc.format_message()} (see {path} --help)", 2, debug)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return _interrupted(where)
        return _fail(f"{where}: aborted", 1, debug)
    except click.ClickException as exc:
        return _fail(f"{where}: {exc.format_message()}", exc.exit_code, debug)
    except KeyboardInterrupt:
        return _interrupted(where)
    except CliError as exc:
        return _fail(f"{where}: {exc}", exc.code, debug)
    except MissingAPIKeyError:
        return _fail(f"{where}: no API key: set {C.API_KEY_ENV} (or, for a local emulator, "
                     f"{C.BASE_URL_ENV} and its key: see phota emulator --help)", 2, debug)
    except InvalidInputError as exc:
        return _fail(f"{where}: {_first_line(exc)}", 2, debug)
    except PhotaError as exc:
        return _fail(f"{where}: {_first_line(exc)}", 1, debug)
    except OSError as exc:
        return _fail(f"{where}: {exc.strerror or exc}"
                     + (f": {exc.filename}" if exc.filename else ""), 1, debug)
    except Exception as exc:
        return _fail(f"{where}: unexpected error: {type(exc).__name__}: "
                     f"{_first_line(exc)} (run with --debug for the traceback)", 1, debug)
    return result if isinstance(result, int) else 0


def _command_path(args: list[str]) -> str:
    """The command that ``args`` run ("phota profiles list"), to name it in an error message."""
    words, command = ["phota"], cast(click.Command, phota)
    for arg in args:
        if arg.startswith("-"):
            continue  # the group itself takes flags only
        sub = command.get_command(click.Context(command), arg) if isinstance(
            command, click.Group) else None
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = text.splitlines()
    return lines[0] + (f" (and {len(lines) - 1} more lines)" if len(lines) > 1 else "")


def _interrupted(where: str) -> int:
    print(f"{where}: interrupted", file=sys.stderr)
    return 130


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code
