"""``phota demo`` and ``phota emulator``: forwarded as they are to their own parsers, which also
run without click (see the package docstring), so their options live in one place each."""

from __future__ import annotations

import click

__all__ = ["COMMANDS"]

_RAW = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(context_settings=_RAW, add_help_option=False,
               short_help="Headshots of made-up people on an embedded emulator.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def demo(args: tuple[str, ...]) -> int:
    """Train three made-up people and render their headshots on an embedded emulator, then
    write an HTML contact sheet (options: phota demo --help)."""
    from ..demo import main

    return main(list(args))


@click.command(context_settings=_RAW, add_help_option=False,
               short_help="Run a local Phota API emulator.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def emulator(ctx: click.Context, args: tuple[str, ...]) -> int:
    """Run a local Phota API emulator until Ctrl-C (options: phota emulator --help)."""
    from ._emulator import main

    debug = ["--debug"] if ctx.find_root().params.get("debug") else []
    return main([*args, *debug])


COMMANDS = [demo, emulator]
