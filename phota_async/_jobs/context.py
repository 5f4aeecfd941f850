"""The state one client shares with its resources and job handles."""

from __future__ import annotations

import asyncio
import random
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define, field

from .. import _constants as C
from .._http.requester import Requester
from .._http.transport import Transport
from .cadence import Cadence, PollConfig
from .downloads import DownloadSettings
from .scheduler import PollScheduler

if TYPE_CHECKING:
    from .handles import _RemoteJob

__all__ = ["ClientContext"]

J = TypeVar("J", bound="_RemoteJob[Any, Any]")


@define
class ClientContext:
    """The state one client shares with its resources and jobs: the requester, the poll
    scheduler and cadence, download settings, and the job handles it holds."""

    requester: Requester
    scheduler: PollScheduler
    poll: PollConfig
    downloads: DownloadSettings
    rng: random.Random = field(factory=random.Random)
    cadence: Cadence = field()
    registry: weakref.WeakValueDictionary[tuple[str, str], _RemoteJob[Any, Any]] = field(
        factory=weakref.WeakValueDictionary
    )
    # Re-plans under way: endpoint -> the jobs still to re-plan.
    _replanning: dict[str, deque[_RemoteJob[Any, Any]]] = field(factory=dict, init=False)
    _replan_again: set[str] = field(factory=set, init=False)  # one more round once it ends

    @cadence.default
    def _cadence(self) -> Cadence:
        return Cadence(self.poll, self.rng)

    def replan(self, endpoint: str) -> None:
        """What is known of ``endpoint``'s durations changed: move its waiting jobs' polls.

        A slice of ``REPLAN_SLICE`` jobs at a time, the rest on the next loop passes: ten
        thousand waiting jobs must not hold the loop for a tenth of a second. A new estimate
        while a round is under way asks for one more round after it (the jobs still to come in
        this one are planned on the newest estimate already): estimates that move every few
        hundred polls must not restart the round again and again.
        """
        if endpoint in self._replanning:
            self._replan_again.add(endpoint)
            return
        idle = not self._replanning
        self._replanning[endpoint] = deque(self.cadence.waiting(endpoint))
        if idle:
            self._replan_slice()

    def _replan_slice(self) -> None:
        try:
            for endpoint, jobs in list(self._replanning.items()):
                for _ in range(min(len(jobs), C.REPLAN_SLICE)):
                    job = jobs.popleft()
                    if job.wants_polling():
                        self.scheduler.reschedule(job, job._planned_delay())
                if jobs:
                    continue
                if endpoint in self._replan_again:
                    self._replan_again.discard(endpoint)
                    self._replanning[endpoint] = deque(self.cadence.waiting(endpoint))
                else:
                    del self._replanning[endpoint]
        finally:
            if self._replanning:
                asyncio.get_running_loop().call_soon(self._replan_slice)

    @property
    def transport(self) -> Transport:
        """The one place HTTP to the API happens (downloads use it too, without the key)."""
        return self.requester.transport

    def held(self, cls: type[J], job_id: str) -> J | None:
        """The handle of kind ``cls`` this client holds for ``job_id``, if any."""
        existing = self.registry.get((cls.kind, job_id))
        return existing if isinstance(existing, cls) else None

    def handle(self, cls: type[J], job_id: str, make: Callable[[], J]) -> J:
        """The handle this client already holds for ``job_id``, else ``make()``'s, remembered
        so that a webhook, a second attach or a resent submit finds the same one."""
        existing = self.held(cls, job_id)
        if existing is not None:
            return existing
        job = make()
        self.registry[(cls.kind, job_id)] = job
        return job
