"""Keeping credentials out of text: a presigned or signed URL's query string is a credential, and
so is the API key in any form a server might echo it back in."""

from __future__ import annotations

import base64
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["KeyRedactor", "display_url", "redact"]

_QUERY = re.compile(r"\?[^\s'\"<>]*")
_HIDDEN = "***"
# Shorter base64 runs of a key would match unrelated text; a key is far longer than this.
_MIN_BASE64_CORE = 8
_JSON_SHORT_ESCAPES = {"/": "/", '"': '"', "\\": "\\"}


def display_url(url: str) -> str:
    """``url`` without its query string and fragment: the only form of a URL that may go into a
    report, a repr, a log line or an error."""
    parts = urlsplit(url)
    hidden = "?…" if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + hidden


def redact(text: str) -> str:
    """``text`` with every URL query string in it hidden."""
    return _QUERY.sub("?…", text)


class KeyRedactor:
    """Hides one secret in text a server sent, in every form it may come back in: as it is,
    JSON-escaped (``\\/``, ``\\uXXXX``, in any mix), URL-encoded (either case) or base64 (standard
    or URL-safe, alone or inside a longer base64 run such as a Basic ``user:key``).

    Its repr never shows the secret.
    """

    __slots__ = ("_marker", "_marker_bytes", "_pattern", "_span")

    def __init__(self, secret: str) -> None:
        cores = _base64_cores(secret.encode())
        self._pattern = _pattern(secret, cores)
        # Every match holds one of these: a quick search for them spares the full pattern a
        # scan of megabytes of base64 image that cannot hold the secret.
        markers = (secret, "\\", "%", *cores)
        self._marker = re.compile("|".join(re.escape(m) for m in markers))
        self._marker_bytes = re.compile(self._marker.pattern.encode())
        self._span = 6 * len(secret)  # the longest form: every character as \uXXXX

    def __call__(self, text: str) -> str:
        """``text`` with every form of the secret replaced by ``***``."""
        if self._marker.search(text) is None:
            return text
        return self._pattern.sub(_HIDDEN, text)

    def may_hide(self, text: str | bytes) -> bool:
        """False when ``text`` (or any string JSON-decoded from it) surely holds no form of the
        secret: without escapes, decoded strings are slices of the text itself."""
        if isinstance(text, bytes):
            # JSON may come as UTF-16 or UTF-32, where the secret's bytes are interleaved with
            # zeros: such a body is always scrubbed.
            return b"\x00" in text or self._marker_bytes.search(text) is not None
        return self._marker.search(text) is not None

    def excerpt(self, text: str, length: int) -> str:
        """The first ``length`` characters of ``text``, redacted: a cut through the middle of
        an echoed secret must not leave its first half readable."""
        return self(text[: length + self._span])[:length]

    def __repr__(self) -> str:
        return "KeyRedactor('***')"


def _pattern(secret: str, base64_cores: list[str]) -> re.Pattern[str]:
    alternatives = ["".join(_char_forms(c) for c in secret)]
    alternatives += [re.escape(core) for core in base64_cores]
    return re.compile("|".join(alternatives))


def _hex(digits: str) -> str:
    """``digits`` as a regex that matches hex letters in either case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char_forms(c: str) -> str:
    forms = [re.escape(c), r"\\u" + _hex(f"{ord(c):04x}")]
    if c in _JSON_SHORT_ESCAPES:
        forms.append(re.escape("\\" + _JSON_SHORT_ESCAPES[c]))
    # URL encoding: one %XX per UTF-8 byte ('+' for a space in a form body).
    forms.append("".join("%" + _hex(f"{b:02x}") for b in c.encode()))
    if c == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def _base64_cores(secret: bytes) -> list[str]:
    """The base64 characters that encode only the secret's bits, for each of the three
    alignments the secret can have inside a longer base64 run, in both alphabets."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret).decode()
        start = -(-offset * 8 // 6)  # the first character made of the secret's bits only
        end = (offset + len(secret)) * 8 // 6  # past the last such character
        core = encoded[start:end]
        if len(core) >= _MIN_BASE64_CORE:
            cores.update({core, core.translate(str.maketrans("+/", "-_"))})
    return sorted(cores, key=len, reverse=True)
