"""The local container runtime: each container is a host process in its own session.

Theory of operation
-------------------
:meth:`ProcessRuntime.start` spawns ``argv`` with ``start_new_session`` (its own session and
process group, pgid = pid), the container's environment and working directory, stdin from
``/dev/null`` and stdout+stderr appended to the container's log file (kubelet's layout,
``<state>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log``; raw bytes, not the CRI
``<time> <stream> <tag>`` format). Spawning fails with :class:`StartFailed` (reason
``StartError``, exit code 128, like containerd) when the executable or directory is missing.

Exit (:class:`ExitStatus`): a process killed by signal *n* exits ``128+n``; reason
``Completed`` for 0, else ``BindFailed`` when the tail of this run's log says a bind failed
(:func:`svcnet.kubelet.images.bind_failure`), else ``Error``. With
``terminationMessagePolicy: FallbackToLogsOnError`` a failed container's message is the log's
last 80 lines / 2048 bytes, as upstream.

A container is *one process tree*: when its main process ends, whatever it left behind in its
process group — or anywhere, carrying its ``SVCNET_CONTAINER_ID`` marker in the environment —
is SIGKILLed, as a container's PID namespace would be torn down.
:meth:`Container.stop` sends SIGTERM to the group, waits up to the grace period, then SIGKILLs
the group; no process outlives a stop.

Crash safety: every child gets ``PR_SET_PDEATHSIG=SIGKILL`` (Linux), and each running container
leaves a record in ``<state>/containers/<id>.json``; :meth:`ProcessRuntime.cleanup_leftovers`
kills what a crashed previous agent left (checked by the marker, so never a stranger's process)
and removes the records. So processes of a previous run are gone when a new agent starts, and
its pods are started afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from svcnet.kubelet.images import REASON_BIND_FAILED, bind_failure

__all__ = ["Container", "ContainerConfig", "ExitStatus", "MARKER_ENV", "ProcessRuntime", "StartFailed"]

MARKER_ENV = "SVCNET_CONTAINER_ID"
_PR_SET_PDEATHSIG = 1


def _pdeathsig_setter():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover
        return None

    def set_pdeathsig() -> None:  # runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


_PREEXEC = _pdeathsig_setter()


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    container_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    log_path: str
    fallback_to_logs: bool = False  # terminationMessagePolicy: FallbackToLogsOnError


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitStatus:
    exit_code: int
    reason: str  # Completed | Error | BindFailed | StartError
    message: str = ""
    signal: int | None = None
    started_at: float
    finished_at: float


class StartFailed(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """``(pgrp, starttime)`` of ``pid`` from /proc, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    # fields after comm: state(3) ppid(4) pgrp(5) ... starttime(22)
    return int(rest[2]), int(rest[19])


def _has_marker(pid: int, container_id: str) -> bool:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER_ENV}={container_id}".encode() in env.split(b"\0")


def _pids() -> list[int]:
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:  # pragma: no cover - not Linux
        return []


def _zombie(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] in (b"Z", b"X")


def leftover_pids(container_id: str, pgid: int | None = None) -> list[int]:
    """Live processes of a container: every process carrying its marker (even daemons that left
    the group) and, when ``pgid`` is given, every member of its process group (a group id
    cannot be reused while it has members, so while the container's group lives it is ours)."""
    me = os.getpid()
    out = []
    for pid in _pids():
        if pid == me or _zombie(pid):
            continue
        if _has_marker(pid, container_id):
            out.append(pid)
        elif pgid is not None:
            st = _proc_stat(pid)
            if st is not None and st[0] == pgid:
                out.append(pid)
    return out


