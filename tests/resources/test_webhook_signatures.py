"""Callback signatures (phota-api.md 9.3): HMAC-SHA256 of the raw body, in any of its spellings."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phota_async.resources.webhooks import signature_matches

# Timing varies on a loaded machine; correctness, not speed, is under test here.
NO_DEADLINE = settings(deadline=None)

SECRET = "whsec_9f2c1e7a"
BODY = b'{"job_id":"job_1","status":"completed","download_urls":["https://cdn.example/a.png"]}'


def digest(secret: str = SECRET, body: bytes = BODY) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def spellings(raw: bytes) -> dict[str, str]:
    return {
        "hex": raw.hex(),
        "sha256=hex": "sha256=" + raw.hex(),
        "HEX": raw.hex().upper(),
        "SHA256=HEX": "SHA256=" + raw.hex().upper(),
        "base64": base64.b64encode(raw).decode(),
        "sha256=base64": "sha256=" + base64.b64encode(raw).decode(),
        "padded hex": f"  {raw.hex()}\n",
    }


@pytest.mark.parametrize("spelling", list(spellings(b"\x00" * 32)))
def test_each_spelling_of_the_right_signature_is_accepted(spelling: str) -> None:
    assert signature_matches(SECRET, BODY, spellings(digest())[spelling])


@NO_DEADLINE
@given(st.binary(max_size=300), st.text(min_size=1, max_size=40), st.sampled_from(
    ["hex", "sha256=hex", "HEX", "base64"]
))

def test_any_body_and_secret(body: bytes, secret: str, spelling: str) -> None:
    assert signature_matches(secret, body, spellings(digest(secret, body))[spelling])


def test_a_non_ascii_secret_is_keyed_as_utf8() -> None:
    secret = "clé-secrète-✓"
    assert signature_matches(secret, BODY, digest(secret).hex())
    latin1 = hmac.new(secret.encode("latin-1", "replace"), BODY, hashlib.sha256).hexdigest()
    assert not signature_matches(secret, BODY, latin1)


@pytest.mark.parametrize("spelling", ["hex", "sha256=hex", "HEX", "base64"])
def test_a_tampered_body_is_refused(spelling: str) -> None:
    signature = spellings(digest())[spelling]
    tampered = BODY.replace(b"completed", b"failed")
    assert not signature_matches(SECRET, tampered, signature)
    assert not signature_matches(SECRET, BODY + b" ", signature)
    assert not signature_matches(SECRET, BODY[:-1], signature)


@NO_DEADLINE
@given(st.binary(min_size=1, max_size=200), st.integers(0, 199), st.integers(1, 255))
def test_any_changed_byte_is_refused(body: bytes, index: int, flip: int) -> None:
    signature = digest(SECRET, body).hex()
    position = index % len(body)
    changed = bytearray(body)
    changed[position] ^= flip
    assert not signature_matches(SECRET, bytes(changed), signature)


@pytest.mark.parametrize("spelling", ["hex", "sha256=hex", "base64"])
def test_a_wrong_secret_is_refused(spelling: str) -> None:
    signature = spellings(digest("another-secret"))[spelling]
    assert not signature_matches(SECRET, BODY, signature)


def test_a_json_reserialised_body_is_refused() -> None:
    """The signature is over the raw bytes: re-encoded JSON no longer matches."""
    import json

    reencoded = json.dumps(json.loads(BODY)).encode()
    assert reencoded != BODY
    assert not signature_matches(SECRET, reencoded, digest().hex())


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "sha256=",
        "garbage",
        "not-hex-" + "z" * 56,
        "sha1=" + hashlib.sha1(BODY).hexdigest(),
        digest().hex()[:-2],  # truncated
        digest().hex() + "00",  # too long
        base64.b64encode(digest()[:16]).decode(),  # a digest of the wrong length
        base64.b64encode(digest()).decode().rstrip("="),  # unpadded base64
        "sha256=" + "0" * 64,
        "t=123,v1=" + digest().hex(),
    ],
)
def test_garbage_and_empty_headers_are_refused(header: str) -> None:
    assert not signature_matches(SECRET, BODY, header)


@NO_DEADLINE
@given(st.text(max_size=100))
def test_random_headers_never_crash_and_never_match(header: str) -> None:
    assert signature_matches(SECRET, BODY, header) is False
