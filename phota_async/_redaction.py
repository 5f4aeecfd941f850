"""Keeping credentials out of text: a presigned or signed URL's query string is a credential."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["display_url", "redact"]

_QUERY = re.compile(r"\?[^\s'\"<>]*")


def display_url(url: str) -> str:
    """``url`` without its query string and fragment: the only form of a URL that may go into a
    report, a repr, a log line or an error."""
    parts = urlsplit(url)
    hidden = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + hidden


def redact(text: str) -> str:
    """``text`` with every URL query string in it hidden."""
    return _QUERY.sub("?…", text)
