"""Every default of the SDK, in one place.

Durations are in seconds unless the name says otherwise.
"""

from __future__ import annotations

from typing import Final

DEFAULT_BASE_URL: Final = "https://api.photalabs.com/v1/phota"
API_KEY_ENV: Final = "PHOTA_API_KEY"
BASE_URL_ENV: Final = "PHOTA_BASE_URL"
API_KEY_HEADER: Final = "X-API-Key"
REQUEST_ID_HEADER: Final = "X-Request-Id"
SIGNATURE_HEADER: Final = "X-Phota-Signature"
DEPRECATION_HEADER: Final = "X-Phota-Deprecation-Date"
USER_AGENT: Final = "phota-async/0.1"

# --- HTTP ------------------------------------------------------------------
DEFAULT_MAX_CONCURRENCY: Final = 16
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
# A read may take this long between bytes; a synchronous image call may hold the
# connection for up to 600 s on the server, so sync calls get their own budget.
DEFAULT_READ_TIMEOUT: Final = 60.0
SYNC_IMAGE_TIMEOUT: Final = 660.0
DEFAULT_DOWNLOAD_CONCURRENCY: Final = 8
DOWNLOAD_CHUNK_SIZE: Final = 64 * 1024

# Each attempt's total time, so that an answer dripping a byte at a time cannot hold a call
# forever (the read timeout only bounds the gap between two reads). A call that waits on purpose
# (a synchronous image call) gets its read budget on top.
DEFAULT_ATTEMPT_TIMEOUT: Final = 120.0

# --- Answers (each a client option; see AsyncPhota) ---------------------------
# An API answer is a few kB of JSON; a larger one is refused (announced or counted as it
# streams) before it can fill memory.
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
# Answers that may carry images inline (a synchronous response_mode=bytes call, a finished
# job's status, a profile picture): 4 outputs of up to 48 MB each, as base64 (4/3 larger).
MAX_IMAGE_RESPONSE_BYTES: Final = 256 * 1024 * 1024
# JSON answers nest a few levels; anything deeper is hostile and refused before use.
MAX_JSON_DEPTH: Final = 64

# --- Retries ---------------------------------------------------------------
DEFAULT_MAX_ATTEMPTS: Final = 4
BACKOFF_INITIAL: Final = 0.5
BACKOFF_MAX: Final = 20.0
RETRY_AFTER_CAP: Final = 60.0

# --- Local encoding of images --------------------------------------------
# Larger inputs are base64-encoded in a worker thread; tiny ones are not worth the hop.
THREAD_ENCODE_THRESHOLD: Final = 256 * 1024

# --- Wire limits (phota-api.md sections 3, 5 and 9) -------------------------
EDIT_IMAGES_MIN: Final = 1
EDIT_IMAGES_MAX: Final = 10
OUTPUT_IMAGES_MIN: Final = 1
OUTPUT_IMAGES_MAX: Final = 4
TAG_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9._:-]+"

# --- Profile photos (pre-flight, preparation, uploads) ----------------------
# Short side under the first refuses a photo, under the second warns (phota-api.md section 5:
# "1K or more").
PHOTO_MIN_SIDE: Final = 256
PHOTO_GOOD_SIDE: Final = 1024
# The server scales anything larger down anyway; doing it here saves upload time.
PHOTO_MAX_SIDE: Final = 4096
# Refused before decoding: beyond this a photo is a decompression bomb, not a portrait
# (a 200 MP phone photo is 16320x12240). Pillow's own global limit is left untouched.
PHOTO_MAX_PIXELS: Final = 210_000_000
# A check that prepares nothing decodes JPEGs at a reduced scale (still reading every byte).
PHOTO_CHECK_DECODE_SIDE: Final = 512
PHOTO_JPEG_QUALITY: Final = 92
PHOTO_WEBP_QUALITY: Final = 92
PHOTO_PNG_COMPRESS_LEVEL: Final = 6
# Hamming distance between two 64-bit dHashes at or under which photos are near duplicates.
PHOTO_NEAR_DUPLICATE_DISTANCE: Final = 6
# Worker threads decoding at once: each holds a decoded photo (72 MB for 24 MP).
PHOTO_MAX_WORKERS_CAP: Final = 4
UPLOAD_CONCURRENCY: Final = 8
UPLOAD_RETRIES: Final = 3
UPLOAD_RETRY_WAIT: Final = 0.5
UPLOAD_RETRY_WAIT_MAX: Final = 8.0
UPLOAD_CONNECT_TIMEOUT: Final = 10.0
UPLOAD_READ_TIMEOUT: Final = 120.0
S3_DEFAULT_PREFIX: Final = "phota/"
# Long enough for the server to fetch the photos during a training (about 20 minutes).
S3_URL_EXPIRES: Final = 7200
S3_URL_EXPIRES_MAX: Final = 7 * 24 * 3600  # the SigV4 ceiling
