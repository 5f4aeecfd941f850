"""Billing (prices, refunds, prepaid credit) and the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
from emu_http import Api

from phota_async.emulator import PhotaEmulator, sample_photo
from phota_async.emulator import _command as _cli


async def test_prices_per_model_and_endpoint(api: Api) -> None:
    await api.post("/generate", {"prompt": "x", "base_model": "flux-2", "num_output_images": 2})
    await api.post("/generate", {"prompt": "x", "base_model": "reve"})
    charges = [(c.kind, c.amount, c.path) for c in api.emu.ledger]
    assert charges == [("image", 0.08, "/generate"), ("image", 0.05, "/generate")]
    assert api.emu.total_billed == pytest.approx(0.13)


@pytest.mark.parametrize("emu_options", [{"credit": 0.20}])
async def test_insufficient_credit_is_402_before_any_work(api: Api) -> None:
    assert (await api.post("/generate", {"prompt": "x", "num_output_images": 2}))[0] == 200
    status, body = await api.post("/generate", {"prompt": "x", "num_output_images": 1})
    assert (status, body["type"], body["detail"]) == (
        402,
        "INSUFFICIENT_CREDIT",
        "Insufficient credit",
    )
    assert api.emu.credit_left == pytest.approx(0.02)


@pytest.mark.parametrize("emu_options", [{"credit": 1.0}])
async def test_training_needs_credit_too(api: Api) -> None:
    urls = [api.emu.put_object(sample_photo(i), "image/jpeg") for i in range(10)]
    status, body = await api.post("/profiles/add", {"image_urls": urls})  # standard: $2.90
    assert (status, body["type"]) == (402, "INSUFFICIENT_CREDIT")
    assert api.emu.profiles == {} and api.emu.ledger == []


async def test_cli_options_configure_the_emulator() -> None:
    argv = ["--port", "0", "--api-key", "k1", "--api-key", "k2", "--fail-rate", "1"]
    emu = _cli.build_emulator(_cli._parser().parse_args(argv))
    async with emu, aiohttp.ClientSession() as session:
        headers = {"X-API-Key": "k2"}
        async with session.get(emu.url + "/profiles/ids", headers=headers) as response:
            assert response.status in _cli.RANDOM_5XX
    assert emu.api_key == "k1"


async def test_cli_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli._parser().parse_args(["--port", "0", "--api-key", "cli-key"])
    task = asyncio.create_task(_cli._serve(args))
    printed = ""
    async with asyncio.timeout(3):
        while "API key" not in printed:
            await asyncio.sleep(0.01)
            printed += capsys.readouterr().out
    url = printed.split()[3]
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "/profiles/ids", headers={"X-API-Key": "cli-key"}) as response,
    ):
        assert response.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_start_and_close_without_context_manager() -> None:
    emu = PhotaEmulator(api_keys=("a",), time_scale=6000)
    await emu.start()
    async with (
        aiohttp.ClientSession() as session,
        session.get(emu.url + "/webhook-secret", headers={"X-API-Key": "a"}) as response,
    ):
        assert response.status == 200
    await emu.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(emu.url + "/webhook-secret")


async def test_ledger_file_gets_a_line_per_charge_and_refund(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    async with (
        PhotaEmulator(ledger_path=path, time_scale=6000) as emu,
        aiohttp.ClientSession() as session,
    ):
        api = Api(emu, session)
        body = {"prompt": "x [fail]", "async": True, "response_mode": "urls",
                "client_request_id": "crid-1"}
        status, handle = await api.post("/generate", body)
        assert status == 202
        await api.poll(f"/jobs/{handle['job_id']}", lambda job: job["status"] == "failed")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        # Written and flushed while the emulator still runs: readable from another process.
        assert lines == [
            {"kind": "image", "ref": handle["job_id"], "amount": 0.09,
             "client_request_id": "crid-1", "refund": False, "path": "/generate"},
            {"kind": "image", "ref": handle["job_id"], "amount": -0.09,
             "client_request_id": "crid-1", "refund": True, "path": "/generate"},
        ]


@pytest.mark.parametrize("refresh", [False, True])
async def test_expired_download_urls_answer_403_and_can_be_signed_again(refresh: bool) -> None:
    async with (
        PhotaEmulator(time_scale=6000, refresh_expired_urls=refresh) as emu,
        aiohttp.ClientSession() as session,
    ):
        api = Api(emu, session)
        body = {"prompt": "x", "async": True, "response_mode": "urls"}
        _, handle = await api.post("/generate", body)
        job = await api.poll(f"/jobs/{handle['job_id']}",
                             lambda job: job["status"] == "completed")
        url = job["download_urls"][0]
        assert (await api.get(url, headers={}))[0] == 200
        assert emu.expire_download_urls() == 1
        status, error = await api.get(url, headers={})
        assert (status, error["type"]) == (403, "URL_EXPIRED")
        again = (await api.get(f"/jobs/{handle['job_id']}"))[1]["download_urls"][0]
        assert (again != url) is refresh
        assert (await api.get(again, headers={}))[0] == (200 if refresh else 403)


async def test_cli_writes_the_ledger_file(tmp_path: Path) -> None:
    argv = ["--port", "0", "--ledger", str(tmp_path / "l.jsonl"), "--refresh-expired-urls"]
    emu = _cli.build_emulator(_cli._parser().parse_args(argv))
    async with emu, aiohttp.ClientSession() as session:
        api = Api(emu, session)
        await api.post("/generate", {"prompt": "x", "num_output_images": 2})
    assert json.loads((tmp_path / "l.jsonl").read_text())["amount"] == 0.18
