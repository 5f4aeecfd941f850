"""The client itself: where the key and URL come from, its lifetime, and what it shows."""

from __future__ import annotations

import gc
import logging

import pytest

import phota_async
from phota_async import AsyncPhota, MissingAPIKeyError
from phota_async.emulator import PhotaEmulator
from tests.conftest import make_client


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTA_API_KEY", "env-key")
    monkeypatch.delenv("PHOTA_BASE_URL", raising=False)
    client = AsyncPhota()
    assert client.base_url == "https://api.photalabs.com/v1/phota/"


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTA_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="PHOTA_API_KEY"):
        AsyncPhota()
    assert issubclass(MissingAPIKeyError, phota_async.PhotaError)


def test_base_url_from_argument_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTA_BASE_URL", "http://127.0.0.1:9/v1/phota")
    assert AsyncPhota(api_key="k").base_url == "http://127.0.0.1:9/v1/phota/"
    assert AsyncPhota(api_key="k", base_url="http://localhost:1/x").base_url == "http://localhost:1/x/"


def test_the_key_is_in_no_repr() -> None:
    client = AsyncPhota(api_key="sk-very-secret-key", base_url="http://127.0.0.1:9/v1/phota")
    texts = [repr(client), str(client), repr(client._transport), repr(vars(client._transport))]
    assert not any("sk-very-secret-key" in text for text in texts)


async def test_async_with_opens_lazily_and_closes(emulator: PhotaEmulator) -> None:
    async with make_client(emulator) as phota:
        assert phota._transport.closed  # nothing opened before the first request
        await phota.profiles.list()
        assert not phota._transport.closed
    assert phota._transport.closed


async def test_unclosed_client_warns(emulator: PhotaEmulator) -> None:
    phota = make_client(emulator)
    await phota.profiles.list()
    session = phota._transport._session
    with pytest.warns(ResourceWarning, match="was not closed"):
        del phota
        gc.collect()
    assert session is not None
    await session.close()


def test_a_client_that_never_connected_does_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    client = AsyncPhota(api_key="k", base_url="http://127.0.0.1:9/v1/phota")
    del client
    gc.collect()
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


async def test_requests_carry_the_key_and_logs_do_not(
    emulator: PhotaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="phota_async")
    async with make_client(emulator) as phota:
        await phota.profiles.list(tag="someone")
    request = emulator.api_requests("/profiles/ids")[0]
    assert request.headers["x-api-key"] == emulator.api_key
    assert request.query == {"tag": "someone"}
    assert caplog.records, "expected debug logs of the request"
    assert all(emulator.api_key not in record.getMessage() for record in caplog.records)


def test_every_public_name_is_exported() -> None:
    for name in phota_async.__all__:
        assert getattr(phota_async, name) is not None
    for name in ("AsyncPhota", "Job", "TrainingJob", "ImageResult", "as_completed",
                 "InvalidInputError", "ContentModerationError", "WebhookVerificationError"):
        assert name in phota_async.__all__


async def test_a_deprecation_header_is_logged_once_per_endpoint(
    phota: AsyncPhota, caplog: pytest.LogCaptureFixture
) -> None:
    # The SDK always sends output_format, so only a raw body without it draws the header.
    caplog.set_level(logging.WARNING, logger="phota_async")
    for _ in range(2):
        await phota._transport.request(
            "POST", "generate", json_body={"prompt": "x", "async": True, "response_mode": "urls"}
        )
    warnings = [r.getMessage() for r in caplog.records if "changes after" in r.getMessage()]
    assert len(warnings) == 1 and "POST /generate" in warnings[0]
