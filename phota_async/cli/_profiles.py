"""``phota profiles create | list | status | picture | delete``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from .. import _constants as C
from .._client import AsyncPhota
from .._exceptions import InvalidInputError
from .._photos.report import PhotoReport
from .._photos.upload import UploadProgress
from .._wire.enums import TrainingTier
from ._common import (
    Output,
    collect_photos,
    confirm,
    debug_option,
    json_option,
    run_with_client,
    usage_error,
    writable_file,
)
from ._studio import wait_for

__all__ = ["COMMANDS", "report_table"]

_STATUS_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red"}
_NO_UPLOADER = (
    f"local photos must be uploaded where the API can fetch them: set {C.S3_BUCKET_ENV} "
    "(with pip install 'phota-async[s3]' and your AWS credentials), or give photo URLs"
)


@click.group("profiles", short_help="Train, list, inspect and delete profiles.")
def profiles() -> None:
    """Train, list, inspect and delete profiles (a trained person or pet)."""


# --- create -------------------------------------------------------------------------------------


@profiles.command("create")
@click.argument("photos", nargs=-1, required=True, metavar="DIR|FILES...")
@click.option("--tier", type=click.Choice([t.value for t in TrainingTier]),
              default=TrainingTier.STANDARD.value, show_default=True,
              help="standard takes 10..50 photos, fast 5..10.")
@click.option("--tag", help="Your label for the profile (e.g. your user's id), 1..128 chars.")
@click.option("--check-only", is_flag=True,
              help="Only check the photos and print the report: nothing is uploaded or paid.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Wait until the training ends (about 20 minutes).")
@json_option
@debug_option
def create(photos: tuple[str, ...], tier: str, tag: str | None, check_only: bool, wait: bool,
           as_json: bool) -> int:
    """Train a profile from a folder of photos or from photo files and URLs.

    The photos are checked first (formats, sizes, duplicates, the count for the tier) and the
    report is printed as a table; a set with errors is refused before anything is uploaded or
    paid. Local photos go to S3 when PHOTA_S3_BUCKET is set (to the emulator's bucket when
    talking to a local emulator).
    """
    sources = collect_photos(photos)
    out = Output(as_json)
    return run_with_client(lambda phota: _create(phota, sources, tier, tag, check_only, wait, out))


async def _create(phota: AsyncPhota, photos: list[Any], tier: str, tag: str | None,
                  check_only: bool, wait: bool, out: Output) -> int:
    report = await phota.profiles.check(photos, tier=tier)
    if check_only:
        out.data(report.to_dict(), lambda console: console.print(report_table(report)))
        return 0 if report.ok else 1
    if not report.ok:
        if out.as_json:
            out.json(report.to_dict())
        else:
            out.err.print(report_table(report))
        raise usage_error(f"the photos were refused: {len(report.errors)} error(s) "
                          "(see the report); nothing was uploaded or paid")
    if report.warnings and not out.as_json:
        out.err.print(report_table(report))
    try:
        with _upload_progress(out, len(photos)) as on_progress:
            training = await phota.profiles.create(photos, tier=tier, tag=tag,
                                                   on_progress=on_progress)
    except InvalidInputError as exc:
        if exc.field == "uploader":
            raise usage_error(_NO_UPLOADER) from None
        raise
    pid = training.profile_id
    status = "submitted"
    if wait:
        profile = await wait_for(training, out, "training of profile")
        status = str(profile.status)
    out.data(
        {"profile_id": pid, "status": status, "tier": tier, "tag": tag, "photos": len(photos),
         "token": training.to_token()},
        out.lines([pid]),
    )
    if not wait and not out.as_json:
        out.say(f"training profile {pid} from {len(photos)} photos; follow it with: "
                f"phota profiles status {pid}  (or wait: phota jobs wait {training.to_token()})")
    return 0


@contextlib.contextmanager
def _upload_progress(
    out: Output, total: int
) -> Iterator[Callable[[UploadProgress], None] | None]:
    """A progress bar of the uploads on a terminal; nothing elsewhere."""
    if not out.err.is_terminal:
        yield None
        return
    with Progress(console=out.err, transient=True) as bar:
        task = bar.add_task("uploading photos", total=total)

        def update(event: UploadProgress) -> None:
            bar.update(task, completed=event.done, total=event.total)

        yield update


def report_table(report: PhotoReport) -> Table:
    """The pre-flight report: one row per photo, then the problems of the set as a whole."""
    table = Table(title=Text(report.summary().splitlines()[0]), title_justify="left")
    for name in ("#", "photo", "format", "size", "status"):
        table.add_column(name, no_wrap=name != "photo", overflow="fold")
    table.add_column("problems", overflow="fold")
    for photo in report.photos:
        size = f"{photo.width}x{photo.height}" if photo.width and photo.height else ""
        status = "remote" if photo.remote else photo.status
        problems = "; ".join(issue.message for issue in photo.issues)
        table.add_row(str(photo.index), photo.source, photo.format or "", size,
                      Text(status, style=_STATUS_STYLES.get(status, "")), problems)
    for issue in report.issues:
        table.add_row("", Text("(the set)", style="italic"), "", "",
                      Text(issue.level, style=_STATUS_STYLES[issue.level]), issue.message)
    return table


# --- list, status, picture, delete ----------------------------------------------------------------


@profiles.command("list")
@click.option("--tag", help="Only the profiles with this tag.")
@json_option
@debug_option
def list_(tag: str | None, as_json: bool) -> int:
    """List the account's profiles."""

    async def work(phota: AsyncPhota) -> int:
        items = await phota.profiles.list(tag=tag)
        rows = [{"profile_id": p.profile_id, "tag": p.tag,
                 "status": None if p.status is None else str(p.status)} for p in items]

        def human(console: Console) -> None:
            table = Table("profile", "tag", "status")
            for row in rows:
                table.add_row(row["profile_id"], row["tag"] or "", row["status"] or "")
            console.print(table)

        Output(as_json).data(rows, human)
        return 0

    return run_with_client(work)


