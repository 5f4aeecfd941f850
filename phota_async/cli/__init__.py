"""The ``phota`` command.

``phota generate|edit|enhance|remix``, ``phota profiles ...``, ``phota jobs ...`` and
``phota headshots`` are built on click and rich, which come with the ``cli`` extra
(``pip install 'phota-async[cli]'``). ``phota demo`` and ``phota emulator`` need neither: after a
plain ``pip install`` they run on the standard library, and every other command says in one line
which extra to install.

Exit codes: 0 ok, 1 some work failed, 2 bad usage or bad input (nothing was sent or paid),
130 interrupted. Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import sys

from .. import __version__

__all__ = ["main"]

_EXTRA_HINT = "pip install 'phota-async[cli]'"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``phota`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from ._app import run
    except ImportError as exc:
        if exc.name not in ("click", "rich") and not (exc.name or "").startswith("rich."):
            raise
        return _without_extra(args)
    return run(args)


def _without_extra(args: list[str]) -> int:
    """``phota`` without click and rich: the demo and the emulator still run."""
    command, rest = (args[0], args[1:]) if args else (None, [])
    if command == "demo":
        from ..demo import main as demo_main

        return demo_main(rest)
    if command == "emulator":
        from ._emulator import main as emulator_main

        return emulator_main(rest)
    if command == "--version":
        print(f"phota {__version__}")
        return 0
    wanted = f"'phota {command}'" if command and not command.startswith("-") else "this"
    print(f"phota: {wanted} needs the cli extra ({_EXTRA_HINT}); 'phota demo' and "
          "'phota emulator' run without it", file=sys.stderr)
    return 2
