"""``phota.jobs``: look up and re-attach image jobs and trainings by id or token."""

from __future__ import annotations

from .._http.retry import Idempotency
from .._jobs.context import ClientContext
from .._jobs.handles import Job, TrainingJob, decode_token
from .._wire import validation as check
from .._wire.converter import structure
from .._wire.models import JobSnapshot

__all__ = ["Jobs"]


class Jobs:
    """Handles for jobs that were submitted earlier, here or in another process."""

    def __init__(self, ctx: ClientContext) -> None:
        self._ctx = ctx

    async def get(self, job_id: str) -> JobSnapshot:
        """One reading of ``GET /jobs/{id}``, without creating a handle."""
        jid = check.resource_id(job_id, "job_id")
        response = await self._ctx.requester.call("GET", f"jobs/{jid}", kind=Idempotency.SAFE)
        return structure(response.json(), JobSnapshot)

    def attach(self, job_id: str, *, endpoint: str = "job") -> Job:
        """A :class:`Job` for an image job submitted earlier (no request is sent)."""
        jid = check.resource_id(job_id, "job_id")
        return self._ctx.handle(
            Job, jid, lambda: Job(self._ctx, jid, endpoint=endpoint, submitted_at=None)
        )

    def from_token(self, token: str) -> Job | TrainingJob:
        """Re-attach the handle that :meth:`Job.to_token` described, e.g. after a restart."""
        fields = decode_token(token, base_url=self._ctx.transport.base_url)
        job_id: str = fields["id"]
        submitted = float(fields.get("t") or 0) or None
        if fields["k"] == "training":
            return self._ctx.handle(TrainingJob, job_id, lambda: TrainingJob(
                self._ctx, job_id, submitted_at=submitted
            ))
        return self._ctx.handle(Job, job_id, lambda: Job(
            self._ctx, job_id, endpoint=str(fields.get("e") or "job"),
            client_request_id=fields.get("c"), submitted_at=submitted,
            callback=bool(fields.get("cb")),
        ))
