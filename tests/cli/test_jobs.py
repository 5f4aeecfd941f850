"""phota jobs get | wait: by id or token, image jobs and trainings, and what is not a job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_get_by_id_and_by_token(phota: Any) -> None:
    submitted = json.loads(phota("generate", "a fox", "--no-wait", "--json").stdout)
    by_token = phota("jobs", "get", submitted["token"], "--json")
    by_id = phota("jobs", "get", submitted["job_id"], "--json")
    assert by_token.code == by_id.code == 0
    assert json.loads(by_token.stdout)["job_id"] == json.loads(by_id.stdout)["job_id"]
    human = phota("jobs", "get", submitted["job_id"])
    assert f"job_id:         {submitted['job_id']}" in human.stdout


def test_wait_by_id_saves_the_images(phota: Any, tmp_path: Path) -> None:
    job_id = json.loads(phota("generate", "a fox", "-n", "3", "--no-wait", "--json").stdout)[
        "job_id"]
    run = phota("jobs", "wait", job_id, "--out", str(tmp_path), "--json")
    assert run.code == 0, run.stderr
    assert len(json.loads(run.stdout)["paths"]) == 3


def test_wait_for_a_training_by_its_token(phota: Any, people: Path) -> None:
    created = phota("profiles", "create", str(people / "amara"), "--json")
    assert created.code == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    run = phota("jobs", "wait", token, "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "READY"


def test_wait_timeout_says_how_to_wait_again(phota: Any, people: Path) -> None:
    picture = next((people / "amara").iterdir())
    token = phota("remix", str(picture), str(picture), "--no-wait").stdout.strip()
    run = phota("jobs", "wait", token, "--timeout", "0.05")
    assert run.code == 1
    assert "still running after 0.05s" in run.error_line
    assert f"phota jobs wait {token}" in run.error_line


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["jobs", "get", "job_doesnotexist"], 1, "404"),
        (["jobs", "wait", "job_doesnotexist"], 1, "404"),
        (["jobs", "get", "not/an id"], 2, "is not a valid id"),
        (["jobs", "get", "phj1.!!!"], 2, "token: is corrupt"),
        (["jobs", "wait", "phj1.eyJrIjoiaW1hZ2UiLCJpZCI6ImpvYl8xIiwidSI6Imh0dHA6Ly9vdGhlci8ifQ"],
         2, "was made for another API base URL"),
    ],
)
def test_what_is_not_a_job(phota: Any, args: list[str], code: int, message: str) -> None:
    run = phota(*args)
    assert run.code == code
    assert run.stderr.count("\n") == 1 and message in run.error_line
