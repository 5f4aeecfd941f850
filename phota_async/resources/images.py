"""The image endpoints: edit, generate, enhance, remix.

Each call checks its input locally, encodes local images off the event loop, then submits.
By default a submit is asynchronous (``async: true``, ``response_mode: "urls"``, a fresh
``client_request_id``): it answers in milliseconds with a :class:`Job`, and it is safe to resend.
``mode="sync"`` holds the connection until the images are ready and returns a finished Job.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import anyio.to_thread

from .. import _constants as C
from .._concurrency import map_concurrently
from .._exceptions import APIError, InvalidInputError
from .._http.retry import Idempotency
from .._http.transport import Response, encode_json
from .._jobs.context import ClientContext
from .._jobs.handles import Job
from .._jobs.results import ImageResult
from .._photos.inputs import ImageInput, encode_image, image_list
from .._wire import validation as check
from .._wire.converter import converter, structure
from .._wire.enums import AspectRatio, BaseModel, OutputFormat, Quality, Resolution, ResponseMode
from .._wire.models import (
    EditRequest,
    EnhanceRequest,
    GenerateRequest,
    ImageResponse,
    JobHandle,
    RemixRequest,
)

__all__ = ["Mode", "Studio"]

Mode = Literal["async", "sync"]
_HOW_TO_CHECK_SYNC = (
    "A synchronous call has no job to look up: if you cannot risk a second charge, submit "
    "asynchronously (the default), which is safe to retry."
)


def _new_request_id() -> str:
    return f"phota-{uuid.uuid4().hex}"


class Studio:
    """The four image endpoints. Reach them as ``phota.generate(...)`` and so on."""

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx

    async def generate(
        self,
        prompt: str,
        *,
        num_output_images: int = 1,
        aspect_ratio: AspectRatio | str | None = None,
        resolution: Resolution | str | None = None,
        base_model: BaseModel | str | None = None,
        quality: Quality | str | None = None,
        output_format: OutputFormat | str = OutputFormat.JPG,
        response_mode: ResponseMode | str | None = None,
        callback_url: str | None = None,
        client_request_id: str | None = None,
        mode: Mode = "async",
        timeout: float | None = None,
    ) -> Job:
        """Make images from a prompt alone; name profiles inline as ``[[profile_id]]``."""
        check.prompt(prompt)
        fields = self._common(num_output_images, output_format, response_mode, callback_url,
                              client_request_id, mode)
        request = GenerateRequest(
            prompt=prompt, **fields,
            **_model_fields(aspect_ratio, resolution, base_model, quality),
        )
        return await self._submit("generate", request, mode, timeout)

    async def edit(
        self,
        prompt: str,
        images: Sequence[ImageInput],
        *,
        profile_ids: Sequence[str] | None = None,
        num_output_images: int = 1,
        aspect_ratio: AspectRatio | str | None = None,
        resolution: Resolution | str | None = None,
        base_model: BaseModel | str | None = None,
        quality: Quality | str | None = None,
        output_format: OutputFormat | str = OutputFormat.JPG,
        response_mode: ResponseMode | str | None = None,
        callback_url: str | None = None,
        client_request_id: str | None = None,
        mode: Mode = "async",
        timeout: float | None = None,
    ) -> Job:
        """Edit 1..10 images following ``prompt``; ``profile_ids`` names who must stay
        recognisable."""
        check.prompt(prompt)
        ids = check.profile_ids(profile_ids)
        images = image_list(images, "images")
        check.count_in_range(images, C.EDIT_IMAGES_MIN, C.EDIT_IMAGES_MAX, "images")
        fields = self._common(num_output_images, output_format, response_mode, callback_url,
                              client_request_id, mode)
        model = _model_fields(aspect_ratio, resolution, base_model, quality)
        encoded = await _encode_all(images, "images")
        request = EditRequest(prompt=prompt, images=encoded, profile_ids=ids, **fields, **model)
        return await self._submit("edit", request, mode, timeout)

    async def enhance(
        self,
        image: ImageInput,
        *,
        prompt: str | None = None,
        profile_ids: Sequence[str] | None = None,
        num_output_images: int = 1,
        output_format: OutputFormat | str = OutputFormat.JPG,
        response_mode: ResponseMode | str | None = None,
        callback_url: str | None = None,
        client_request_id: str | None = None,
        mode: Mode = "async",
        timeout: float | None = None,
    ) -> Job:
        """Improve one photo (Nano Banana 2, 2K); the prompt is optional."""
        check.prompt(prompt, required=False)
        ids = check.profile_ids(profile_ids)
        fields = self._common(num_output_images, output_format, response_mode, callback_url,
                              client_request_id, mode)
        encoded = await encode_image(image, "image")
        request = EnhanceRequest(image=encoded, prompt=prompt, profile_ids=ids, **fields)
        return await self._submit("enhance", request, mode, timeout)

    async def remix(
        self,
        input_image: ImageInput,
        reference_image: ImageInput,
        *,
        prompt: str | None = None,
        profile_ids: Sequence[str] | None = None,
        num_output_images: int = 1,
        output_format: OutputFormat | str = OutputFormat.JPG,
        response_mode: ResponseMode | str | None = None,
        callback_url: str | None = None,
        client_request_id: str | None = None,
        mode: Mode = "async",
        timeout: float | None = None,
    ) -> Job:
        """Render ``input_image`` in the look of ``reference_image`` (always 2K)."""
        check.prompt(prompt, required=False)
        ids = check.profile_ids(profile_ids)
        fields = self._common(num_output_images, output_format, response_mode, callback_url,
                              client_request_id, mode)
        content, style = await _encode_all([input_image, reference_image], None)
        request = RemixRequest(
            input_image=content, reference_image=style, prompt=prompt, profile_ids=ids, **fields
        )
        return await self._submit("remix", request, mode, timeout)

    # --- Shared steps ----------------------------------------------------------------------

    def _common(
        self,
        num_output_images: int,
        output_format: OutputFormat | str,
        response_mode: ResponseMode | str | None,
        callback_url: str | None,
        client_request_id: str | None,
        mode: Mode,
    ) -> dict[str, Any]:
        if mode not in ("async", "sync"):
            raise InvalidInputError("mode", f"{mode!r} is not valid", allowed="'async', 'sync'")
        is_async = mode == "async"
        if callback_url is not None and not is_async:
            raise InvalidInputError("callback_url", "works only with mode='async'")
        default_mode = ResponseMode.URLS if is_async else ResponseMode.BYTES
        return {
            "num_output_images": check.int_in_range(
                num_output_images, C.OUTPUT_IMAGES_MIN, C.OUTPUT_IMAGES_MAX, "num_output_images"
            ),
            "output_format": check.enum_value(output_format, OutputFormat, "output_format"),
            "response_mode": check.optional_enum(response_mode, ResponseMode, "response_mode")
            or default_mode,
            "callback_url": check.callback_url(callback_url),
            "client_request_id": check.client_request_id(client_request_id)
            or (_new_request_id() if is_async else None),
            "async_": is_async,
        }

    async def _submit(
        self,
        endpoint: str,
        request: GenerateRequest | EditRequest | EnhanceRequest | RemixRequest,
        mode: Mode,
        timeout: float | None,
    ) -> Job:
        fields = converter.unstructure(request)
        body = await encode_json(fields, large=_payload_size(fields) > C.THREAD_ENCODE_THRESHOLD)
        crid = request.client_request_id
        if mode == "sync":
            response = await self._ctx.requester.call(
                "POST", endpoint, kind=Idempotency.UNSAFE, json_body=body, submit=True,
                timeout=timeout, read_timeout=C.SYNC_IMAGE_TIMEOUT, how_to_check=_HOW_TO_CHECK_SYNC,
            )
            return await self._finished(endpoint, response, crid)
        # The key makes every resend of this submit return the original job: safe to retry.
        try:
            response = await self._ctx.requester.call(
                "POST", endpoint, kind=Idempotency.KEYED, json_body=body, submit=True,
                timeout=timeout,
            )
            # A 200 is a server that ignored ``async`` and answered at once.
            handle = None if response.status == 200 else response.parse(JobHandle)
        except APIError as exc:
            # The work may have been accepted (and billed) on an attempt whose answer was lost
            # or unreadable: the key lets the caller resend the same intent and get that job.
            exc.note_submit(crid)
            raise
        if handle is None:
            return await self._finished(endpoint, response, crid)
        job_id = handle.job_id
        return self._ctx.handle(Job, job_id, lambda: Job(
            self._ctx, job_id, endpoint=endpoint, client_request_id=crid,
            callback=request.callback_url is not None,
            base_model=getattr(request, "base_model", None),
            resolution=getattr(request, "resolution", None),
        ))

    async def _finished(self, endpoint: str, response: Response, crid: str | None) -> Job:
        wire = structure(await response.json_off_loop(), ImageResponse)
        make = functools.partial(
            ImageResult.from_response, wire, transport=self._ctx.transport,
            downloads=self._ctx.downloads,
        )
        # Inline images are megabytes of base64: decode them off the loop.
        large = len(response.body) >= C.THREAD_ENCODE_THRESHOLD
        result = await anyio.to_thread.run_sync(make) if large else make()
        return Job.completed(self._ctx, result, endpoint=endpoint, client_request_id=crid)


def _payload_size(fields: dict[str, Any]) -> int:
    """Roughly how many bytes the body will be: its strings (base64 images) dominate."""
    size = 0
    for value in fields.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, list):
            size += sum(len(item) for item in value if isinstance(item, str))
    return size


def _model_fields(
    aspect_ratio: AspectRatio | str | None,
    resolution: Resolution | str | None,
    base_model: BaseModel | str | None,
    quality: Quality | str | None,
) -> dict[str, Any]:
    model = check.optional_enum(base_model, BaseModel, "base_model")
    size = check.optional_enum(resolution, Resolution, "resolution")
    grade = check.optional_enum(quality, Quality, "quality")
    check.model_options(model, size, grade)
    return {
        "aspect_ratio": check.optional_enum(aspect_ratio, AspectRatio, "aspect_ratio"),
        "resolution": size,
        "base_model": model,
        "quality": grade,
    }


async def _encode_all(images: Sequence[ImageInput], field: str | None) -> list[str]:
    """Encode several images concurrently (each in a worker thread when large)."""
    names = ["input_image", "reference_image"] if field is None else [
        f"{field}[{i}]" for i in range(len(images))
    ]
    return await map_concurrently(lambda i: encode_image(images[i], names[i]), len(images))
