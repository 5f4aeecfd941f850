"""Asynchronous jobs: handles, the lifecycle in scaled time, idempotency, steering, dialects."""

from __future__ import annotations

from typing import Any

import pytest
from emu_http import Api

from phota_async.emulator import Dialect

ASYNC = {"prompt": "a lighthouse", "async": True, "response_mode": "urls", "output_format": "jpg"}


def _done(body: dict[str, Any]) -> bool:
    return body["status"] in ("completed", "failed")


async def test_job_goes_queued_running_completed(api: Api) -> None:
    status, handle = await api.post("/generate", ASYNC)
    assert status == 202
    assert handle["poll_url"] == f"{api.emu.url}/jobs/{handle['job_id']}"
    seen: set[str] = set()

    def done(body: dict[str, Any]) -> bool:
        seen.add(body["status"])
        return _done(body)

    final = await api.poll(handle["poll_url"], done)
    assert "completed" in seen and seen <= {"queued", "running", "completed"}
    assert final["job_id"] == handle["job_id"]
    assert len(final["download_urls"]) == 1
    assert "poll_after_ms" not in final


async def test_pending_job_carries_a_poll_hint_in_real_milliseconds(api: Api) -> None:
    _, handle = await api.post("/generate", ASYNC)
    _, job = await api.get(handle["poll_url"])
    # 30 emulated seconds at 600x: at most 50 real milliseconds.
    assert 10 <= job["poll_after_ms"] <= 50


async def test_unknown_job_is_404(api: Api) -> None:
    assert (await api.get("/jobs/job_nope"))[0] == 404


async def test_same_client_request_id_returns_the_original_job_and_bills_once(api: Api) -> None:
    body = {**ASYNC, "client_request_id": "batch-7:item.1"}
    _, first = await api.post("/generate", body)
    status, again = await api.post("/generate", {**body, "prompt": "something else"})
    assert status == 202
    assert again["job_id"] == first["job_id"]
    assert len(api.emu.jobs) == 1
    assert api.emu.total_billed == pytest.approx(0.09)


async def test_fail_marker_fails_the_job_with_an_error_object_and_refunds(api: Api) -> None:
    _, handle = await api.post("/generate", {**ASYNC, "prompt": "[fail]"})
    final = await api.poll(handle["poll_url"], _done)
    assert final["status"] == "failed"
    assert set(final["error"]) == {"type", "message"}
    assert api.emu.total_billed == 0.0


async def test_fail_job_and_forced_statuses(api: Api) -> None:
    _, handle = await api.post("/generate", ASYNC)
    api.emu.set_job_status(handle["job_id"], "mystery")
    assert (await api.get(handle["poll_url"]))[1]["status"] == "mystery"
    api.emu.fail_job(handle["job_id"], "GPU on fire")
    _, job = await api.get(handle["poll_url"])
    assert job["status"] == "failed"
    assert job["error"]["message"] == "GPU on fire"
    api.emu.set_job_status(handle["job_id"], "EXPIRED", error="gone")
    _, job = await api.get(handle["poll_url"])
    assert (job["status"], job["error"]) == ("EXPIRED", "gone")


async def test_bytes_mode_job_inlines_base64_images(api: Api) -> None:
    _, handle = await api.post("/generate", {**ASYNC, "response_mode": "bytes"})
    final = await api.poll(handle["poll_url"], _done)
    assert final["download_urls"] == [] and len(final["images"]) == 1


@pytest.mark.parametrize(
    "emu_options",
    [
        {
            "dialect": Dialect(
                status_case="upper",
                status_words={"succeeded": "succeeded"},
                id_key="id",
                result_nesting="output",
                error_shape="string",
                poll_hint="header",
            )
        }
    ],
)
async def test_other_dialect(api: Api) -> None:
    _, handle = await api.post("/generate", ASYNC)
    _, pending, response = await api.call("GET", handle["poll_url"])
    assert pending["id"] == handle["job_id"] and "job_id" not in pending
    assert pending["status"] in ("QUEUED", "RUNNING")
    assert response.headers["Retry-After"] == "1"
    final = await api.poll(handle["poll_url"], lambda body: body["status"] == "SUCCEEDED")
    assert len(final["output"]["download_urls"]) == 1
    _, failed = await api.post("/generate", {**ASYNC, "prompt": "[fail]"})
    final = await api.poll(failed["poll_url"], lambda body: body["status"] == "FAILED")
    assert isinstance(final["error"], str)


@pytest.mark.parametrize("emu_options", [{"dialect": Dialect(poll_hints=False)}])
async def test_poll_hints_can_be_off(api: Api) -> None:
    _, handle = await api.post("/generate", ASYNC)
    _, job = await api.get(handle["poll_url"])
    assert "poll_after_ms" not in job
