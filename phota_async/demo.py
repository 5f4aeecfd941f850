"""The demo (``phota demo``) and its helpers (public): synthetic people, a client of the real API
or of an embedded emulator, the headshot style presets and an HTML contact sheet.

``phota demo`` always runs on a fresh embedded emulator, whatever the environment says: it draws
a few made-up people (ten photos each) and runs the headshot pipeline on the batch runner (a
profile trained per person, every default style rendered for each, the outputs saved), then
writes a contact sheet (a grid per person: the training photos, then each style's outputs with
the prompt sent and its cost).

The examples use :func:`demo_client` (the real API when ``PHOTA_API_KEY`` is set, else an
embedded emulator) and :func:`demo_photos`, so they run anywhere without a key.
"""

from __future__ import annotations

import argparse
import asyncio
import colorsys
import contextlib
import html
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

from attrs import frozen

from . import _constants as C
from ._client import AsyncPhota
from ._exceptions import PhotaError
from ._jobs.cadence import PollConfig
from .batch import Batch, HeadshotPlan, ItemResult, Person, Style, estimate_cost

__all__ = [
    "STYLE_PRESETS",
    "SheetPerson",
    "SheetStyle",
    "demo_client",
    "demo_people",
    "demo_photos",
    "write_contact_sheet",
]

# Headshot styles by name (``[[person]]`` is where the person's profile goes).
STYLE_PRESETS: Mapping[str, Style] = MappingProxyType({style.name: style for style in (
    Style("studio", "Studio headshot of [[person]], grey backdrop, soft key light"),
    Style("outdoor", "Outdoor portrait of [[person]], golden hour, shallow depth of field"),
    Style("office", "Corporate headshot of [[person]] in a bright modern office"),
    Style("linkedin", "Professional LinkedIn photo of [[person]], navy blazer, clean white "
          "background"),
    Style("noir", "Black and white film noir portrait of [[person]], dramatic side light"),
    Style("casual", "Casual portrait of [[person]] in a cafe, warm window light"),
)})
# The made-up people of the demo: a name and the seed that draws them.
_DEMO_PEOPLE: Mapping[str, int] = {"amara": 11, "bruno": 23, "chen": 37}


# --- Synthetic people -------------------------------------------------------------------------


def _palette(seed: int) -> dict[str, tuple[int, int, int]]:
    """A person's colours (skin, hair, shirt, backdrop), fixed by their seed."""
    rng = random.Random(seed)

    def hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    return {
        "skin": hsv(0.05 + rng.uniform(0, 0.05), rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.95)),
        "hair": hsv(rng.uniform(0, 0.12), rng.uniform(0.3, 0.9), rng.uniform(0.1, 0.6)),
        "shirt": hsv(rng.random(), rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)),
        "backdrop": hsv(rng.random(), rng.uniform(0.15, 0.4), rng.uniform(0.6, 0.9)),
    }


