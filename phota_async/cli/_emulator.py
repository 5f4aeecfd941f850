"""``phota emulator``: the emulator's own command line, with one-line errors.

The options are the emulator's (``phota_async.emulator._command``): this module only forwards
to its parser and its serve loop, so an option added there appears here unchanged. It needs
neither click nor rich, so that the emulator runs after a plain ``pip install``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
import traceback
from typing import NoReturn

from ..emulator import _command

__all__ = ["main"]

_PROG = "phota emulator"


class _UsageError(Exception):
    pass


def _refuse(message: str) -> NoReturn:
    raise _UsageError(message)


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until Ctrl-C or SIGTERM: 0 when stopped so, 2 for a bad option, 1 when
    it cannot listen."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [arg for arg in args if arg != "--debug"]
    parser = _command._parser()
    parser.prog = _PROG
    parser.error = _refuse  # type: ignore[method-assign]  # one line instead of usage + error
    try:
        options = parser.parse_args(args)
        _check(options)
    except _UsageError as exc:
        return _fail(f"{exc} (see {_PROG} --help)", 2, debug)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        asyncio.run(_command._serve(options))
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how the emulator is meant to stop
    except ValueError as exc:  # the emulator refused an option's value while being built
        return _fail(f"invalid option: {exc} (see {_PROG} --help)", 2, debug)
    except OSError as exc:
        return _fail(_listen_error(exc, options), 1, debug)
    return 0


def _check(options: argparse.Namespace) -> None:
    """Refuse what the emulator would refuse, before it starts, naming the option."""
    if not options.time_scale > 0:
        raise _UsageError(f"--time-scale must be greater than 0 (got {options.time_scale:g})")
    if not 0 <= options.port <= 65535:
        raise _UsageError(f"--port must be 0..65535 (got {options.port})")


def _listen_error(exc: OSError, options: argparse.Namespace) -> str:
    where = f"{options.host}:{options.port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"port {options.port} on {options.host} is already in use "
                "(choose another with --port, or --port 0 for any free one)")
    return f"cannot listen on {where}: {exc.strerror or exc}"


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{_PROG}: {message}", file=sys.stderr)
    return code
