"""phota profiles: the pre-flight table, training, listing, status, picture, delete, uploads
through S3 when PHOTA_S3_BUCKET is set, and bad folders refused before anything is paid."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from phota_async.emulator import PhotaEmulator

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                  "region_name": "us-east-1"}


@pytest.fixture
def bad_set(tmp_path: Path, people: Path) -> Path:
    """Nine photos, two of them the same file: a duplicate, and too few for the tier."""
    folder = tmp_path / "bad"
    folder.mkdir()
    photos = sorted((people / "bruno").iterdir())[:8]
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    shutil.copy(photos[0], folder / "copy.jpg")
    return folder


def test_check_only_prints_the_report_and_pays_nothing(
    phota: Any, emulator: PhotaEmulator, people: Path
) -> None:
    billed = len(emulator.ledger)
    run = phota("profiles", "create", str(people / "amara"), "--check-only")
    assert run.code == 0, run.stderr
    assert "no problems found" in run.stdout and "photo-01.jpg" in run.stdout
    as_json = json.loads(phota("profiles", "create", str(people / "amara"), "--check-only",
                               "--json").stdout)
    assert as_json["ok"] is True and len(as_json["photos"]) == 10
    assert len(emulator.ledger) == billed


def test_a_refused_set_shows_the_table_and_pays_nothing(
    phota: Any, emulator: PhotaEmulator, bad_set: Path
) -> None:
    billed = len(emulator.ledger)
    checked = phota("profiles", "create", str(bad_set), "--check-only")
    assert checked.code == 1
    assert "duplicate" in checked.stdout.lower() or "same" in checked.stdout.lower()
    run = phota("profiles", "create", str(bad_set))
    assert run.code == 2
    assert "got 9 photo(s)" in " ".join(run.stderr.split())
    assert run.error_line == ("phota profiles create: the photos were refused: 2 error(s) (see "
                              "the report); nothing was uploaded or paid")
    assert len(emulator.ledger) == billed


def test_create_list_status_picture_delete(phota: Any, people: Path, tmp_path: Path) -> None:
    tag = f"cli-{uuid.uuid4().hex[:8]}"
    created = phota("profiles", "create", str(people / "chen"), "--tag", tag, "--wait")
    assert created.code == 0, created.stderr
    pid = created.stdout.strip()
    listed = json.loads(phota("profiles", "list", "--tag", tag, "--json").stdout)
    assert [item["profile_id"] for item in listed] == [pid]
    assert pid in phota("profiles", "list").stdout
    assert json.loads(phota("profiles", "status", pid, "--json").stdout)["status"] == "READY"
    picture = phota("profiles", "picture", pid, "--out", str(tmp_path / "me.jpg"))
    with Image.open(picture.stdout.strip()) as image:
        assert image.format == "JPEG"
    refused = phota("profiles", "delete", pid, input="n\n")
    assert refused.code == 1 and "not confirmed" in refused.error_line
    no_answer = phota("profiles", "delete", pid, input="")
    assert no_answer.code == 1 and no_answer.error_line.endswith("aborted")
    assert phota("profiles", "delete", pid, "--yes").stdout.strip() == f"deleted {pid}"
    gone = phota("profiles", "status", pid)
    assert gone.code == 1 and "404" in gone.error_line


def test_create_from_files_and_a_mix(phota: Any, people: Path) -> None:
    files = sorted(str(p) for p in (people / "amara").iterdir())
    extra = str(next((people / "bruno").iterdir()))
    run = phota("profiles", "create", str(people / "amara"), extra, "--tier", "fast",
                "--check-only")
    assert run.code == 1 and "11 photo(s) for training tier 'fast': 1 error(s)" in run.stdout
    run = phota("profiles", "create", *files[:5], "--tier", "fast", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["tier"] == "fast"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "no such file or folder"),
        (lambda tmp: tmp, "the folder holds no photos"),
    ],
)
def test_bad_folders_are_refused(phota: Any, emulator: PhotaEmulator, tmp_path: Path,
                                 make: Any, message: str) -> None:
    before = len(emulator.requests)
    run = phota("profiles", "create", str(make(tmp_path)))
    assert run.code == 2 and message in run.error_line
    assert len(emulator.requests) == before


@pytest.fixture(scope="module")
def s3_bucket() -> Iterator[tuple[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, **S3_CREDENTIALS).create_bucket(Bucket=bucket)
    try:
        yield endpoint, bucket
    finally:
        server.stop()


def test_photos_go_to_s3_when_configured(
    phota: Any, people: Path, s3_bucket: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bucket = s3_bucket
    for name, value in {"PHOTA_S3_BUCKET": bucket, "PHOTA_S3_ENDPOINT_URL": endpoint,
                        "PHOTA_S3_PREFIX": "cli/", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    run = phota("profiles", "create", str(people / "amara"), "--wait", "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "READY"
    listed = boto3.client("s3", endpoint_url=endpoint, **S3_CREDENTIALS).list_objects_v2(
        Bucket=bucket, Prefix="cli/")
    assert listed["KeyCount"] == 10
