"""A local Phota API server for tests, examples and the CLI: `phota emulator`.

It speaks every endpoint of the Phota API with the real server's validation rules and status codes,
in scaled time, with injectable faults, an upload bucket, signed callbacks and a billing ledger. It
shares no code with the SDK on purpose, so that it can catch the SDK's mistakes.
"""

from __future__ import annotations

from ._callbacks import CallbackDelivery, CallbackPolicy, sign
from ._dialect import Dialect
from ._emulator import DEFAULT_JOB_SECONDS, PhotaEmulator
from ._faults import FaultHandle
from ._ledger import Charge
from ._pictures import sample_photo
from ._recording import RecordedRequest
from ._state import JobRecord, ProfileRecord

__all__ = [
    "DEFAULT_JOB_SECONDS",
    "CallbackDelivery",
    "CallbackPolicy",
    "Charge",
    "Dialect",
    "FaultHandle",
    "JobRecord",
    "PhotaEmulator",
    "ProfileRecord",
    "RecordedRequest",
    "sample_photo",
    "sign",
]
