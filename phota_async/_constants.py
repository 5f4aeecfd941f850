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
PROFILE_PHOTOS_MIN: Final = 5
PROFILE_PHOTOS_MAX: Final = 50
TAG_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9._:-]+"
