"""Result downloads against a hostile or broken server (issue #10, items 1, 2, 3 and 11).

Small malicious aiohttp servers on loopback answer the API and serve the "images". Whatever they
send, ``save()`` writes only inside its folder and leaves no partial file, a download stops at its
size cap and its deadline with a clean :class:`PhotaError`, and files are fetched only over https
(plain http to loopback) from the hosts allowed, never through a redirect to elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from phota_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncPhota,
    ImageResult,
    InvalidInputError,
    KnownSubjects,
    PollConfig,
)
from phota_async import _constants as C
from tests.conftest import FAST_RETRY, TIME_SCALE, make_client, photo, serve, wait_until

KEY = "sk-hostile-test-key"
JPEG = photo(1)
MB = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def connection_counter() -> AsyncIterator[tuple[int, list[int]]]:
    """A raw TCP listener that only counts the connections it gets (to prove none was made)."""
    seen: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


def files_api(urls: Callable[[], list[str]]) -> list[web.RouteDef]:
    """A synchronous ``generate`` answering ``download_urls``: the quickest way to a result."""

    async def generate(request: web.Request) -> web.Response:
        return web.json_response({"images": [], "download_urls": urls()})

    return [web.post("/v1/phota/generate", generate)]


def client(api: str, **options: Any) -> AsyncPhota:
    return AsyncPhota(api_key=KEY, base_url=f"{api}/v1/phota", retry=FAST_RETRY,
                      poll=PollConfig(time_scale=TIME_SCALE), **options)


async def result_from(api: str, **options: Any) -> tuple[AsyncPhota, ImageResult]:
    phota = client(api, **options)
    return phota, await (await phota.generate("a portrait", mode="sync"))


def written(root: Path) -> list[Path]:
    """Every file and link under ``root`` (resolved), partial files included."""
    return sorted(p.resolve() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


@pytest.fixture
def traced() -> Iterator[Callable[[], int]]:
    """The peak of Python allocations (bytes) since the test started."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- 1. Files are written only inside the target folder -------------------------------------------


@pytest.mark.parametrize("job_id", [
    "./../../escaped", "../escaped", "..", "a/../../escaped", "/tmp/escaped", "..\\..\\escaped",
    "x\x00y", "",
])
async def test_a_submit_answering_a_path_for_a_job_id_is_refused(
    tmp_path: Path, job_id: str
) -> None:
    seen: list[str] = []

    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"job_id": job_id, "status": "queued"}, status=202)

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path.endswith(".jpg"):
            return web.Response(body=JPEG, content_type="application/octet-stream")
        urls = [f"{origin[0]}/out/0.jpg"]
        return web.json_response({"job_id": job_id, "status": "completed", "download_urls": urls})

    origin: list[str] = []
    routes = [web.post("/v1/phota/generate", submit), web.get("/{tail:.*}", anything)]
    async with serve(*routes) as api:
        origin.append(api)
        target = tmp_path / "a" / "b" / "out"
        async with client(api) as phota:
            with pytest.raises(APIError) as caught:
                await (await (await phota.generate("a portrait")).result(timeout=5)).save(target)
    error = caught.value
    assert "job_id" in str(error) and "may exist" in str(error)
    assert error.client_request_id is not None and error.client_request_id in str(error)
    assert seen == []  # the id was never used: no poll, no download
    assert written(tmp_path) == []


@pytest.mark.parametrize(("field", "options"), [
    ("job_id", {"job_id": "../../escaped"}),
    ("job_id", {"job_id": "sub/../../escaped"}),
    ("job_id", {"job_id": "j" * 300}),
])
async def test_save_refuses_a_name_that_is_a_path(
    tmp_path: Path, field: str, options: dict[str, str]
) -> None:
    result = ImageResult(images=[JPEG], download_urls=[], known_subjects=KnownSubjects(),
                         **options)
    target = tmp_path / "a" / "b" / "out"
    with pytest.raises(InvalidInputError) as caught:
        await result.save(target)
    assert caught.value.field == field
    assert [p for p in written(tmp_path) if target.resolve() not in p.parents] == []


@pytest.mark.parametrize("stem", ["../escaped", "a/b", "..", ".", "", "x\x00", "..\\escaped"])
async def test_a_stem_must_be_a_plain_name(tmp_path: Path, stem: str) -> None:
    result = ImageResult(images=[JPEG], download_urls=[], known_subjects=KnownSubjects())
    with pytest.raises(InvalidInputError) as caught:
        await result.save(tmp_path / "out", stem=stem)
    assert caught.value.field == "stem"
    assert written(tmp_path) == []