@profiles.command("status")
@click.argument("profile_id")
@json_option
@debug_option
def status(profile_id: str, as_json: bool) -> int:
    """Show a profile's training status."""

    async def work(phota: AsyncPhota) -> int:
        profile = await phota.profiles.status(profile_id)
        data = {"profile_id": profile.profile_id, "status": str(profile.status),
                "message": profile.message}
        line = f"{profile.profile_id}  {profile.status}" + (
            f"  {profile.message}" if profile.message else "")
        output = Output(as_json)
        output.data(data, output.lines([line]))
        return 0

    return run_with_client(work)


@profiles.command("picture")
@click.argument("profile_id")
@click.option("--out", type=click.Path(path_type=Path),
              help="Where to write the JPEG (default: PROFILE_ID.jpg).")
@json_option
@debug_option
def picture(profile_id: str, out: Path | None, as_json: bool) -> int:
    """Save a profile's picture (JPEG)."""
    target = writable_file(out or Path(f"{profile_id}.jpg"), "--out")

    async def work(phota: AsyncPhota) -> int:
        target.write_bytes(await phota.profiles.picture(profile_id))
        output = Output(as_json)
        output.data({"profile_id": profile_id, "path": str(target)}, output.lines([target]))
        return 0

    return run_with_client(work)


@profiles.command("delete")
@click.argument("profile_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@debug_option
def delete(profile_id: str, yes: bool, as_json: bool) -> int:
    """Delete a profile and all its data, for good."""
    if not yes:
        confirm(f"Delete profile {profile_id} and all its data, for good?")

    async def work(phota: AsyncPhota) -> int:
        deleted = await phota.profiles.delete(profile_id)
        output = Output(as_json)
        output.data({"profile_id": deleted.profile_id, "status": deleted.status},
                    output.lines([f"deleted {deleted.profile_id}"]))
        return 0

    return run_with_client(work)


COMMANDS = [profiles]