def demo_photos(count: int, *, seed: int = 7, size: tuple[int, int] = (1024, 1280)) -> list[bytes]:
    """``count`` distinct JPEG photos of one made-up person (their colours fixed by ``seed``),
    posed a little differently each time, made with Pillow."""
    from PIL import Image, ImageDraw, ImageOps

    colours = _palette(seed)
    rng = random.Random(seed * 7919 + count)
    width, height = size
    dark = (*(max(0, c - 90) for c in colours["backdrop"]),)
    # Light from the left in one photo, from the right in the next.
    shades = [
        ImageOps.colorize(Image.linear_gradient("L").rotate(angle).resize(size),
                          black=dark, white=colours["backdrop"])
        for angle in (-90, 90)
    ]
    photos = []
    for index in range(count):
        # A grainy backdrop (noise drawn small, then enlarged): distinct in every photo.
        noise = Image.effect_noise((width // 8, height // 8), 30 + 4 * index).resize(size)
        grain = ImageOps.colorize(noise, black=dark, white=colours["backdrop"])
        image = Image.blend(grain, shades[index % 2], 0.5)
        draw = ImageDraw.Draw(image)
        # Poses on a lattice (left to right, high to low, near to far), jittered: no two
        # photos of a set look alike to the pre-flight's near-duplicate check.
        scale = (0.75, 0.9, 1.05, 0.82)[index // 3 % 4] + rng.uniform(-0.03, 0.03)
        cx = int(width * ((0.3, 0.5, 0.7)[index % 3] + rng.uniform(-0.03, 0.03)))
        cy = int(height * ((0.34, 0.44, 0.39)[(index + index // 3) % 3] + rng.uniform(-0.02, 0.02)))
        head_w, head_h = int(230 * scale), int(300 * scale)
        shoulders = int(1.6 * head_w)
        draw.ellipse((cx - shoulders, cy + head_h - 10, cx + shoulders, cy + 4 * head_h),
                     fill=colours["shirt"])
        draw.rectangle((cx - head_w // 3, cy + head_h // 2, cx + head_w // 3, cy + head_h + 40),
                       fill=colours["skin"])
        draw.ellipse((cx - head_w - 12, cy - head_h - 30, cx + head_w + 12, cy + head_h // 3),
                     fill=colours["hair"])
        draw.ellipse((cx - head_w, cy - head_h, cx + head_w, cy + head_h), fill=colours["skin"])
        eye_y = cy - head_h // 6
        for dx in (-head_w // 2, head_w // 2):
            draw.ellipse((cx + dx - 28, eye_y - 18, cx + dx + 28, eye_y + 18), fill=(30, 25, 20))
        draw.arc((cx - head_w // 2, cy + head_h // 5, cx + head_w // 2, cy + head_h // 2 + 40),
                 15, 165, fill=(120, 30, 30), width=14)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        photos.append(out.getvalue())
    return photos


def demo_people(
    root: str | os.PathLike[str], people: Mapping[str, int] | None = None, *, photos: int = 10
) -> dict[str, list[Path]]:
    """Write one folder of photos per made-up person under ``root`` (``root/NAME/photo-01.jpg``),
    the layout ``phota headshots`` reads; ``people`` maps names to seeds."""
    written: dict[str, list[Path]] = {}
    for name, seed in (people or _DEMO_PEOPLE).items():
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for number, data in enumerate(demo_photos(photos, seed=seed), 1):
            path = folder / f"photo-{number:02d}.jpg"
            path.write_bytes(data)
            paths.append(path)
        written[name] = paths
    return written


# --- A client for the examples ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def demo_client(time_scale: float = C.DEMO_TIME_SCALE) -> AsyncIterator[AsyncPhota]:
    """A client of the real API when ``PHOTA_API_KEY`` is set, else of a fresh embedded
    emulator in scaled time (for the examples)."""
    if os.environ.get(C.API_KEY_ENV):
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


# --- The contact sheet ------------------------------------------------------------------------


@frozen
class SheetStyle:
    """One style's row of a contact sheet: its name, the prompt sent, what it cost, the images."""

    name: str
    prompt: str
    cost: float | None
    images: tuple[Path, ...]
    error: str | None = None


@frozen
class SheetPerson:
    """One person's grid: their training photos, then a row per style."""

    name: str
    profile_id: str | None
    training_photos: tuple[Path, ...]
    training_cost: float | None
    styles: tuple[SheetStyle, ...]


_SHEET_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; background: #f4f4f6; color: #1c1c22; }
h1 { font-size: 22px; margin: 0 0 4px; } p.note { margin: 0 0 20px; color: #555; }
section { background: #fff; border-radius: 10px; padding: 14px 18px; margin-bottom: 20px; }
h2 { font-size: 18px; margin: 0 0 8px; } h2 small { color: #777; font-weight: normal; }
.training { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin-bottom: 12px; }
.training img { height: 72px; border-radius: 4px; }
.styles { display: flex; gap: 14px; flex-wrap: wrap; }
.style { width: 300px; } .style b { display: block; }
.prompt { color: #555; font-size: 12px; overflow-wrap: anywhere; min-height: 34px; }
.cost { color: #0a6; font-weight: 600; } .error { color: #b00; }
.images { display: flex; gap: 6px; margin-top: 4px; }
.images img { width: 147px; border-radius: 6px; }
"""


def _money(amount: float | None) -> str:
    return "" if amount is None else f"${amount:.2f}"


def _image_tags(images: Sequence[Path], base: Path) -> str:
    return "".join(
        f'<img src="{html.escape(os.path.relpath(path, base))}" alt="{html.escape(path.name)}">'
        for path in images
    )


def _person_html(person: SheetPerson, base: Path) -> str:
    """A person's grid: their training photos on one line, then one card per style."""
    ident = f" <small>{html.escape(person.profile_id)}</small>" if person.profile_id else ""
    training = (
        f'<div class="training"><b>{len(person.training_photos)} training photos</b> '
        f'<span class="cost">{_money(person.training_cost)}</span>'
        f"{_image_tags(person.training_photos, base)}</div>"
    )
    cards = []
    for style in person.styles:
        note = (f'<span class="error">{html.escape(style.error)}</span>' if style.error
                else f'<span class="cost">{_money(style.cost)}</span>')
        cards.append(
            f'<div class="style"><b>{html.escape(style.name)} {note}</b>'
            f'<div class="prompt">{html.escape(style.prompt)}</div>'
            f'<div class="images">{_image_tags(style.images, base)}</div></div>'
        )
    return (f"<section><h2>{html.escape(person.name)}{ident}</h2>{training}"
            f'<div class="styles">{"".join(cards)}</div></section>')


def write_contact_sheet(
    path: str | os.PathLike[str], people: Sequence[SheetPerson], *, title: str = "Headshots"
) -> Path:
    """Write an HTML contact sheet (images linked by relative paths) and return its path."""
    target = Path(path)
    base = target.parent.resolve()
    total = sum((p.training_cost or 0) + sum(s.cost or 0 for s in p.styles) for p in people)
    body = "".join(_person_html(person, base) for person in people)
    target.write_text(
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_SHEET_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"note\">{len(people)} people, "
        f"{_money(total)} in all</p>{body}</body></html>\n",
        encoding="utf-8",
    )
    return target


# --- The demo itself --------------------------------------------------------------------------


async def run(out_dir: Path, *, time_scale: float = C.DEMO_TIME_SCALE) -> Path:
    """The whole demo on a fresh embedded emulator; returns the contact sheet's path."""
    path, _ = await _run(out_dir, time_scale)
    return path


async def _run(out_dir: Path, time_scale: float) -> tuple[Path, int]:
    """The demo: the headshot pipeline on the batch runner, then the contact sheet. Returns the
    sheet's path and how many items did not end ok."""
    from .emulator import PhotaEmulator

    started = time.monotonic()
    photos = demo_people(out_dir / "people")
    plan = HeadshotPlan([Person(name, paths) for name, paths in photos.items()],
                        [STYLE_PRESETS[name] for name in C.HEADSHOT_DEFAULT_PRESETS],
                        num_output_images=C.HEADSHOT_IMAGES_PER_STYLE)
    results: list[ItemResult] = []
    # The emulator is new every time, so an earlier demo's journal would name work it never
    # did: this journal lives only as long as the run.
    with tempfile.TemporaryDirectory(prefix="phota-demo-") as scratch:
        async with PhotaEmulator(time_scale=time_scale) as emu:
            ignored = "; PHOTA_API_KEY is ignored" if os.environ.get(C.API_KEY_ENV) else ""
            print(f"phota demo: on the embedded emulator at {emu.url} (time x{time_scale:g}, "
                  f"nothing is billed{ignored})", flush=True)
            print(f"estimate: {estimate_cost(plan)}", flush=True)
            poll = PollConfig(time_scale=time_scale)
            async with (
                AsyncPhota(api_key=emu.api_key, base_url=emu.url, poll=poll) as phota,
                Batch(phota, batch_id="phota-demo", out=out_dir,
                      journal=Path(scratch) / C.BATCH_JOURNAL_NAME) as batch,
            ):
                async for result in batch.run(plan):
                    print(_told(result), flush=True)
                    results.append(result)
            billed = emu.total_billed
    path = write_contact_sheet(out_dir / "contact-sheet.html", _sheet(plan, results),
                               title="phota demo")
    print(f"billed by the emulator: ${billed:.2f}; done in {time.monotonic() - started:.1f}s")
    print(f"contact sheet: {path.resolve()}")
    return path, sum(not result.ok for result in results)


def _told(result: ItemResult) -> str:
    """One line per item as it ends."""
    if not result.ok:
        return f"{result.key}: {result.status}: {result.reason}"
    if result.kind == "training":
        return f"{result.person}: profile {result.profile_id} trained"
    return f"{result.person}: {result.style}: {len(result.paths)} images"


def _sheet(plan: HeadshotPlan, results: Sequence[ItemResult]) -> list[SheetPerson]:
    """The contact sheet's people, from the runner's results (paths, costs, reasons)."""
    by_key = {result.key: result for result in results}
    people = []
    for person in plan.people:
        training = by_key.get(person.name)
        profile_id = training.profile_id if training is not None else None
        styles = []
        for style in plan.styles:
            item = by_key.get(f"{person.name}/{style.name}")
            prompt = style.prompt_for(profile_id) if profile_id else style.prompt
            if item is None or not item.ok:
                error = item.reason if item is not None else "not run"
                styles.append(SheetStyle(style.name, prompt, None, (), error=error))
            else:
                styles.append(SheetStyle(style.name, prompt, item.cost, item.paths))
        photos = tuple(Path(str(photo)) for photo in person.photos)
        people.append(SheetPerson(person.name, profile_id, photos,
                                  training.cost if training is not None else None,
                                  tuple(styles)))
    return people


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``phota demo``: 0 when the demo ran, 1 when it failed, 2 for a bad option,
    130 on Ctrl-C. Errors are one line on stderr."""
    parser = argparse.ArgumentParser(
        prog="phota demo",
        description="Train three made-up people and render their headshots on a fresh embedded "
        "emulator (never the real API, whatever PHOTA_API_KEY says), then write an HTML contact "
        "sheet of the photos and the outputs.",
    )
    parser.add_argument("--out", type=Path, default=Path(C.DEMO_OUT_DIR),
                        help=f"where to write photos, outputs and the sheet ({C.DEMO_OUT_DIR})")
    parser.add_argument("--time-scale", type=float, default=C.DEMO_TIME_SCALE,
                        help="emulated seconds per real second (%(default)g)")
    parser.error = _refuse  # type: ignore[method-assign]  # one line instead of usage + error
    try:
        args = parser.parse_args(argv)
        if not args.time_scale > 0:
            _refuse(f"--time-scale must be greater than 0 (got {args.time_scale:g})")
    except _UsageError as exc:
        print(f"phota demo: {exc} (see phota demo --help)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        _, failed = asyncio.run(_run(args.out, args.time_scale))
    except KeyboardInterrupt:
        print("phota demo: interrupted", file=sys.stderr)
        return 130
    except (OSError, PhotaError) as exc:
        print(f"phota demo: {exc}", file=sys.stderr)
        return 1
    if failed:
        print(f"phota demo: {failed} item(s) did not end ok (see above)", file=sys.stderr)
        return 1
    return 0


class _UsageError(Exception):
    pass


def _refuse(message: str) -> NoReturn:
    raise _UsageError(message)
