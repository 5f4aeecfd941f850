"""``phota.jobs``: look up and re-attach image jobs and trainings by id or token."""

from __future__ import annotations

from . import _validation as check
from ._converter import structure
from ._jobs import Job, JobContext, TrainingJob, decode_token
from ._models import JobSnapshot
from ._retry import Idempotency

__all__ = ["Jobs"]


class Jobs:
    """Handles for jobs that were submitted earlier, here or in another process."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx

    async def get(self, job_id: str) -> JobSnapshot:
        """One reading of ``GET /jobs/{id}``, without creating a handle."""
        jid = check.resource_id(job_id, "job_id")
        response = await self._ctx.requester.call("GET", f"jobs/{jid}", kind=Idempotency.SAFE)
        return structure(response.json(), JobSnapshot)

    def attach(self, job_id: str, *, endpoint: str = "job") -> Job:
        """A :class:`Job` for an image job submitted earlier (no request is sent)."""
        jid = check.resource_id(job_id, "job_id")
        existing = self._ctx.registry.get(("image", jid))
        if isinstance(existing, Job):
            return existing
        job = Job(self._ctx, jid, endpoint=endpoint, submitted_at=None)
        self._ctx.track(job)
        return job

    def from_token(self, token: str) -> Job | TrainingJob:
        """Re-attach the handle that :meth:`Job.to_token` described, e.g. after a restart."""
        fields = decode_token(token, base_url=self._ctx.requester.transport.base_url)
        kind, job_id = fields["k"], fields["id"]
        existing = self._ctx.registry.get((kind, job_id))
        if isinstance(existing, Job | TrainingJob):
            return existing
        submitted = float(fields.get("t") or 0) or None
        job: Job | TrainingJob
        if kind == "training":
            job = TrainingJob(self._ctx, job_id, submitted_at=submitted)
        else:
            job = Job(self._ctx, job_id, endpoint=str(fields.get("e") or "job"),
                      client_request_id=fields.get("c"), submitted_at=submitted,
                      callback=bool(fields.get("cb")))
        self._ctx.track(job)
        return job
