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

# --- Polling (phota_async/_jobs/cadence.py) ----------------------------------
# Durations are *server* seconds: PollConfig.time_scale divides them all (for an emulator in
# scaled time; `phota emulator` prints the matching PHOTA_TIME_SCALE, which the client reads
# when it talks to a loopback address).
TIME_SCALE_ENV: Final = "PHOTA_TIME_SCALE"
# Typical durations (phota-api.md section 8): generate and edit from the public benchmark;
# enhance, remix and a job of unknown kind are guesses. Only a prior: what the client sees of
# the server replaces them at the first finished job.
POLL_TYPICAL: Final = (("generate", 55.0), ("edit", 48.0), ("enhance", 30.0), ("remix", 30.0))
POLL_TYPICAL_UNKNOWN: Final = 30.0
# With nothing learned for a kind of work: this many "scout" jobs poll from POLL_SCOUT_FIRST on,
# the others from POLL_COLD_FIRST x the typical duration on; each interval is then
# POLL_COLD_GROWTH x the age, until the first finished job re-plans them all.
POLL_SCOUTS: Final = 1
POLL_SCOUT_FIRST: Final = 0.75
POLL_COLD_FIRST: Final = 0.7
POLL_COLD_GROWTH: Final = 0.5
# A learned plan minimises expected polls + POLL_LAG_WEIGHT x expected lag (as a share of the
# job's duration): at 25, a poll is worth 4% of a job's duration in lag (twice that for a job
# awaited alone).
POLL_LAG_WEIGHT: Final = 25.0
# Past the end of a plan (a job slower than nearly all seen), poll every POLL_GROWTH x its age;
# within a plan no interval exceeds POLL_MAX_GROWTH x the age (the bound on any job's lag).
POLL_GROWTH: Final = 0.1
POLL_MAX_GROWTH: Final = 0.25
POLL_MIN_INTERVAL: Final = 0.5
POLL_MAX_INTERVAL: Final = 120.0
# A server hint (Retry-After, poll_after_ms) is honoured up to this: a hostile or broken hint
# (1e12 ms, Infinity) must not strand a job.
POLL_MAX_HINT: Final = 60.0
POLL_CALLBACK_GRACE: Final = 2.0
POLL_TRAINING_MIN_INTERVAL: Final = 10.0
POLL_TRAINING_MAX_INTERVAL: Final = 30.0
POLL_JITTER: Final = 0.02
POLL_ERROR_BACKOFF: Final = 2.0
POLL_ERROR_BACKOFF_MAX: Final = 60.0
# A job whose status answers cannot be read this many times in a row fails with the reason.
POLL_MALFORMED_LIMIT: Final = 3
# What a finished job taught fades by half after this many more jobs of its kind: the estimate
# follows a server that changes.
POLL_MEMORY: Final = 1000