async def test_save_never_writes_through_a_link_planted_in_the_folder(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    target = tmp_path / "out"
    target.mkdir()
    for name in (".a-0.part", "a-0.jpg"):  # the old fixed partial name, and the final name
        (target / name).symlink_to(victim)
    result = ImageResult(images=[JPEG], download_urls=[], known_subjects=KnownSubjects())
    (path,) = await result.save(target, stem="a")
    assert victim.read_bytes() == b"precious"
    assert path == target / "a-0.jpg" and not path.is_symlink() and path.read_bytes() == JPEG
    assert partials(target) == [target / ".a-0.part"]  # the planted link, left as it was


# --- 2. Size caps ---------------------------------------------------------------------------------


def endless(block: int = 64 * 1024, limit: int = 160 * MB) -> Handler:
    """A chunked "image" with no length that goes on (up to ``limit``, so a bug cannot eat RAM)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await resp.prepare(request)
        chunk = JPEG[:3] + b"\0" * (block - 3)
        sent = 0
        with contextlib.suppress(ConnectionError):  # the client hangs up: that is the point
            while sent < limit:
                await resp.write(chunk)
                sent += block
            await resp.write_eof()
        return resp

    return handler


def declared(length: int) -> Handler:
    """Headers that promise ``length`` bytes, a few bytes, then silence."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/jpeg",
                                           "Content-Length": str(length)})
        await resp.prepare(request)
        await resp.write(JPEG[:100])
        await asyncio.sleep(30)
        return resp

    return handler


@pytest.mark.parametrize("how", ["save", "read"])
async def test_an_endless_download_stops_at_the_size_cap(
    tmp_path: Path, traced: Callable[[], int], how: str
) -> None:
    cap = 4 * MB
    async with serve(web.get("/big.jpg", endless())) as files, \
            serve(*files_api(lambda: [f"{files}/big.jpg"])) as api:
        phota, result = await result_from(api, max_download_bytes=cap)
        async with phota:
            with pytest.raises(APIError, match="max_download_bytes") as caught:
                await (result.save(tmp_path / "out") if how == "save" else result.read())
    assert "larger than" in str(caught.value)
    assert traced() < cap + 24 * MB
    assert written(tmp_path) == []  # no partial file, no truncated image


async def test_a_declared_length_over_the_default_cap_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    assert C.MAX_DOWNLOAD_BYTES == 64 * MB
    async with serve(web.get("/huge.jpg", declared(2 * 1024 * MB))) as files, \
            serve(*files_api(lambda: [f"{files}/huge.jpg"])) as api:
        # A short read timeout so that an SDK that waits for the body fails here, not in 60 s.
        phota, result = await result_from(api, read_timeout=2.0)
        async with phota:
            with pytest.raises(APIError, match="max_download_bytes"):
                await result.save(tmp_path / "out")
            with pytest.raises(APIError, match="max_download_bytes"):
                await result.read()
    assert written(tmp_path) == []


# --- 3. Deadlines and partial files ---------------------------------------------------------------


