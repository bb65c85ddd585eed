"""A keyed work queue for controllers (client-go ``workqueue`` semantics, asyncio).

Rules:
1. A key is queued at most once: adding a key that is already waiting does nothing.
2. A key being processed is never handed to a second worker; if it is added meanwhile it is
   queued again when :meth:`done` is called (so the latest state is always processed).
3. :meth:`add_rate_limited` requeues after a per-key exponential back-off (5 ms doubling up to
   ``max_delay``); :meth:`forget` resets it after a success.
4. :meth:`shutdown` wakes every waiting :meth:`get`, which then returns None.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
import logging

__all__ = ["WorkQueue", "run_workers"]

log = logging.getLogger(__name__)


class WorkQueue:
    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 30.0):
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._ready = asyncio.Event()
        self._shutdown = False
        self._timers: set[asyncio.TimerHandle] = set()
        self.base_delay = base_delay
        self.max_delay = max_delay

    def add(self, key: Hashable) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._timers.discard(handle)  # type: ignore[arg-type]
            self.add(key)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def add_rate_limited(self, key: Hashable) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2**n), self.max_delay))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> Hashable | None:
        while not self._queue and not self._shutdown:
            self._ready.clear()
            await self._ready.wait()
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def __len__(self) -> int:
        return len(self._queue)

    def shutdown(self) -> None:
        self._shutdown = True
        for h in list(self._timers):
            h.cancel()
        self._timers.clear()
        self._notify()

    @property
    def is_shutdown(self) -> bool:
        return self._shutdown

    def _notify(self) -> None:
        self._ready.set()


async def run_workers(
    queue: WorkQueue,
    sync: Callable[[Hashable], Awaitable[None]],
    *,
    workers: int = 1,
    name: str = "controller",
) -> None:
    """Run ``workers`` loops that take keys and call ``sync(key)``; a failure requeues the key
    with back-off, a success forgets its failures. Returns when the queue shuts down."""

    async def worker() -> None:
        while True:
            key = await queue.get()
            if key is None:
                return
            try:
                await sync(key)
                queue.forget(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("%s: sync %s failed (%s: %s); requeued", name, key, type(e).__name__, e)
                queue.add_rate_limited(key)
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))
