"""Empty non-blocking pipes for ``splice(2)``, reused across TCP sessions.

A direction of a TCP session that splices (``svcnet.proxy.userspace.tcp``) moves bytes socket ->
pipe -> socket; the pipe comes from a :class:`PipePool` and goes back when the session ends --
to the pool if it is empty and the pool is not full, else it is closed. Pipes are sized with
``F_SETPIPE_SZ`` (capped by ``fs.pipe-max-size``; the default 64 KiB if that fails).
"""

from __future__ import annotations

import os

__all__ = ["PipePool"]

_F_SETPIPE_SZ = 1031


class PipePool:
    """Empty non-blocking pipes for splice, reused across connections (bounded)."""

    def __init__(self, size: int = 1 << 20, keep: int = 256) -> None:
        self.size = size
        self.keep = keep
        self._free: list[tuple[int, int]] = []

    def get(self) -> tuple[int, int]:
        if self._free:
            return self._free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            import fcntl

            fcntl.fcntl(w, _F_SETPIPE_SZ, self.size)
        except OSError:
            pass  # fs.pipe-max-size too small: the default 64 KiB will do
        return r, w

    def put(self, pipe: tuple[int, int], empty: bool) -> None:
        if empty and len(self._free) < self.keep:
            self._free.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])

    def clear(self) -> None:
        for r, w in self._free:
            os.close(r)
            os.close(w)
        self._free.clear()
