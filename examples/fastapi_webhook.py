"""Phota's webhook route in FastAPI (Starlette alike): verify each signed callback over the raw
body, then let the SDK poll that job now, which resolves the request waiting on it.

    pip install 'phota-async[examples]'
    python examples/fastapi_webhook.py     # serve with uvicorn, ask for one image, exit

    POST /images           {"prompt": "..."}: submits with a callback URL, waits, answers URLs
    POST /phota/callback   Phota's job callbacks (401 when the signature does not verify)

Without PHOTA_API_KEY it runs against the embedded emulator. Behind a proxy, pass the public
https address Phota should call back as ``create_app(public_url=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from phota_async import AsyncPhota, WebhookVerificationError
from phota_async.demo import demo_client


class ImageRequest(BaseModel):
    prompt: str


def create_app(
    client: Callable[[], AbstractAsyncContextManager[AsyncPhota]] = demo_client,
    public_url: str | None = None,
) -> FastAPI:
    """The app; ``client`` opens the Phota client for the app's lifetime."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with client() as phota:
            app.state.phota, app.state.callbacks = phota, 0
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/phota/callback")
    async def phota_callback(request: Request) -> Response:
        try:
            await request.app.state.phota.webhooks.handle(await request.body(), request.headers)
        except WebhookVerificationError:
            return Response(status_code=401)
        request.app.state.callbacks += 1
        return Response(status_code=204)

    @app.post("/images")
    async def make_images(body: ImageRequest, request: Request) -> dict[str, Any]:
        callback = f"{public_url}/phota/callback" if public_url else str(
            request.url_for("phota_callback"))
        job = await request.app.state.phota.generate(body.prompt, callback_url=callback)
        result = await job  # resolved by the callback, or by polling if it never comes
        return {"job_id": job.id, "download_urls": result.download_urls}

    return app


async def main() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    # The socket listens already: the request waits in its backlog until the app has started.
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with (aiohttp.ClientSession(base) as http,
                http.post("/images", json={"prompt": "a lighthouse at dusk"}) as response):
        print(response.status, await response.json())
    print(f"callbacks verified: {app.state.callbacks}")
    server.should_exit = True
    await serving


if __name__ == "__main__":
    asyncio.run(main())
