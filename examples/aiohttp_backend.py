"""A web backend on aiohttp.web: each user uploads photos to train their profile, then asks for
headshots; Phota's signed callbacks arrive on a webhook route and resolve the waiting requests.

    python examples/aiohttp_backend.py            # a self-test: serve, upload, ask, exit
    python examples/aiohttp_backend.py --serve    # keep serving on http://127.0.0.1:8080

    POST /users/{user}/photos      multipart upload of 10..50 photos: starts a training (202)
    GET  /users/{user}             the profile's training status
    POST /users/{user}/headshots   {"style": "studio"}: waits for the images, answers their URLs
    POST /phota/callback           Phota's job callbacks: verified, then the job is polled now

Without PHOTA_API_KEY it runs against the embedded emulator. Against the real API, give the
client an uploader for the photos and a public https address (--public-url) for the callbacks.
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import aiohttp
from aiohttp import web

from phota_async import AsyncPhota, InvalidInputError, TrainingJob, WebhookVerificationError
from phota_async.demo import STYLE_PRESETS, demo_client, demo_photos

PHOTA = web.AppKey("phota", AsyncPhota)
TRAININGS = web.AppKey("trainings", dict[str, TrainingJob])
PUBLIC_URL = web.AppKey("public_url", str)


async def upload_photos(request: web.Request) -> web.Response:
    """Read the uploaded photos and start the user's training; a bad set is answered 422."""
    user = request.match_info["user"]
    photos = [await part.read(decode=True) async for part in await request.multipart()
              if isinstance(part, aiohttp.BodyPartReader)]
    try:
        training = await request.app[PHOTA].profiles.create(photos, tag=f"user-{user}")
    except InvalidInputError as exc:  # the pre-flight refused the set: nothing was paid
        report = exc.report.to_dict() if exc.report else None
        return web.json_response({"error": str(exc), "report": report}, status=422)
    request.app[TRAININGS][user] = training
    return web.json_response({"profile_id": training.profile_id}, status=202)


def _training(request: web.Request) -> TrainingJob:
    training = request.app[TRAININGS].get(request.match_info["user"])
    if training is None:
        raise web.HTTPNotFound(text="upload photos first")
    return training


async def user_status(request: web.Request) -> web.Response:
    profile = await request.app[PHOTA].profiles.status(_training(request).profile_id)
    return web.json_response({"profile_id": profile.profile_id, "status": str(profile.status)})


async def headshots(request: web.Request) -> web.Response:
    """Generate in the asked style; the request waits until the job's callback resolves it."""
    style = (await request.json()).get("style", "studio")
    if style not in STYLE_PRESETS:
        raise web.HTTPBadRequest(text=f"style must be one of {', '.join(STYLE_PRESETS)}")
    profile = await _training(request)  # READY (at once when trained already)
    prompt = STYLE_PRESETS[style].prompt_for(profile.profile_id)
    job = await request.app[PHOTA].generate(
        prompt, num_output_images=2, callback_url=f"{request.app[PUBLIC_URL]}/phota/callback"
    )
    result = await job
    return web.json_response({"job_id": job.id, "images": result.download_urls})


async def phota_callback(request: web.Request) -> web.Response:
    """Verify the signature over the raw body, then poll the job it names now."""
    try:
        job = await request.app[PHOTA].webhooks.handle(await request.read(), request.headers)
    except WebhookVerificationError:
        return web.Response(status=401)
    print(f"callback: {job.id if job else 'a job this process does not hold'}", flush=True)
    return web.Response(status=204)


def make_app(phota: AsyncPhota, public_url: str) -> web.Application:
    app = web.Application(client_max_size=64 * 2**20)  # 10..50 photos in one upload
    app[PHOTA], app[TRAININGS], app[PUBLIC_URL] = phota, {}, public_url
    app.router.add_post("/users/{user}/photos", upload_photos)
    app.router.add_get("/users/{user}", user_status)
    app.router.add_post("/users/{user}/headshots", headshots)
    app.router.add_post("/phota/callback", phota_callback)
    return app


async def self_test(base: str) -> None:
    """What a front end would do: upload a user's photos, then ask for a headshot."""
    async with aiohttp.ClientSession(base) as http:
        form = aiohttp.FormData()
        for number, photo in enumerate(demo_photos(10, seed=5)):
            form.add_field("photo", photo, filename=f"{number}.jpg", content_type="image/jpeg")
        async with http.post("/users/ada/photos", data=form) as response:
            print("upload:", response.status, await response.json())
        async with http.post("/users/ada/headshots", json={"style": "studio"}) as response:
            body = await response.json()
            print("headshots:", response.status, f"{len(body['images'])} images, job",
                  body["job_id"])
        async with http.get("/users/ada") as response:
            print("status:", await response.json())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--public-url", help="how Phota reaches this server (callbacks)")
    args = parser.parse_args()
    sock = socket.create_server(("127.0.0.1", args.port if args.serve else 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with demo_client() as phota:
        runner = web.AppRunner(make_app(phota, args.public_url or base))
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            if args.serve:
                print(f"serving on {base} (Ctrl-C to stop)")
                await asyncio.Event().wait()
            else:
                await self_test(base)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
