"""In-memory blobs: the bucket clients upload photos to, and the files behind download URLs."""

from __future__ import annotations

import attrs


@attrs.frozen
class Blob:
    data: bytes
    content_type: str
    expires_at: float | None = None  # emulated seconds; None: never


class BlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, Blob] = {}

    def put(self, name: str, blob: Blob) -> None:
        self._blobs[name] = blob

    def get(self, name: str) -> Blob | None:
        return self._blobs.get(name)

    def __len__(self) -> int:
        return len(self._blobs)
