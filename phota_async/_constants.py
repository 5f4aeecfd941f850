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

# --- Result downloads (``ImageResult.read`` / ``save``) ------------------------
# A result file larger than this is refused (``AsyncPhota(max_download_bytes=...)``): a 4K
# PNG is about 25 MB, so only a broken or hostile server comes near it.
MAX_DOWNLOAD_BYTES: Final = 64 * 1024 * 1024
# read()/save() end within this when neither the call nor the client sets a timeout: a server
# that drips a byte now and then must not hold a download forever.
DOWNLOAD_TIMEOUT: Final = 300.0
# Redirects a download follows, each within the same origin.
DOWNLOAD_MAX_REDIRECTS: Final = 5
# An error answer of a download host is read this far, for its message.
DOWNLOAD_ERROR_BODY_MAX: Final = 64 * 1024
# File names made from a stem or a job id: longer ones are refused rather than cut.
FILE_STEM_MAX_LENGTH: Final = 128

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

# --- Local images (ImageInput) -------------------------------------------
# Larger inputs are base64-encoded in a worker thread; tiny ones are not worth the hop.
THREAD_ENCODE_THRESHOLD: Final = 256 * 1024
# A local image larger than this is refused before it is read (a 200 MP phone JPEG is about
# 60 MB); only regular files are read, in chunks of IMAGE_READ_CHUNK.
IMAGE_MAX_BYTES: Final = 100 * 1024 * 1024
IMAGE_READ_CHUNK: Final = 1024 * 1024

# --- Wire limits (phota-api.md sections 3, 5 and 9) -------------------------
EDIT_IMAGES_MIN: Final = 1
EDIT_IMAGES_MAX: Final = 10
OUTPUT_IMAGES_MIN: Final = 1
OUTPUT_IMAGES_MAX: Final = 4
TAG_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_MAX_LENGTH: Final = 128
CLIENT_REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9._:-]+"

# --- Profile photos (pre-flight, preparation, uploads) ----------------------
# Photos each training tier takes (phota-api.md section 5), by tier name.
TIER_PHOTOS: Final = {"fast": (5, 10), "standard": (10, 50)}
# Short side under the first refuses a photo, under the second warns (phota-api.md section 5:
# "1K or more").
PHOTO_MIN_SIDE: Final = 256
PHOTO_GOOD_SIDE: Final = 1024
# The server scales anything larger down anyway; doing it here saves upload time.
PHOTO_MAX_SIDE: Final = 4096
# Refused before decoding: beyond this a photo is a decompression bomb, not a portrait
# (a 200 MP phone photo is 16320x12240). Pillow's own global limit is left untouched.
PHOTO_MAX_PIXELS: Final = 210_000_000
# A decompression bomb: a photo of more than PHOTO_BOMB_MIN_PIXELS with more pixels per byte of
# file than this is refused before decoding. Real photos stay far below (a 24 MP JPEG of 1 MB
# has 24 pixels a byte); a zlib bomb of a flat image has hundreds to thousands.
PHOTO_BOMB_MIN_PIXELS: Final = 16_000_000
PHOTO_MAX_PIXELS_PER_BYTE: Final = 100
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

# --- Coordination between processes (Redis) ---------------------------------
# Keys and channels live under this prefix; several apps may share one Redis with their own.
COORD_PREFIX: Final = "phota"
# A shared budget lets this many seconds' worth of requests go at once (at least one request):
# small, so that the server's own bucket keeps room for the jitter between processes.
COORD_BURST_SECONDS: Final = 0.25
# One Redis command may take this long (connect or answer) before the request goes on under
# the local limiter alone; then Redis is tried again after the retry interval.
COORD_REDIS_TIMEOUT: Final = 0.5
COORD_RETRY_INTERVAL: Final = 1.0
# The webhook fan-out's subscriber reconnects with this backoff (seconds, doubling, capped).
COORD_RECONNECT_INITIAL: Final = 0.05
COORD_RECONNECT_MAX: Final = 2.0
# Batch journal entries expire this long after their last write (a batch's lifetime).
COORD_JOURNAL_TTL: Final = 7 * 24 * 3600
# A journal write may take this long: it stops the batch (before it pays) rather than fall back.
COORD_JOURNAL_TIMEOUT: Final = 5.0
# A batch over many workers (phota_async.batch.distributed, arq): items one worker runs at once;
# how long one item may run (an image task; a headshot person: training, then styles) before it
# is tried again, and after which a killed worker's items go to another; tries per item; the
# wait before another try (doubling).
DISTRIBUTED_MAX_JOBS: Final = 16
DISTRIBUTED_ITEM_TIMEOUT: Final = 600.0
DISTRIBUTED_PERSON_TIMEOUT: Final = 3600.0
DISTRIBUTED_MAX_TRIES: Final = 8
DISTRIBUTED_RETRY_INITIAL: Final = 2.0
DISTRIBUTED_RETRY_MAX: Final = 60.0

# --- The phota command and its demo ------------------------------------------
DEMO_TIME_SCALE: Final = 600.0  # emulated seconds per real second: a training takes 2 s
DEMO_OUT_DIR: Final = "phota-demo"
# Local profile photos go to this S3 bucket (any S3-compatible store) when it is set.
S3_BUCKET_ENV: Final = "PHOTA_S3_BUCKET"
S3_PREFIX_ENV: Final = "PHOTA_S3_PREFIX"
S3_ENDPOINT_ENV: Final = "PHOTA_S3_ENDPOINT_URL"
S3_REGION_ENV: Final = "PHOTA_S3_REGION"
# phota headshots (and the demo): styles when none is chosen, images per person and style.
HEADSHOT_DEFAULT_PRESETS: Final = ("studio", "outdoor", "office")
HEADSHOT_IMAGES_PER_STYLE: Final = 2

# --- Batches ------------------------------------------------------------------
BATCH_CONCURRENCY: Final = 8  # submits (and trainings being uploaded) at once
BATCH_DOWNLOAD_CONCURRENCY: Final = 8  # items being downloaded and saved at once
BATCH_NAME_MAX_LENGTH: Final = 64  # a person's or a style's name
BATCH_JOURNAL_NAME: Final = "phota-journal.sqlite"  # beside the outputs, by default
# After a crash with a profiles/add maybe in flight, wait this long (since it was sent) before
# concluding from the tag's listing that it never reached the server.
BATCH_ADD_SETTLE: Final = 20.0

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
# A job with a callback_url is polled before its callback only as a safety net for a lost one:
# first at POLL_CALLBACK_GRACE x its plan's first poll, and never before the age by which
# POLL_CALLBACK_QUANTILE of the jobs of its kind have ended.
POLL_CALLBACK_GRACE: Final = 2.0
POLL_CALLBACK_QUANTILE: Final = 0.99
# A callback arrives soon after its job ended: the job is learned to have run for at least
# (1 - POLL_CALLBACK_LATENCY) x its age when the callback came (not merely "done by then": upper
# bounds alone would pull the estimate, and every later job's safety net, ever earlier).
POLL_CALLBACK_LATENCY: Final = 0.05
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
# A new estimate re-plans the waiting jobs this many at a time per loop pass: re-planning ten
# thousand at once would hold the loop for a tenth of a second or more.
REPLAN_SLICE: Final = 64
