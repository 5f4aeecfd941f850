"""The batch's files: outputs written under a temporary name then renamed (no partial image ever
carries a final name), a killed run's leftovers of the items run swept away, the output folder
checked first.

These run in worker threads (plain blocking file calls).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._exceptions import InvalidInputError
from .._photos.inputs import EXTENSIONS, image_format

__all__ = ["PART_SUFFIX", "check_writable", "commit", "extension", "sweep_partials",
           "write_temporaries"]

PART_SUFFIX = ".phota-part"
_PROBE = ".phota-write-test"


def check_writable(out: Path) -> None:
    """Create ``out`` if needed and prove a file can be written there (InvalidInputError if not)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        # A name of its own: the workers of a distributed batch may check one folder at once.
        with tempfile.TemporaryFile(dir=out, prefix=_PROBE):
            pass
    except OSError as exc:
        raise InvalidInputError("out", f"{out} is not a writable folder ({exc.strerror or exc})",
                                allowed="a folder this process can create files in") from None


def sweep_partials(outputs: Iterable[tuple[Path, str]]) -> int:
    """Remove the temporary files a killed run left for ``outputs`` (each item's folder and
    file stem); how many there were. Only these items': the workers of a distributed batch
    share a folder, and another worker may be writing its own items' files right now."""
    stems: dict[Path, set[str]] = {}
    for folder, stem in outputs:
        stems.setdefault(folder, set()).add(stem)
    count = 0
    for folder, names in stems.items():
        if not folder.is_dir():
            continue
        for leftover in folder.glob(f".*{PART_SUFFIX}"):
            # ".<stem>-<index><ext>.phota-part", as write_temporaries names it
            if leftover.name[1:-len(PART_SUFFIX)].rpartition("-")[0] in names:
                leftover.unlink(missing_ok=True)
                count += 1
    return count


def extension(data: bytes) -> str | None:
    """``.jpg``, ``.png``, ``.webp``... from the content, or None when it is not an image."""
    fmt = image_format(data[:64])
    return EXTENSIONS.get(fmt) if fmt else None


def write_temporaries(finals: Sequence[Path], blobs: Sequence[bytes]) -> list[Path]:
    """Write each blob beside its final path under a temporary name, synced to disk."""
    temporaries = []
    for final, data in zip(finals, blobs, strict=True):
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}{PART_SUFFIX}")
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporaries.append(temporary)
    return temporaries


def commit(temporaries: Sequence[Path], finals: Sequence[Path]) -> None:
    """Rename each temporary file to its final name (atomic on one file system)."""
    for temporary, final in zip(temporaries, finals, strict=True):
        os.replace(temporary, final)
