"""``phota generate | edit | enhance | remix``: one image call each, with every option of the
SDK call; by default wait for the job and save its images, or print the job's token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .. import _constants as C
from .._client import AsyncPhota
from .._jobs.handles import Job, TrainingJob
from .._jobs.results import ImageResult
from .._wire.enums import AspectRatio, BaseModel, OutputFormat, Quality, Resolution, ResponseMode
from ._common import (
    IMAGE,
    CliError,
    Output,
    debug_option,
    json_option,
    run_with_client,
    usage_error,
    writable_dir,
)

__all__ = ["COMMANDS", "wait_for"]

Submit = Callable[[AsyncPhota], Awaitable[Job]]


def _choice(enum: Any) -> click.Choice[str]:
    return click.Choice([member.value for member in enum], case_sensitive=False)


def _submit_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options every image call takes, and what to do with its job."""
    options = [
        click.option("-n", "--num-output-images", type=click.IntRange(
            C.OUTPUT_IMAGES_MIN, C.OUTPUT_IMAGES_MAX), default=1, show_default=True,
            help="How many images to make."),
        click.option("--output-format", type=_choice(OutputFormat), default=OutputFormat.JPG.value,
                     show_default=True, help="Encoding of the images."),
        click.option("--response-mode", type=_choice(ResponseMode),
                     help="Images inline (bytes) or as signed URLs (urls, the default when "
                     "asynchronous)."),
        click.option("--callback-url", metavar="URL",
                     help="Where the API posts a signed callback when the job ends (https)."),
        click.option("--client-request-id", metavar="ID",
                     help="Your idempotency key: a resend returns the original job."),
        click.option("--mode", type=click.Choice(["async", "sync"]), default="async",
                     show_default=True,
                     help="sync holds the connection until the images are ready."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                     help="Bound the submit call, retries included."),
        click.option("--out", type=click.Path(path_type=Path, file_okay=False),
                     help="Folder for the images (default: the current folder)."),
        click.option("--wait/--no-wait", default=True, show_default=True,
                     help="Wait and save the images, or print the job's token and return."),
        json_option,
        debug_option,
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _model_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the calls that choose a model (generate and edit)."""
    options = [
        click.option("--aspect-ratio", type=_choice(AspectRatio), help="Shape of the images."),
        click.option("--resolution", type=_choice(Resolution),
                     help="Size of the images (what is allowed depends on the model)."),
        click.option("--base-model", type=_choice(BaseModel), help="The image model."),
        click.option("--quality", type=_choice(Quality), help="Only with gpt-image-2."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


_profile_option = click.option(
    "--profile-id", "profile_ids", multiple=True, metavar="ID",
    help="A profile that must stay recognisable (repeatable).",
)
_prompt_option = click.option("--prompt", help="What to change (optional).")


def _image_command(
    name: str, help_text: str
) -> Callable[[Callable[..., Submit]], click.Command]:
    """A command from a function that turns its own arguments into a submit."""

    def decorate(build: Callable[..., Submit]) -> click.Command:
        @wraps(build)
        def command(out: Path | None, wait: bool, as_json: bool, mode: str, **options: Any) -> int:
            if not wait and mode == "sync":
                raise usage_error("--no-wait cannot be used with --mode sync (it waits)")
            if not wait and out is not None:
                raise usage_error("--out needs --wait: with --no-wait nothing is saved")
            folder = writable_dir(out or Path(".")) if wait else None
            submit = build(mode=mode, **options)
            return run_with_client(lambda phota: _run(phota, submit, folder, Output(as_json)))

        command.__doc__ = help_text
        return click.command(name)(command)

    return decorate


async def _run(phota: AsyncPhota, submit: Submit, folder: Path | None, out: Output) -> int:
    job = await submit(phota)
    if folder is None:
        _report_submitted(job, out)
        return 0
    result = await wait_for(job, out, f"{job.endpoint} job")
    assert isinstance(result, ImageResult)
    paths = await result.save(folder)
    counts = dict(result.known_subjects.counts)
    out.data(
        {"job_id": job.id, "state": "succeeded", "paths": [str(p) for p in paths],
         "known_subjects": counts},
        out.lines(paths),
    )
    if counts and not out.as_json:
        out.say("recognised: " + ", ".join(f"{pid} x{n}" for pid, n in counts.items()))
    return 0


def _report_submitted(job: Job, out: Output) -> None:
    token = job.to_token()
    out.data(
        {"job_id": job.id, "endpoint": job.endpoint, "client_request_id": job.client_request_id,
         "token": token},
        out.lines([token]),
    )
    if not out.as_json:
        out.say(f"submitted {job.endpoint} job {job.id}; wait for it with: phota jobs wait TOKEN")


async def wait_for(
    job: Job | TrainingJob, out: Output, what: str, *, timeout: float | None = None
) -> Any:
    """Await ``job``, showing its status on a terminal. On a timeout or Ctrl-C, say how to pick
    it up again (the job itself goes on)."""
    again = f"phota jobs wait {job.to_token()}" if job.id is not None else ""
    try:
        async with asyncio.timeout(timeout):
            return await _watch(job, out, what)
    except TimeoutError:
        raise CliError(f"{what} {job.id} is still running after {timeout:g}s; it goes on: "
                       f"{again}", 1) from None
    except asyncio.CancelledError:
        if again:
            out.say(f"stopped waiting; the job goes on: {again}")
        raise


async def _watch(job: Job | TrainingJob, out: Output, what: str) -> Any:
    if not out.err.is_terminal or job.done():
        return await job
    with out.err.status(f"{what} {job.id}: waiting") as status:
        async for snapshot in job.updates():
            status.update(f"{what} {job.id}: {snapshot.status}")
    return await job


# --- The four calls -----------------------------------------------------------------------------


@_image_command("generate", "Make images from PROMPT alone; name profiles inline as [[ID]].")
@click.argument("prompt")
@_model_options
@_submit_options
def generate(prompt: str, **options: Any) -> Submit:
    return lambda phota: phota.generate(prompt, **options)


@_image_command("edit", "Edit one to ten IMAGES (files or URLs) following PROMPT.")
@click.argument("prompt")
@click.argument("images", nargs=-1, required=True, type=IMAGE)
@_profile_option
@_model_options
@_submit_options
def edit(prompt: str, images: tuple[Any, ...], profile_ids: tuple[str, ...],
         **options: Any) -> Submit:
    return lambda phota: phota.edit(prompt, list(images), profile_ids=list(profile_ids) or None,
                                    **options)


@_image_command("enhance", "Improve one photo, IMAGE (a file or a URL).")
@click.argument("image", type=IMAGE)
@_prompt_option
@_profile_option
@_submit_options
def enhance(image: Any, profile_ids: tuple[str, ...], **options: Any) -> Submit:
    return lambda phota: phota.enhance(image, profile_ids=list(profile_ids) or None, **options)


@_image_command("remix", "Render INPUT_IMAGE in the look of REFERENCE_IMAGE.")
@click.argument("input_image", type=IMAGE)
@click.argument("reference_image", type=IMAGE)
@_prompt_option
@_profile_option
@_submit_options
def remix(input_image: Any, reference_image: Any, profile_ids: tuple[str, ...],
          **options: Any) -> Submit:
    return lambda phota: phota.remix(input_image, reference_image,
                                     profile_ids=list(profile_ids) or None, **options)


COMMANDS = [generate, edit, enhance, remix]
