"""Billing (prices, refunds, prepaid credit) and the command line."""

from __future__ import annotations

import asyncio

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
