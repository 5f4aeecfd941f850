"""A real ``redis-server`` on a free loopback port for each test that asks for one.

Without the binary these tests skip with a one-line reason; CI sets ``PHOTA_REQUIRE_REDIS=1``,
which turns that skip into a failure (a CI that silently skipped them would prove nothing).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest

REQUIRE_ENV = "PHOTA_REQUIRE_REDIS"


def _missing(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process, no persistence, that a test can stop and start again."""

    def __init__(self, binary: str, *, password: str | None = None) -> None:
        self.binary = binary
        self.port = free_port()
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def url_with(self, password: str) -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self) -> None:
        # Setup, not a measurement: a loaded machine may take a while to start a process.
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._process.stderr!r}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    answer = conn.recv(64)
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server at once (as a crash would): clients see their connections drop."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server is not installed (apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("the redis package is not installed (pip install -e '.[redis]')")
    return str(binary)


@pytest.fixture
def redis_server(redis_binary: str) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_with_password(redis_binary: str) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, password="s3cret-pw-123")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def raw_redis(redis_server: RedisServer) -> AsyncIterator[object]:
    """A plain ``redis.asyncio`` client of the server, to look at what the SDK wrote."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()

