"""A small event hook for metrics: one event when a request starts, ends, or is retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from attrs import frozen

__all__ = ["EventHook", "RequestEvent"]


@frozen
class RequestEvent:
    """What happened to one request.

    ``kind`` is ``start``, ``end`` (with ``status`` or ``error``, and ``elapsed`` seconds) or
    ``retry`` (with the ``error`` that caused it and the ``wait`` before the next attempt).
    ``label`` is ``METHOD /path``. Never carries the API key.
    """

    kind: Literal["start", "end", "retry"]
    label: str
    attempt: int = 1
    status: int | None = None
    error: BaseException | None = None
    elapsed: float | None = None
    wait: float | None = None
    request_id: str | None = None


EventHook = Callable[[RequestEvent], None]
"""A callable given each :class:`RequestEvent`; it must not block (it runs on the event loop)."""
