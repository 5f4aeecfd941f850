"""What every command shares: the client, running a coroutine, output (tables or JSON), one-line
errors, and the checks of paths and photos made before anything is sent."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from .. import _constants as C
from .._client import AsyncPhota
from .._photos.inputs import is_url
from .._photos.s3 import S3Uploader
from ..batch._plan import PHOTO_SUFFIXES

__all__ = [
    "IMAGE",
    "CliError",
    "Output",
    "collect_photos",
    "confirm",
    "debug_option",
    "json_option",
    "make_client",
    "run_with_client",
    "usage_error",
    "writable_dir",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """A command's failure, told in one line: ``code`` is 2 for bad usage or input (nothing was
    sent), 1 for work that failed."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def usage_error(message: str) -> CliError:
    """Bad usage or input, found before anything was sent or paid (exit code 2)."""
    return CliError(message, 2)


# --- Options shared by the commands -------------------------------------------------------------


def json_option(function: F) -> F:
    """``--json``: print the command's data as JSON on stdout (messages go to stderr)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON on stdout.")(function)


def debug_option(function: F) -> F:
    """``--debug`` on a command as well as on ``phota`` itself (read by the error handler)."""
    return click.option("--debug", is_flag=True, expose_value=False,
                        help="Show the traceback of an error.")(function)


class _Image(click.ParamType):  # type: ignore[type-arg]
    """A photo argument: an http(s) URL, passed through, or a file that must exist."""

    name = "IMAGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path) or is_url(value):
            return value
        path = Path(value)
        if not path.is_file():
            what = "is a folder, not a photo" if path.is_dir() else "does not exist"
            self.fail(f"{value!r} {what} (give a photo file or an http(s) URL)", param, ctx)
        return path


IMAGE = _Image()


# --- The client ---------------------------------------------------------------------------------


def s3_uploader_from_env() -> S3Uploader | None:
    """An :class:`S3Uploader` when ``PHOTA_S3_BUCKET`` is set (prefix, endpoint and region from
    ``PHOTA_S3_PREFIX``, ``PHOTA_S3_ENDPOINT_URL``, ``PHOTA_S3_REGION``; credentials from the
    usual AWS environment), else None."""
    bucket = os.environ.get(C.S3_BUCKET_ENV)
    if not bucket:
        return None
    try:
        return S3Uploader(
            bucket,
            prefix=os.environ.get(C.S3_PREFIX_ENV) or C.S3_DEFAULT_PREFIX,
            endpoint_url=os.environ.get(C.S3_ENDPOINT_ENV) or None,
            region_name=os.environ.get(C.S3_REGION_ENV) or None,
        )
    except ImportError as exc:
        raise usage_error(f"{C.S3_BUCKET_ENV} is set, but {exc}") from None


def make_client(uploader: S3Uploader | None = None) -> AsyncPhota:
    """The commands' client: key and base URL from the environment (the key is never printed;
    ``PHOTA_TIME_SCALE`` is read by the client). Tests replace this function to reach an
    in-process emulator."""
    return AsyncPhota(uploader=uploader)


def run_with_client(work: Callable[[AsyncPhota], Awaitable[T]]) -> T:
    """Run ``work(client)`` on a fresh event loop, then close the client and its uploader."""

    async def main() -> T:
        uploader = s3_uploader_from_env()
        try:
            async with make_client(uploader) as client:
                return await work(client)
        finally:
            if uploader is not None:
                await uploader.aclose()

    return asyncio.run(main())


# --- Paths and photos ---------------------------------------------------------------------------


def writable_dir(path: Path, option: str = "--out") -> Path:
    """``path`` as a folder we can write into (created if needed), or a usage error."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise usage_error(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def writable_file(path: Path, option: str) -> Path:
    """A file path whose folder we can write into, or a usage error."""
    if path.is_dir():
        raise usage_error(f"{option} {path}: is a folder, give a file name")
    writable_dir(path.parent if str(path.parent) else Path("."), option)
    return path


def photos_in(folder: Path) -> list[Path]:
    """The photos directly inside ``folder`` (by extension, hidden files skipped), sorted."""
    return sorted(
        entry for entry in folder.iterdir()
        if entry.is_file() and not entry.name.startswith(".")
        and entry.suffix.lower() in PHOTO_SUFFIXES
    )


def collect_photos(sources: Iterable[str]) -> list[str | Path]:
    """Photo files, folders of photos and URLs, flattened in order; a usage error for a missing
    path or a folder with no photo in it."""
    photos: list[str | Path] = []
    for source in sources:
        if is_url(source):
            photos.append(source)
            continue
        path = Path(source)
        if path.is_dir():
            found = photos_in(path)
            if not found:
                raise usage_error(f"{source}: the folder holds no photos "
                                  f"({', '.join(sorted(PHOTO_SUFFIXES))})")
            photos.extend(found)
        elif path.is_file():
            photos.append(path)
        else:
            raise usage_error(f"{source}: no such file or folder")
    return photos


def confirm(question: str) -> None:
    """Ask ``question`` (yes/no, default no) on stderr; a no is a failure (exit code 1), and so
    is an input that ends before an answer."""
    if not click.confirm(question, default=False, err=True):
        raise CliError("not confirmed: nothing was done", 1)


# --- Output -------------------------------------------------------------------------------------


class Output:
    """Where a command writes: data on stdout (a rich table, or JSON with ``--json``), messages
    and progress on stderr. Markup is off: prompts hold ``[[id]]``, which is not rich markup."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.out = Console(markup=False, highlight=False)
        self.err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=str))

    def lines(self, lines: Iterable[object]) -> Callable[[Console], None]:
        """A ``human`` printer of plain lines (paths, ids, tokens), never wrapped or styled."""
        def echo(console: Console) -> None:
            for line in lines:
                click.echo(str(line))

        return echo

    def say(self, text: str) -> None:
        """A message for the person at the terminal (stderr, so stdout stays data)."""
        self.err.print(text)

    def data(self, data: Any, human: Callable[[Console], None]) -> None:
        """JSON when asked for, else ``human(console)``."""
        if self.as_json:
            self.json(data)
        else:
            human(self.out)
