"""Names a batch derives from its id and its items' keys, the same on every run.

A re-run resends the same ``client_request_id`` for an item (the server answers with the
original job) and looks its people up by the same profile tag (no second training); file names
come from the keys, so a re-run finds what an earlier run saved.
"""

from __future__ import annotations

import hashlib
import re

from .. import _constants as C
from .._exceptions import InvalidInputError

__all__ = ["check_batch_id", "check_name", "client_request_id", "path_part", "profile_tag"]

_BATCH_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UNSAFE_IN_PATHS = re.compile(r"[^\w. -]+")  # \w: letters and digits of any script


def check_batch_id(value: object) -> str:
    """1..64 characters from ``[A-Za-z0-9._-]``."""
    if not isinstance(value, str) or not _BATCH_ID.fullmatch(value):
        raise InvalidInputError("batch_id", f"{value!r} is not valid",
                                allowed="1..64 characters from [A-Za-z0-9._-]")
    return value


def check_name(value: object, field: str) -> str:
    """A person's or a style's name, or an item key's part: printable, no ``/``, not a dot
    name, at most 64 characters."""
    if (
        not isinstance(value, str) or not value.strip() or len(value) > C.BATCH_NAME_MAX_LENGTH
        or "/" in value or "\\" in value or value in (".", "..") or not value.isprintable()
    ):
        raise InvalidInputError(field, f"{value!r} is not a usable name",
                                allowed=f"1..{C.BATCH_NAME_MAX_LENGTH} printable characters, "
                                "no / or \\")
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def client_request_id(batch_id: str, key: str) -> str:
    """The idempotency key of an item's submit: readable prefix, then a hash of the key."""
    return f"pb.{batch_id}.{_digest(batch_id, key)[:32]}"


def profile_tag(batch_id: str, person: str) -> str:
    """The tag that finds a person's profile again: ``phota-batch/<batch>/<person>``, hashed
    when that would be too long for a tag."""
    tag = f"phota-batch/{batch_id}/{person}"
    if len(tag) <= C.TAG_MAX_LENGTH:
        return tag
    return f"phota-batch/{batch_id}/{_digest(batch_id, person)[:40]}"


def path_part(name: str) -> str:
    """A name as a file or folder name: unsafe characters become ``_``, no leading dot."""
    return _UNSAFE_IN_PATHS.sub("_", name).strip(" ").lstrip(".") or "_"
