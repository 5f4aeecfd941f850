"""Everything the route handlers share, reachable from the aiohttp app."""

from __future__ import annotations

import random
from collections.abc import Mapping

import attrs
from aiohttp import web

from ._callbacks import CallbackPolicy, CallbackSender
from ._clock import ScaledClock
from ._dialect import Dialect
from ._faults import FaultSet
from ._ledger import Ledger
from ._outbound import Outbound
from ._recording import RecordedRequest
from ._state import JobSeconds, Store
from ._storage import BlobStore
from ._tasks import BackgroundTasks
from ._training import TrainingRunner
from ._work import JobRunner


@attrs.frozen
class Settings:
    api_keys: tuple[str, ...]
    webhook_secret: str
    dialect: Dialect
    callbacks: CallbackPolicy
    job_seconds: Mapping[str, JobSeconds]
    training_seconds: float
    fetch_timeout: float
    record_requests: bool
    refresh_expired_urls: bool = False
    plain_outputs: bool = False


@attrs.define(eq=False)
class Context:
    settings: Settings
    clock: ScaledClock
    rng: random.Random
    store: Store
    ledger: Ledger
    faults: FaultSet
    bucket: BlobStore
    files: BlobStore
    outbound: Outbound
    tasks: BackgroundTasks
    callbacks: CallbackSender
    jobs: JobRunner
    training: TrainingRunner
    requests: list[RecordedRequest] = attrs.Factory(list)

    @property
    def dialect(self) -> Dialect:
        return self.settings.dialect

    @classmethod
    def build(cls, settings: Settings, clock: ScaledClock, ledger: Ledger, seed: int) -> Context:
        """Wire the parts together; nothing here needs a running loop."""
        rng = random.Random(seed)
        store, files, tasks = Store(), BlobStore(), BackgroundTasks()
        outbound = Outbound(timeout=settings.fetch_timeout)
        callbacks = CallbackSender(
            policy=settings.callbacks,
            secret=settings.webhook_secret,
            outbound=outbound,
            tasks=tasks,
        )
        jobs = JobRunner(
            clock=clock,
            store=store,
            ledger=ledger,
            files=files,
            callbacks=callbacks,
            tasks=tasks,
            job_seconds=settings.job_seconds,
            render_job=lambda job: settings.dialect.job_object(job, clock),
            plain_outputs=settings.plain_outputs,
        )
        training = TrainingRunner(
            clock=clock,
            store=store,
            ledger=ledger,
            tasks=tasks,
            training_seconds=settings.training_seconds,
        )
        return cls(
            settings=settings,
            clock=clock,
            rng=rng,
            store=store,
            ledger=ledger,
            faults=FaultSet(rng),
            bucket=BlobStore(),
            files=files,
            outbound=outbound,
            tasks=tasks,
            callbacks=callbacks,
            jobs=jobs,
            training=training,
        )


CONTEXT = web.AppKey("phota_emulator_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
