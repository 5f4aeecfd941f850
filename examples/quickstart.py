"""The README's 30-second example, runnable: train a profile, generate with it, save.

    python examples/quickstart.py

With PHOTA_API_KEY set it talks to the real API (photos must then be URLs, or give the client an
uploader); without it, it starts the embedded emulator in scaled time.
"""

from __future__ import annotations

import asyncio

from phota_async.demo import demo_client, demo_photos


async def main() -> None:
    async with demo_client() as phota:
        training = await phota.profiles.create(demo_photos(10), tag="user-42")
        profile = await training  # waits until READY
        job = await phota.generate(f"Studio headshot of [[{profile.profile_id}]]")
        result = await job
        print(await result.save("out/"))


if __name__ == "__main__":
    asyncio.run(main())
