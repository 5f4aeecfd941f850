"""Image work in scaled time: async jobs (queued -> running -> done) and synchronous calls."""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
from collections.abc import Callable, Mapping

import attrs

from . import _pictures as _images
from . import _pricing
from ._callbacks import CallbackSender
from ._clock import ScaledClock
from ._errors import ApiError
from ._ledger import Charge, Ledger
from ._state import (
    JOB_FAILED,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    ImageRequest,
    JobError,
    JobRecord,
    JobResult,
    JobSeconds,
    Store,
    new_id,
)
from ._storage import Blob, BlobStore
from ._tasks import BackgroundTasks

SYNC_LIMIT_SECONDS = 600.0  # the real server's limit for a request that holds the connection
DOWNLOAD_URL_SECONDS = 24 * 3600.0  # signed download URLs stay valid for 24 emulated hours
_QUEUED_SHARE = 0.15  # part of a job's duration spent queued before it runs

JobObjectRenderer = Callable[[JobRecord], dict[str, object]]


class JobRunner:
    def __init__(
        self,
        *,
        clock: ScaledClock,
        store: Store,
        ledger: Ledger,
        files: BlobStore,
        callbacks: CallbackSender,
        tasks: BackgroundTasks,
        job_seconds: Mapping[str, JobSeconds],
        render_job: JobObjectRenderer,
        plain_outputs: bool = False,
    ) -> None:
        self._clock = clock
        self._store = store
        self._ledger = ledger
        self._files = files
        self._callbacks = callbacks
        self._tasks = tasks
        self._job_seconds = job_seconds
        self._render_job = render_job
        self._plain_outputs = plain_outputs
        self._lifecycles: dict[str, asyncio.Task[None]] = {}

    def submit(self, request: ImageRequest, *, origin: str) -> JobRecord:
        """Accept an async request; with a known client_request_id, the original job instead.

        Nothing here awaits, so two concurrent submits with one key cannot both create a job.
        """
        existing = self._store.job_for_client_request_id(request.client_request_id)
        if existing is not None:
            return existing
        job_id = new_id("job")
        charge = self._ledger.reserve(_image_charge(request, job_id))
        job = JobRecord(
            id=job_id,
            request=request,
            origin=origin,
            created_at=self._clock.now(),
            duration=self._duration(request),
            charge=charge,
        )
        self._store.add_job(job)
        self._lifecycles[job.id] = self._tasks.spawn(self._lifecycle(job), name=f"job {job.id}")
        return job

    async def run_sync(self, request: ImageRequest, *, origin: str) -> JobResult:
        """Hold the caller for the job's duration; past the server's limit, refund and 504."""
        charge = self._ledger.reserve(_image_charge(request, None))
        duration = self._duration(request)
        await self._clock.sleep(min(duration, SYNC_LIMIT_SECONDS))
        if duration > SYNC_LIMIT_SECONDS:
            self._ledger.refund(charge)
            raise ApiError(
                504, "The request ran past the server's time limit; the cost was refunded"
            )
        if request.should_fail:
            self._ledger.refund(charge)
            raise ApiError(500, "Image generation failed", type="GENERATION_FAILED")
        return await self._produce(request, origin)

    def _duration(self, request: ImageRequest) -> float:
        seconds = self._job_seconds[request.kind]
        return float(seconds(request) if callable(seconds) else seconds)

    def fail(self, job: JobRecord, message: str, *, type: str = "JOB_FAILED") -> None:
        """End a pending job as failed: refund it and send its callback."""
        if job.done:
            raise ValueError(f"job {job.id} already finished ({job.status})")
        task = self._lifecycles.pop(job.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        job.error = JobError(type, message)
        self._ledger.refund(job.charge)
        self._finish(job, JOB_FAILED)

    async def _lifecycle(self, job: JobRecord) -> None:
        await self._clock.sleep(job.duration * _QUEUED_SHARE)
        self._transition(job, JOB_RUNNING)
        await self._clock.sleep(job.due_at - self._clock.now())
        if job.request.should_fail:
            self.fail(job, "Image generation failed", type="GENERATION_FAILED")
            return
        job.result = await self._produce(job.request, job.origin)
        self._lifecycles.pop(job.id, None)
        self._finish(job, JOB_SUCCEEDED)

    def _finish(self, job: JobRecord, status: str) -> None:
        self._transition(job, status)
        if job.request.callback_url:
            body = json.dumps(self._render_job(job)).encode()
            self._callbacks.send(job.request.callback_url, body)

    def _transition(self, job: JobRecord, status: str) -> None:
        job.status = status
        job.forced_status = None  # a forced wire status lasts until the job's next own transition
        job.forced_error = None

    async def _produce(self, request: ImageRequest, origin: str) -> JobResult:
        seed = f"{request.kind}|{request.prompt}"
        fmt = request.output_format
        # The outputs show who was named (their picture and tag) and the prompt's words.
        named = [self._store.profiles.get(pid) for pid in request.profile_ids]
        subjects = [_images.Subject(p.id, p.tag or p.id, p.picture) for p in named if p is not None]
        if self._plain_outputs:
            images = [_images.plain_output(fmt)] * request.num_output_images
        else:
            images = await asyncio.to_thread(
                functools.partial(_images.render_outputs, caption=request.prompt or request.kind,
                                  subjects=subjects),
                seed, request.num_output_images, fmt, request.aspect_ratio,
            )
        counts = {profile_id: len(images) for profile_id in request.profile_ids}
        if request.response_mode == "bytes":
            return JobResult(tuple(images), (), counts)
        urls = tuple(self._publish(image, fmt, origin) for image in images)
        return JobResult((), urls, counts)

    def refresh_expired_urls(self, job: JobRecord) -> None:
        """Sign the job's expired download URLs again, as a server that signs on each read."""
        if job.result is None or not job.result.download_urls:
            return
        urls = tuple(self._fresh(url, job.origin) for url in job.result.download_urls)
        job.result = attrs.evolve(job.result, download_urls=urls)

    def _fresh(self, url: str, origin: str) -> str:
        name = url.rsplit("/", 1)[-1]
        blob = self._files.get(name)
        if blob is None or not blob.expired(self._clock.now()):
            return url
        return self._publish(blob.data, name.rsplit(".", 1)[-1], origin)

    def _publish(self, image: bytes, fmt: str, origin: str) -> str:
        name = f"{secrets.token_urlsafe(24)}.{fmt}"
        expires_at = self._clock.now() + DOWNLOAD_URL_SECONDS
        self._files.put(name, Blob(image, _images.CONTENT_TYPES[fmt], expires_at))
        return f"{origin}/files/{name}"


def _image_charge(request: ImageRequest, job_id: str | None) -> Charge:
    amount = _pricing.image_cost(
        request.kind,
        request.base_model,
        request.num_output_images,
        with_identity=bool(request.profile_ids),
    )
    return Charge("image", amount, job_id, None, request.client_request_id, request.path)
