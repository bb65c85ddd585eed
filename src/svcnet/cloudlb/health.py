"""Active HTTP health checks of node targets, run periodically in the background.

Theory of operation
-------------------
A :class:`HealthChecker` keeps one :class:`HealthState` per health key ``(ip, port, path)``
(several frontends share the check of one node). Every ``interval`` seconds, and at once for
keys that just appeared, it sends ``GET path`` to each key -- at most ``concurrency`` at a time,
each bounded by ``timeout`` -- and records the result:

- a check passes on an HTTP 200 answer, and fails on any other status, a refused or reset
  connection, or a timeout;
- a target becomes healthy after ``rise`` consecutive passes and unhealthy after ``fall``
  consecutive failures (the usual LB thresholds); a new key starts **unhealthy**, so no
  connection goes to a node before its first passing check.

Readers (the frontends' pickers) look the state up on every new connection, so a node that
fails its check stops receiving new connections as soon as the check says so; connections
already forwarded are not cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from svcnet.cloudlb.plan import HealthKey

__all__ = ["HealthChecker", "HealthState", "http_status"]

log = logging.getLogger(__name__)


class HealthState:
    """Thresholded health of one key (pure)."""

    __slots__ = ("checks", "fails", "healthy", "last", "passes")

    def __init__(self) -> None:
        self.healthy = False
        self.passes = 0
        self.fails = 0
        self.checks = 0
        self.last = "not checked yet"

    def record(self, ok: bool, detail: str, *, rise: int, fall: int) -> bool:
        """Apply one result; True if the health changed."""
        self.checks += 1
        self.last = detail
        if ok:
            self.passes += 1
            self.fails = 0
            if not self.healthy and self.passes >= rise:
                self.healthy = True
                return True
        else:
            self.fails += 1
            self.passes = 0
            if self.healthy and self.fails >= fall:
                self.healthy = False
                return True
        return False


async def http_status(ip: str, port: int, path: str, timeout: float) -> int:
    """``GET path`` on ``ip:port``; the HTTP status. Raises OSError / TimeoutError."""

    async def ask() -> int:
        reader, writer = await asyncio.open_connection(ip, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: svcnet-cloudlb\r\nConnection: close\r\n\r\n".encode())
            line = await reader.readline()
            parts = line.split()
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ConnectionError(f"not an HTTP answer: {line[:40]!r}")
            return int(parts[1])
        finally:
            writer.close()

    return await asyncio.wait_for(ask(), timeout)


class HealthChecker:
    def __init__(
        self,
        *,
        interval: float = 1.0,
        timeout: float = 1.0,
        rise: int = 1,
        fall: int = 2,
        concurrency: int = 32,
        on_change: Callable[[HealthKey, bool], None] | None = None,
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self.rise = rise
        self.fall = fall
        self.on_change = on_change
        self.states: dict[HealthKey, HealthState] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._new: set[HealthKey] = set()
        self._kick = asyncio.Event()
        self.rounds = 0

    def healthy(self, key: HealthKey) -> bool:
        st = self.states.get(key)
        return st is not None and st.healthy

    def set_keys(self, keys: set[HealthKey]) -> None:
        """Check exactly ``keys`` from now on; new ones are checked at once."""
        for k in list(self.states):
            if k not in keys:
                del self.states[k]
        new = keys - self.states.keys()
        for k in new:
            self.states[k] = HealthState()
        if new:
            self._new |= new
            self._kick.set()

    async def check(self, key: HealthKey) -> None:
        ip, port, path = key
        async with self._sem:
            try:
                status = await http_status(ip, port, path, self.timeout)
                ok, detail = status == 200, f"HTTP {status}"
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                ok, detail = False, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        st = self.states.get(key)
        if st is None:  # dropped while checking
            return
        if st.record(ok, detail, rise=self.rise, fall=self.fall):
            log.info("cloudlb: %s:%d%s is now %s (%s)", ip, port, path, "healthy" if st.healthy else "unhealthy", detail)
            if self.on_change is not None:
                self.on_change(key, st.healthy)

    async def check_all(self, keys: list[HealthKey] | None = None) -> None:
        keys = list(self.states) if keys is None else keys
        if keys:
            await asyncio.gather(*(self.check(k) for k in keys))

    async def run(self) -> None:
        """Check every key every ``interval``; new keys at once."""
        loop = asyncio.get_running_loop()
        next_round = loop.time()
        while True:
            now = loop.time()
            if now >= next_round:
                self._new.clear()
                await self.check_all()
                self.rounds += 1
                next_round = loop.time() + self.interval
            elif self._new:
                new, self._new = list(self._new), set()
                await self.check_all(new)
            self._kick.clear()
            if self._new:
                continue
            try:
                await asyncio.wait_for(self._kick.wait(), max(next_round - loop.time(), 0))
            except asyncio.TimeoutError:
                pass

    def status(self) -> dict[str, dict]:
        return {
            f"http://{ip}:{port}{path}": {"healthy": st.healthy, "last": st.last, "checks": st.checks}
            for (ip, port, path), st in sorted(self.states.items())
        }
