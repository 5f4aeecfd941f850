"""Small structured-concurrency helpers over anyio task groups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def map_concurrently(
    fn: Callable[[int], Awaitable[T]], count: int
) -> list[T]:
    """``[await fn(0), ..., await fn(count - 1)]`` run concurrently, in order.

    The first failure cancels the rest and is raised as itself (not as an ExceptionGroup), so a
    caller sees the same ``InvalidInputError`` or ``APIError`` as from a sequential loop.
    """
    results: list[T | None] = [None] * count

    async def one(index: int) -> None:
        results[index] = await fn(index)

    try:
        async with anyio.create_task_group() as tg:
            for index in range(count):
                tg.start_soon(one, index)
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return results  # type: ignore[return-value]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


