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
from ._jobs import JobRunner
from ._ledger import Ledger
from ._outbound import Outbound
from ._recording import RecordedRequest
from ._state import Store
from ._storage import BlobStore
from ._tasks import BackgroundTasks
from ._training import TrainingRunner


@attrs.frozen
class Settings:
    api_keys: tuple[str, ...]
    webhook_secret: str
    dialect: Dialect
    callbacks: CallbackPolicy
    job_seconds: Mapping[str, float]
    training_seconds: float
    fetch_timeout: float
    record_requests: bool


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


CONTEXT = web.AppKey("phota_emulator_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
