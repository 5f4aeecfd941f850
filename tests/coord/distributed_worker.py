"""A worker of the distributed kill tests, in its own process: arq in burst mode (it exits once the
batch's queue is empty) over ``ITEMS`` generate tasks, against an emulator in another process.

    python tests/coord/distributed_worker.py EMULATOR_URL REDIS_URL OUT_DIR NAME ITEMS

``PHOTA_BATCH_CRASH_AT`` (phase:N) makes it kill itself with SIGKILL at that checkpoint of an
item. Public names only.
"""

from __future__ import annotations

import sys

from arq.worker import run_worker

from phota_async import AsyncPhota, ImageTask, PollConfig, RetryPolicy
from phota_async.batch import distributed

BATCH_ID = "cats"


def work(items: int) -> list[ImageTask]:
    return [ImageTask.generate(f"cat-{i}", f"A cat, take {i}") for i in range(items)]


def main(url: str, redis_url: str, out: str, name: str, items: int) -> None:
    def client() -> AsyncPhota:
        return AsyncPhota(api_key="emu-test-key", base_url=url, poll=PollConfig(time_scale=600),
                          retry=RetryPolicy(backoff_initial=0.001, backoff_max=0.005))

    settings = distributed.worker_settings(redis_url, batch_id=BATCH_ID, work=work(items),
                                           out=out, client=client, name=name, job_timeout=60)
    run_worker(settings, burst=True, poll_delay=0.02)


if __name__ == "__main__":
    main(*sys.argv[1:5], int(sys.argv[5]))
