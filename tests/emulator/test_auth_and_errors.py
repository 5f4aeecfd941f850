"""Authentication, request ids and the error shapes every endpoint shares."""

from __future__ import annotations

import pytest
from emu_http import Api


async def test_missing_key_is_403_and_unknown_key_is_401(api: Api) -> None:
    status, body = await api.get("/profiles/ids", headers={})
    assert status == 403
    assert body["detail"] == "Not authenticated"
    status, body = await api.get("/profiles/ids", headers={"X-API-Key": "nope"})
    assert status == 401
    assert body["type"] == "AUTHENTICATION_ERROR"


async def test_every_answer_carries_a_request_id_also_in_error_bodies(api: Api) -> None:
    ok_status, _, ok = await api.call("GET", "/profiles/ids")
    error_status, body, error = await api.call("GET", "/jobs/job_unknown")
    assert ok_status == 200
    assert ok.headers["X-Request-Id"].startswith("req_")
    assert error_status == 404
    assert body["request_id"] == error.headers["X-Request-Id"]
    assert set(body) == {"detail", "message", "type", "request_id"}


async def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert (await api.get("/nothing-here"))[0] == 404
    assert (await api.get("/generate"))[0] == 405


async def test_422_has_fastapi_shape(api: Api) -> None:
    status, body = await api.post("/generate", {"prompt": "x", "num_output_images": "2"})
    assert status == 422
    [problem] = body["detail"]
    assert problem["loc"] == ["body", "num_output_images"]
    assert problem["type"] == "int_type"
    assert {"loc", "msg", "type"} <= set(problem)


async def test_body_that_is_not_json_is_422(api: Api) -> None:
    async with api.session.post(
        api.emu.url + "/generate",
        data=b"{not json",
        headers={**api.headers, "Content-Type": "application/json"},
    ) as response:
        assert response.status == 422
        assert (await response.json())["detail"][0]["type"] == "json_invalid"


async def test_body_must_be_declared_json_and_present(api: Api) -> None:
    url = api.emu.url + "/generate"
    form = {**api.headers, "Content-Type": "text/plain"}
    async with api.session.post(url, data=b'{"prompt": "x"}', headers=form) as response:
        assert response.status == 422
    json_type = {**api.headers, "Content-Type": "application/json"}
    async with api.session.post(url, data=b"", headers=json_type) as response:
        assert response.status == 422
        assert (await response.json())["detail"][0]["type"] == "missing"


@pytest.mark.parametrize("emu_options", [{"record_requests": False}])
async def test_recording_can_be_turned_off(api: Api) -> None:
    await api.get("/profiles/ids")
    assert api.emu.requests == []


async def test_requests_are_recorded_with_lower_case_headers(api: Api) -> None:
    await api.post("/generate", {"prompt": "x"})
    [recorded] = api.emu.api_requests("/generate", method="POST")
    assert recorded.headers["x-api-key"] == api.emu.api_key
    assert recorded.json() == {"prompt": "x"}
    assert recorded.api_path == "/generate"
