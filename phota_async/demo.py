"""Demo helpers (public): synthetic photos and a client of the real API or of an embedded emulator.

``phota demo`` trains a profile from generated photos and generates with it, end to end; with
``PHOTA_API_KEY`` unset it starts the embedded emulator (in scaled time) and runs there. The
examples use :func:`demo_client` and :func:`demo_photos` so they run anywhere without a key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ._client import AsyncPhota
from ._jobs.cadence import PollConfig

__all__ = ["demo_client", "demo_photos"]


def demo_photos(count: int, *, seed: int = 7, size: tuple[int, int] = (1024, 1280)) -> list[bytes]:
    """``count`` distinct JPEG photos of a made-up subject (shapes on noise), made with Pillow."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    photos = []
    for index in range(count):
        image = Image.effect_noise(size, 40 + index).convert("RGB")
        draw = ImageDraw.Draw(image)
        cx, cy = size[0] // 2 + rng.randint(-120, 120), size[1] // 2 + rng.randint(-120, 120)
        draw.ellipse((cx - 260, cy - 340, cx + 260, cy + 340), fill=(224, 172, 105))
        for dx in (-100, 100):
            draw.ellipse((cx + dx - 40, cy - 100, cx + dx + 40, cy - 40), fill=(40, 30, 20))
        draw.arc((cx - 120, cy + 60, cx + 120, cy + 200), 10, 170, fill=(120, 20, 20), width=12)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=88)
        photos.append(out.getvalue())
    return photos


@contextlib.asynccontextmanager
async def demo_client(time_scale: float = 600.0) -> AsyncIterator[AsyncPhota]:
    """A client of the real API when ``PHOTA_API_KEY`` is set, else of a fresh embedded
    emulator in scaled time (for the demo and the examples)."""
    if os.environ.get("PHOTA_API_KEY"):
        async with AsyncPhota() as phota:
            yield phota
        return
    from .emulator import PhotaEmulator

    async with PhotaEmulator(time_scale=time_scale) as emu:
        print(f"emulator running at {emu.url} (time x{time_scale:g})")
        poll = PollConfig(time_scale=time_scale)
        async with AsyncPhota(api_key=emu.api_key, base_url=emu.url, poll=poll) as phota:
            yield phota
        print(f"billed by the emulator: ${emu.total_billed:.2f} in {len(emu.ledger)} charges")


async def run(out_dir: Path, *, time_scale: float) -> None:
    """Train, generate, save; against the emulator unless ``PHOTA_API_KEY`` is set."""
    async with demo_client(time_scale) as phota:
        await _flow(phota, out_dir)


async def _flow(phota: AsyncPhota, out_dir: Path) -> None:
    started = time.monotonic()
    photos = demo_photos(10)
    training = await phota.profiles.create(photos, tier="standard", tag="demo-user")
    print(f"training profile {training.profile_id} ...")
    async for status in training.updates():
        print(f"  {status.status}")
    profile = await training
    job = await phota.generate(
        f"Studio headshot of [[{profile.profile_id}]], soft light", num_output_images=2
    )
    print(f"generating (job {job.id}) ...")
    result = await job
    paths = await result.save(out_dir)
    print(f"recognised: {dict(result.known_subjects.counts)}")
    for path in paths:
        print(f"saved {path}")
    print(f"done in {time.monotonic() - started:.1f}s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``phota demo``."""
    parser = argparse.ArgumentParser(prog="phota demo", description=__doc__)
    parser.add_argument("--out", default="phota-demo-out", help="where to save the images")
    parser.add_argument("--time-scale", type=float, default=600.0,
                        help="emulated seconds per real second (emulator only)")
    args = parser.parse_args(argv)
    asyncio.run(run(Path(args.out), time_scale=args.time_scale))
    return 0