def drip(sent: list[int] | None = None, *, seconds: float = 6.0) -> Handler:
    """A valid start of a JPEG, then a byte every 20 ms (for ``seconds`` at most)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await resp.prepare(request)
        await resp.write(JPEG[:200])
        with contextlib.suppress(ConnectionError):
            for _ in range(int(seconds / 0.02)):
                await asyncio.sleep(0.02)
                await resp.write(b"\0")
                if sent is not None:
                    sent.append(1)
        return resp

    return handler


@pytest.mark.parametrize("how", ["save", "read"])
async def test_a_slow_drip_download_ends_at_the_call_timeout(tmp_path: Path, how: str) -> None:
    async with serve(web.get("/slow.jpg", drip())) as files, \
            serve(*files_api(lambda: [f"{files}/slow.jpg", f"{files}/slow.jpg"])) as api:
        phota, result = await result_from(api)
        async with phota:
            with pytest.raises(APITimeoutError, match=r"0\.3 s"):
                if how == "save":
                    await result.save(tmp_path / "out", timeout=0.3)
                else:
                    await result.read(timeout=0.3)
    assert written(tmp_path) == []


async def test_the_client_timeout_bounds_downloads(tmp_path: Path) -> None:
    async with serve(web.get("/slow.jpg", drip())) as files, \
            serve(*files_api(lambda: [f"{files}/slow.jpg"])) as api:
        phota, result = await result_from(api, timeout=0.3)
        async with phota:
            with pytest.raises(APITimeoutError):
                await result.save(tmp_path / "out")
            with pytest.raises(APITimeoutError):
                await result.read()
    assert written(tmp_path) == []


async def test_downloads_have_a_default_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no timeout anywhere, a drip that never pauses long enough for the read timeout would
    # hold the download forever: the documented default bounds it (made short here).
    monkeypatch.setattr(C, "DOWNLOAD_TIMEOUT", 0.3)
    async with serve(web.get("/slow.jpg", drip())) as files, \
            serve(*files_api(lambda: [f"{files}/slow.jpg"])) as api:
        phota, result = await result_from(api)
        async with phota:
            with pytest.raises(APITimeoutError):
                await result.save(tmp_path / "out")
    assert written(tmp_path) == []


async def test_a_cancelled_save_leaves_no_partial_file(tmp_path: Path) -> None:
    sent: list[int] = []
    target = tmp_path / "out"
    async with serve(web.get("/slow.jpg", drip(sent))) as files, \
            serve(*files_api(lambda: [f"{files}/slow.jpg"] * 3)) as api:
        phota, result = await result_from(api)
        async with phota:
            task = asyncio.create_task(result.save(target))
            await wait_until(lambda: len(partials(target)) == 3 and len(sent) > 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert written(tmp_path) == []


async def test_a_download_cut_short_leaves_no_partial_file(tmp_path: Path) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/jpeg", "Content-Length": "9000"})
        await resp.prepare(request)
        await resp.write(JPEG[:500])
        assert request.transport is not None
        request.transport.close()  # the connection drops mid-body
        return resp

    async with serve(web.get("/cut.jpg", cut)) as files, \
            serve(*files_api(lambda: [f"{files}/cut.jpg"])) as api:
        phota, result = await result_from(api)
        async with phota:
            with pytest.raises(APIConnectionError):
                await result.save(tmp_path / "out")
    assert written(tmp_path) == []


# --- 11. Where downloads may go -------------------------------------------------------------------


def image(hits: list[str]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=JPEG, content_type="image/jpeg")

    return handler


async def test_plain_http_to_a_host_that_is_not_loopback_is_refused(tmp_path: Path) -> None:
    # 0.0.0.0 is not loopback, yet on Linux it reaches this machine: a classic SSRF bypass.
    hits: list[str] = []
    async with serve(web.get("/{name}", image(hits))) as files:
        port = files.rsplit(":", 1)[1]
        async with serve(*files_api(lambda: [f"http://0.0.0.0:{port}/a.jpg"])) as api:
            phota, result = await result_from(api)
            async with phota:
                with pytest.raises(APIError, match="http") as caught:
                    await result.save(tmp_path / "out")
                with pytest.raises(APIError, match="http"):
                    await result.read()
    assert "0.0.0.0" in str(caught.value)
    assert hits == [] and written(tmp_path) == []


async def test_a_redirect_to_another_host_or_scheme_is_refused(tmp_path: Path) -> None:
    async with connection_counter() as (port, connections):
        targets = {
            "host": f"http://localhost:{port}/x.jpg",  # another host name, same machine
            "scheme": f"https://127.0.0.1:{port}/x.jpg",
            "file": "file:///etc/passwd",
        }

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPFound(targets[request.match_info["to"]])

        async with serve(web.get("/to/{to}", bounce)) as files:
            for to in targets:
                async with serve(*files_api(lambda to=to: [f"{files}/to/{to}"])) as api:
                    phota, result = await result_from(api)
                    async with phota:
                        with pytest.raises(APIError, match="redirect"):
                            await result.save(tmp_path / "out")
    assert connections == []  # nothing was fetched elsewhere
    assert written(tmp_path) == []


async def test_a_redirect_within_the_same_origin_is_followed(tmp_path: Path) -> None:
    hits: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/real/0.jpg?sig=1")

    async with serve(web.get("/old/0.jpg", moved), web.get("/real/{name}", image(hits))) as files, \
            serve(*files_api(lambda: [f"{files}/old/0.jpg"])) as api:
        phota, result = await result_from(api)
        async with phota:
            (path,) = await result.save(tmp_path)
    assert path.read_bytes() == JPEG and hits == ["/real/0.jpg"]


async def test_too_many_redirects_are_refused(tmp_path: Path) -> None:
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    async with serve(web.get("/loop.jpg", loop)) as files, \
            serve(*files_api(lambda: [f"{files}/loop.jpg"])) as api:
        phota, result = await result_from(api)
        async with phota:
            with pytest.raises(APIError, match="redirect"):
                await result.read()


async def test_download_hosts_is_an_allow_list(tmp_path: Path) -> None:
    hits: list[str] = []
    async with serve(web.get("/{name}", image(hits))) as files, \
            serve(*files_api(lambda: [f"{files}/a.jpg"])) as api:
        phota, result = await result_from(api, download_hosts=["cdn.phota-results.test"])
        async with phota:
            with pytest.raises(APIError, match="download_hosts"):
                await result.read()
        assert hits == []
        phota, result = await result_from(api, download_hosts=["127.0.0.1"])
        async with phota:
            assert await result.read() == [JPEG]
    assert hits == ["/a.jpg"]


@pytest.mark.parametrize("hosts", ["cdn.example.com", [""], [42], ["https://cdn.example.com"]])
def test_download_hosts_must_be_a_list_of_host_names(hosts: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        AsyncPhota(api_key=KEY, download_hosts=hosts)
    assert caught.value.field == "download_hosts"


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_download_bytes_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        AsyncPhota(api_key=KEY, max_download_bytes=value)
    assert caught.value.field == "max_download_bytes"


@pytest.mark.parametrize(("url", "api", "ok"), [
    ("https://cdn.example.com/a.jpg?sig=1", "https://api.photalabs.com/v1/phota/", True),
    ("http://169.254.169.254/latest/meta-data/", "https://api.photalabs.com/v1/phota/", False),
    ("http://cdn.example.com/a.jpg", "https://api.photalabs.com/v1/phota/", False),
    # Plain http to loopback is for a local API (the emulator), not for a real one.
    ("http://127.0.0.1:6379/", "https://api.photalabs.com/v1/phota/", False),
    ("http://127.0.0.1:8000/files/a.jpg", "http://127.0.0.1:8000/v1/phota/", True),
    ("http://localhost:9000/a.jpg", "http://127.0.0.1:8000/v1/phota/", True),
    ("http://[::1]:9000/a.jpg", "http://localhost:8000/v1/phota/", True),
    # An emulator reached over the LAN serves its files on its own (plain http) origin.
    ("http://192.168.1.5:8000/files/a.jpg", "http://192.168.1.5:8000/v1/phota/", True),
    ("http://192.168.1.5:9000/files/a.jpg", "http://192.168.1.5:8000/v1/phota/", False),
    ("ftp://cdn.example.com/a.jpg", "https://api.photalabs.com/v1/phota/", False),
    ("file:///etc/passwd", "http://127.0.0.1:8000/v1/phota/", False),
    ("https:///a.jpg", "https://api.photalabs.com/v1/phota/", False),
    ("https://user:pw@cdn.example.com/a.jpg", "https://api.photalabs.com/v1/phota/", False),
])
def test_the_download_url_rule(url: str, api: str, ok: bool) -> None:
    """The rule as a private unit: some of these hosts must never be reached from a test."""
    from phota_async._jobs.downloads import check_download_url

    if ok:
        check_download_url(url, api_url=api, hosts=None)
    else:
        with pytest.raises(APIError) as caught:
            check_download_url(url, api_url=api, hosts=None)
        assert "sig=" not in str(caught.value) and "pw" not in str(caught.value)


async def test_results_from_the_emulator_still_download_over_loopback_http(
    tmp_path: Path,
) -> None:
    from phota_async.emulator import PhotaEmulator

    async with PhotaEmulator(time_scale=TIME_SCALE) as emu, \
            make_client(emu, download_hosts=["cdn.example.com"], timeout=5.0) as phota:
        result = await (await phota.generate("a portrait", num_output_images=2))
        paths = await result.save(tmp_path, timeout=5.0)
    assert len(paths) == 2 and all(p.stat().st_size > 0 for p in paths)
    assert partials(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)
