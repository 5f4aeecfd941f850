"""``phota jobs get | wait ID_OR_TOKEN``: look at or wait for a job submitted earlier, by its id
or by the token ``--no-wait`` printed (a token also re-attaches a profile's training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .._client import AsyncPhota
from .._jobs.handles import Job, TrainingJob
from .._jobs.results import ImageResult
from .._wire.models import JobSnapshot, Profile
from ._common import Output, debug_option, json_option, run_with_client, writable_dir
from ._studio import wait_for

__all__ = ["COMMANDS"]

_TOKEN_PREFIX = "phj1."


@click.group("jobs")
def jobs() -> None:
    """Look at or wait for jobs submitted earlier (by id or token)."""


def _handle(phota: AsyncPhota, id_or_token: str) -> Job | TrainingJob:
    if id_or_token.startswith(_TOKEN_PREFIX):
        return phota.jobs.from_token(id_or_token)
    return phota.jobs.attach(id_or_token)


@jobs.command("get")
@click.argument("id_or_token")
@json_option
@debug_option
def get(id_or_token: str, as_json: bool) -> int:
    """Show a job's status now (one request)."""

    async def work(phota: AsyncPhota) -> int:
        snapshot = await _handle(phota, id_or_token).refresh()
        data = _snapshot_data(snapshot)
        Output(as_json).data(data, lambda console: _print_fields(console, data))
        return 0

    return run_with_client(work)


@jobs.command("wait")
@click.argument("id_or_token")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for an image job's images (default: the current folder).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop waiting after this long (the job goes on).")
@json_option
@debug_option
def wait(id_or_token: str, out: Path | None, timeout: float | None, as_json: bool) -> int:
    """Wait for a job to end; save an image job's images, or show a training's profile."""
    folder = writable_dir(out or Path("."))
    output = Output(as_json)

    async def work(phota: AsyncPhota) -> int:
        job = _handle(phota, id_or_token)
        await job.refresh()  # at once: an unknown id fails now, a finished job needs no wait
        outcome = await wait_for(job, output, f"{job.kind} job", timeout=timeout)
        if isinstance(outcome, ImageResult):
            paths = await outcome.save(folder)
            output.data({"job_id": job.id, "state": "succeeded",
                         "paths": [str(p) for p in paths],
                         "known_subjects": dict(outcome.known_subjects.counts)},
                        output.lines(paths))
        else:
            data = _snapshot_data(outcome)
            output.data(data, lambda console: _print_fields(console, data))
        return 0

    return run_with_client(work)


def _snapshot_data(snapshot: JobSnapshot | Profile) -> dict[str, Any]:
    if isinstance(snapshot, Profile):
        return {"profile_id": snapshot.profile_id, "status": str(snapshot.status),
                "message": snapshot.message}
    data: dict[str, Any] = {"job_id": snapshot.job_id, "status": snapshot.status,
                            "state": snapshot.state.value}
    if snapshot.error is not None:
        data["error"] = {"type": snapshot.error.type, "message": snapshot.error.message}
    if snapshot.result is not None:
        data["outputs"] = len(snapshot.result.images) or len(snapshot.result.download_urls)
        data["known_subjects"] = dict(snapshot.result.known_subjects.counts)
    return data


def _print_fields(console: Console, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if value is None or value == {}:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items() if v is not None)
        click.echo(f"{key + ':':<16}{value}")


COMMANDS = [jobs]