def _kill_all(container_id: str, pgid: int | None) -> list[int]:
    pids = leftover_pids(container_id, pgid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _tail(path: str, start: int, limit: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            f.seek(max(start, end - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Container:
    """One running (or finished) container process."""

    def __init__(self, runtime: "ProcessRuntime", config: ContainerConfig, proc: asyncio.subprocess.Process, log_start: int):
        self.runtime = runtime
        self.config = config
        self.id = config.container_id
        self.proc = proc
        self.pid = proc.pid
        self.pgid = proc.pid
        self.started_at = time.time()
        self._log_start = log_start
        self._status: ExitStatus | None = None
        self._stopping = False
        self._done = asyncio.get_running_loop().create_future()
        self._watch = asyncio.ensure_future(self._watch_exit())

    @property
    def running(self) -> bool:
        return not self._done.done()

    @property
    def status(self) -> ExitStatus | None:
        return self._status

    async def _watch_exit(self) -> None:
        rc = await self.proc.wait()
        finished = time.time()
        # the main process is gone: tear down the rest of the container (its PID namespace)
        _kill_all(self.id, self.pgid)
        sig = -rc if rc < 0 else None
        code = 128 + sig if sig is not None else rc
        tail = _tail(self.config.log_path, self._log_start)
        reason, message = "Completed", ""
        if code != 0:
            reason = "Error"
            line = None if self._stopping else bind_failure(tail)
            if line:
                reason, message = REASON_BIND_FAILED, line
            elif self.config.fallback_to_logs:
                message = "\n".join(tail.splitlines()[-80:])[-2048:]
        self._status = ExitStatus(
            exit_code=code, reason=reason, message=message, signal=sig, started_at=self.started_at, finished_at=finished
        )
        self.runtime._forget(self)
        self._done.set_result(self._status)

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._done)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the container's process group (if it still runs)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    async def stop(self, grace: float) -> ExitStatus:
        """SIGTERM, wait ``grace`` seconds, SIGKILL; returns once every process is gone."""
        if self.running:
            self._stopping = True
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._done), max(grace, 0.0))
            except asyncio.TimeoutError:
                self.signal(signal.SIGKILL)
        status = await self.wait()
        _kill_all(self.id, self.pgid)
        return status


class ProcessRuntime:
    """Starts containers as host processes; remembers them under ``state_dir``."""

    def __init__(self, state_dir: str | os.PathLike[str]):
        self.state_dir = Path(state_dir)
        self.records = self.state_dir / "containers"
        self.records.mkdir(parents=True, exist_ok=True)
        self.containers: dict[str, Container] = {}

    async def start(self, config: ContainerConfig) -> Container:
        log = Path(config.log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(config.env)
        env[MARKER_ENV] = config.container_id
        with open(log, "ab") as out:
            start = out.tell()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *config.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    env=env,
                    cwd=config.cwd,
                    start_new_session=True,
                    preexec_fn=_PREEXEC,
                )
            except FileNotFoundError as e:
                what = config.argv[0] if config.argv else ""
                if config.cwd and not os.path.isdir(config.cwd):
                    msg = f"chdir to cwd ({config.cwd!r}) set in config.json failed: no such file or directory"
                else:
                    msg = f'exec: "{what}": executable file not found in $PATH'
                raise StartFailed("StartError", msg) from e
            except (PermissionError, OSError) as e:
                raise StartFailed("StartError", f'exec: "{config.argv[0] if config.argv else ""}": {e.strerror or e}') from e
        c = Container(self, config, proc, start)
        self.containers[c.id] = c
        st = _proc_stat(c.pid)
        rec = {"id": c.id, "pid": c.pid, "pgid": c.pgid, "start": st[1] if st else None, "argv": list(config.argv)}
        with contextlib.suppress(OSError):
            (self.records / f"{c.id}.json").write_text(json.dumps(rec))
        return c

    def _forget(self, c: Container) -> None:
        self.containers.pop(c.id, None)
        with contextlib.suppress(OSError):
            (self.records / f"{c.id}.json").unlink()

    async def stop_all(self, grace: float) -> None:
        await asyncio.gather(*(c.stop(grace) for c in list(self.containers.values())), return_exceptions=True)

    def cleanup_leftovers(self) -> list[int]:
        """Kill processes that containers of a previous (crashed) agent left; returns their PIDs."""
        killed: list[int] = []
        for f in sorted(self.records.glob("*.json")):
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                rec = {}
            cid = rec.get("id") or f.stem
            if cid in self.containers:
                continue
            # the group id may have been reused since the crash: trust only the marker
            killed += _kill_all(cid, None)
            with contextlib.suppress(OSError):
                f.unlink()
        return killed
