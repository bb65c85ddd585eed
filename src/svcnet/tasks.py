"""Small asyncio helpers shared by the long-running components."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Task]) -> None:
    """Cancel ``tasks`` and wait until each has ended.

    A component's ``stop`` uses this so that nothing it started outlives it. What the tasks
    raise while ending (their CancelledError, or an error they were already failing with) is
    theirs, not the caller's: a stop must not fail half-way because one task had crashed.
    """
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except (asyncio.CancelledError, Exception):
            pass
