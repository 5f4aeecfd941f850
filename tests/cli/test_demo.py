"""phota demo: always on the embedded emulator, end to end, ending in a contact sheet whose
every image exists and decodes; the emulator's outputs differ per style and per person."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.cli.conftest import Run, run_phota

REAL_LOOKING_KEY = "sk-live-not-to-be-used-0042"
ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = ROOT / "docs" / "contact-sheet.png"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    out = tmp_path_factory.mktemp("demo")
    run = run_phota("demo", "--out", str(out), "--time-scale", "3000",
                    env={"PHOTA_API_KEY": REAL_LOOKING_KEY, "PHOTA_BASE_URL": None})
    return run, out


def _sheet_images(sheet: Path) -> list[Path]:
    sources = re.findall(r'<img src="([^"]+)"', sheet.read_text())
    return [sheet.parent / source for source in sources]


def test_the_demo_runs_on_the_emulator_even_with_a_key(demo: tuple[Run, Path]) -> None:
    run, out = demo
    assert run.code == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("phota demo: on the embedded emulator at http://127.0.0.1:")
    assert "PHOTA_API_KEY is ignored" in first
    assert REAL_LOOKING_KEY not in run.stdout + run.stderr
    assert "billed by the emulator: $10.86" in run.stdout
    assert run.stdout.splitlines()[-1] == f"contact sheet: {(out / 'contact-sheet.html').resolve()}"


def test_every_image_of_the_contact_sheet_exists_and_decodes(demo: tuple[Run, Path]) -> None:
    _, out = demo
    sheet = out / "contact-sheet.html"
    images = _sheet_images(sheet)
    assert len(images) == 3 * (10 + 3 * 2)  # per person: training photos, then 3 styles x 2
    for path in images:
        with Image.open(path) as image:
            image.load()
    text = sheet.read_text()
    assert text.count("<section>") == 3 and "$2.90" in text and "$0.24" in text
    assert "$10.86 in all" in text
    assert "Studio headshot of [[prof_" in text  # the prompt as it was sent


def test_outputs_are_512_px_and_differ_per_style_and_person(demo: tuple[Run, Path]) -> None:
    _, out = demo

    def output(person: str, style: str) -> Image.Image:
        return Image.open(out / person / f"{style}-0.jpg").convert("RGB")

    backdrops, faces = {}, {}
    for person in ("amara", "bruno", "chen"):
        for style in ("studio", "outdoor", "office"):
            image = output(person, style)
            assert image.size == (512, 512)
            backdrops[person, style] = image.getpixel((500, 200))  # beside the portrait
            faces[person, style] = tuple(ImageStat.Stat(image.crop((200, 150, 312, 260))).mean)
    for person in ("amara", "bruno", "chen"):  # one person: a backdrop per style
        assert len({backdrops[person, style] for style in ("studio", "outdoor", "office")}) == 3
    for style in ("studio", "outdoor", "office"):  # one style: the same backdrop, other faces
        assert len({backdrops[p, style] for p in ("amara", "bruno", "chen")}) == 1
        assert len({faces[p, style] for p in ("amara", "bruno", "chen")}) == 3


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs headless chromium")
def test_the_contact_sheet_renders_in_a_headless_browser(
    demo: tuple[Run, Path], tmp_path: Path
) -> None:
    """With PHOTA_UPDATE_DOCS=1 the screenshot also replaces the README's."""
    _, out = demo
    shot = tmp_path / "sheet.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
         "--window-size=1060,1000", f"--screenshot={shot}",
         (out / "contact-sheet.html").resolve().as_uri()],
        capture_output=True, timeout=120, check=True,
    )
    with Image.open(shot) as image:
        assert image.size == (1060, 1000)
        # Rendered, not blank: the photos bring many colours to the page.
        assert len(image.convert("RGB").getcolors(1 << 20) or []) > 1000
        if os.environ.get("PHOTA_UPDATE_DOCS") == "1":
            image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(
                DOCS_SCREENSHOT, optimize=True)


def test_the_readme_screenshot_decodes() -> None:
    with Image.open(DOCS_SCREENSHOT) as image:
        image.load()
        assert image.size == (1060, 1000)
    assert f"({DOCS_SCREENSHOT.relative_to(ROOT)})" in (ROOT / "README.md").read_text()
