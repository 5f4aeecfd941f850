"""In-memory blobs: the bucket clients upload photos to, and the files behind download URLs."""

from __future__ import annotations

import attrs


@attrs.frozen
class Blob:
    data: bytes
    content_type: str
    expires_at: float | None = None  # emulated seconds; None: never

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now > self.expires_at


class BlobStore:
    def __init__(self) -> None:
        self._blobs: dict[str, Blob] = {}

    def put(self, name: str, blob: Blob) -> None:
        self._blobs[name] = blob

    def get(self, name: str) -> Blob | None:
        return self._blobs.get(name)

    def expire_all(self, now: float) -> int:
        """Make every blob that can expire expired now; how many there were."""
        names = [name for name, blob in self._blobs.items() if blob.expires_at is not None]
        for name in names:
            self._blobs[name] = attrs.evolve(self._blobs[name], expires_at=now - 1.0)
        return len(names)

    def __len__(self) -> int:
        return len(self._blobs)
