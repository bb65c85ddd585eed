"""The compiled TCP byte loop (``_relay.c``) on the asyncio loop, when it was built.

Theory of operation
-------------------
A TCP session has two phases. Accepting, picking an endpoint and dialling with retry decide
things and stay in Python (:mod:`~svcnet.proxy.userspace.tcp`). Once both sockets are
connected, what is left is moving bytes, and that is where an interpreted loop pays ~2 us per
event (docs/benchmarks.md). :class:`CompiledRelay` hands the connected pair to the C relay,
which owns both fds from then on and moves the bytes with the same rules as the Python pumps
(read once per edge, back-pressure, splice for streams, half-close, reset on error).

One :class:`CompiledRelay` per event loop and splice setting (:func:`relay_for`); the asyncio
loop watches its epoll fd and calls :meth:`CompiledRelay._run`, which moves bytes for every
ready socket in C and returns the sessions that ended: ``(session, bytes_in, bytes_out,
errno)``; each goes back to its Python session (:meth:`_Session.relay_finished`) for the
counters, the scheduler's connection counts and the listener's session set.

The extension is optional (``setup.py``): without a compiler the package installs, and the
proxy relays with the Python pumps. :data:`AVAILABLE` says which; ``TcpOptions.engine``
chooses ("auto" takes C when it is there).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

try:
    from svcnet.proxy.userspace import _relay
except ImportError as e:  # not built: no compiler or no Python headers at install time
    _relay = None  # type: ignore[assignment]
    UNAVAILABLE_REASON = str(e)
else:
    UNAVAILABLE_REASON = ""

__all__ = ["AVAILABLE", "ENGINES", "CompiledRelay", "accept_fd", "engine_name", "relay_for", "reset_fd"]

log = logging.getLogger(__name__)

AVAILABLE = _relay is not None
#: ``accept_fd(listen_fd) -> (fd, host, port) | None``: a non-blocking client fd without a
#: socket object (two syscalls fewer per connection than ``socket.accept`` + ``setblocking``);
#: used by listeners of the compiled relay only
accept_fd = _relay.accept if AVAILABLE else None
#: ``reset_fd(fd)``: close a bare fd with an RST (the same listeners' refusals)
reset_fd = _relay.reset if AVAILABLE else None
ENGINES = ("auto", "c", "python")
_SPLICE_MODES = {"never": 0, "auto": 1, "always": 2}

_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], CompiledRelay]] = (
    weakref.WeakKeyDictionary()
)


def engine_name(engine: str) -> str:
    """What ``engine`` ("auto", "c", "python") runs here: "c" or "python". Raises ValueError
    for "c" when the extension was not built, or for an unknown name."""
    if engine not in ENGINES:
        raise ValueError(f"unknown TCP relay engine {engine!r} (one of {', '.join(ENGINES)})")
    if engine == "c" and not AVAILABLE:
        raise ValueError(f"the compiled TCP relay is not available: {UNAVAILABLE_REASON}")
    if engine == "auto":
        return "c" if AVAILABLE else "python"
    return engine


class CompiledRelay:
    def __init__(self, loop: asyncio.AbstractEventLoop, chunk: int, splice: str, pipe_size: int) -> None:
        self.relay = _relay.Relay(chunk, _SPLICE_MODES[splice], pipe_size)
        self._loop = weakref.ref(loop)
        loop.add_reader(self.relay.fileno(), self._run)

    def add(self, cfd: int, bfd: int, session: Any) -> None:
        """Relay between ``cfd`` and ``bfd`` (the relay owns and closes both) until both
        directions end; then ``session.relay_finished(bytes_in, bytes_out, errno)``."""
        self._report(self.relay.add(cfd, bfd, session))

    def abort(self, cfd: int, session: Any) -> None:
        """Reset ``session`` (whose client fd is ``cfd``) now."""
        self._report(self.relay.abort(cfd, session))

    def collect(self) -> None:
        """Pass the bytes relayed so far by live sessions on to their counters."""
        for session, nin, nout in self.relay.collect():
            session.add_bytes(nin, nout)

    def __len__(self) -> int:
        return len(self.relay)

    def _run(self) -> None:
        done = self.relay.run()
        if done is not None:
            self._report(done)

    @staticmethod
    def _report(done: list | None) -> None:
        if done:
            for session, nin, nout, err in done:
                try:
                    session.relay_finished(nin, nout, err)
                except Exception:  # one session's bookkeeping must not cost the others theirs
                    log.exception("tcp relay: ending session %r", session)

    def close(self) -> None:
        """Reset every session and release the relay."""
        if self.relay.closed:
            return
        loop = self._loop()
        try:
            if loop is not None:
                loop.remove_reader(self.relay.fileno())
        except Exception:  # the loop may be closed already
            pass
        self._report(self.relay.close())


def relay_for(loop: asyncio.AbstractEventLoop, chunk: int, splice: str, pipe_size: int) -> CompiledRelay:
    """The relay of ``loop`` for this splice setting, created on first use."""
    per_loop = _relays.setdefault(loop, {})
    key = (splice, pipe_size)
    r = per_loop.get(key)
    if r is None or r.relay.closed:
        r = per_loop[key] = CompiledRelay(loop, chunk, splice, pipe_size)
    return r
