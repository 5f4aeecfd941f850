"""Every request the emulator receives, kept for tests to assert on."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

import attrs

API_PREFIX = "/v1/phota"


@attrs.frozen
class RecordedRequest:
    """One received request. `time` is emulated seconds; header names are lower-case."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    time: float

    @property
    def api_path(self) -> str | None:
        """The path relative to /v1/phota, or None for the bucket and download routes."""
        if self.path.startswith(API_PREFIX + "/"):
            return self.path[len(API_PREFIX) :]
        return None

    def json(self) -> Any:
        return json.loads(self.body)


def select(
    requests: list[RecordedRequest], path_glob: str = "*", method: str | None = None
) -> list[RecordedRequest]:
    """The API requests whose relative path matches the glob (and method, if given)."""
    return [
        request
        for request in requests
        if request.api_path is not None
        and fnmatch.fnmatchcase(request.api_path, path_glob)
        and (method is None or request.method.upper() == method.upper())
    ]
