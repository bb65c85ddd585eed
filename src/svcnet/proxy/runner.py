"""The bounded-frequency sync runner (upstream ``pkg/proxy/runner``), on asyncio.

Rules:
1. :meth:`run` asks for a sync and returns at once; requests made while a sync is pending or
   running coalesce into one more sync.
2. Two syncs start at least ``min_interval`` apart, measured from the end of the previous one.
3. A sync that raises is retried after ``retry_interval`` (unless another request comes first);
   a successful sync cancels the retry.
4. A sync happens at least every ``max_interval`` even without requests (periodic resync).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["BoundedFrequencyRunner"]

log = logging.getLogger(__name__)


class BoundedFrequencyRunner:
    def __init__(
        self,
        name: str,
        fn: Callable[[], Awaitable[None]],
        *,
        min_interval: float = 0.0,
        retry_interval: float = 1.0,
        max_interval: float = 3600.0,
    ):
        self.name = name
        self.fn = fn
        self.min_interval = min_interval
        self.retry_interval = retry_interval
        self.max_interval = max_interval
        self._wanted = asyncio.Event()
        self._last_end = float("-inf")
        self._retry_at: float | None = None
        self.syncs = 0
        self.failures = 0

    def run(self) -> None:
        self._wanted.set()

    async def loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            deadline = self._last_end + self.max_interval
            if self._retry_at is not None:
                deadline = min(deadline, self._retry_at)
            if not self._wanted.is_set():
                try:
                    async with asyncio.timeout(max(deadline - now, 0)):
                        await self._wanted.wait()
                except TimeoutError:
                    pass
            # space syncs by min_interval
            wait = self._last_end + self.min_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wanted.clear()
            try:
                await self.fn()
                self._retry_at = None
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("%s: sync failed; retrying in %.1fs", self.name, self.retry_interval)
                self._retry_at = loop.time() + self.retry_interval
            self.syncs += 1
            self._last_end = loop.time()
