"""The ``phota`` command: ``phota emulator`` runs the local emulator; ``phota demo`` runs an
end-to-end demo (train a profile, generate with it) against an in-process emulator."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``phota`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="phota", description=__doc__)
    parser.add_argument("command", choices=["emulator", "demo"], help="what to run")
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    command, rest = args[0], args[1:]
    if command == "emulator":
        from .emulator._command import main as emulator_main

        return emulator_main(rest)
    if command == "demo":
        from .demo import main as demo_main

        return demo_main(rest)
    parser.error(f"unknown command {command!r}")
    return 2  # pragma: no cover


if __name__ == "__main__":
    raise SystemExit(main())
