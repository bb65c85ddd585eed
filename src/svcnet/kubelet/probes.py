"""Container probes: a pure per-probe state machine, and the checkers that run one probe.

Theory of operation
-------------------
Upstream: ``pkg/kubelet/prober/worker.go`` (``doProbe``), ``prober.go``, ``pkg/probe/{tcp,http,
exec}``, API defaults in ``pkg/apis/core/v1/defaults.go`` (``SetDefaults_Probe``).

**Spec** (:func:`probe_spec`): ``initialDelaySeconds`` 0, ``periodSeconds`` 10,
``timeoutSeconds`` 1, ``successThreshold`` 1, ``failureThreshold`` 3. ``successThreshold`` must
be 1 for liveness and startup probes (API validation); we force it. Exactly one handler:
``tcpSocket``, ``httpGet``, ``exec`` (``grpc`` is reported unsupported).

**Machine** (:class:`ProbeState`, one per container × probe kind; time is a parameter):

1. A new container resets the machine to the kind's *initial result*: readiness ``failure``
   (not ready until a first success), liveness ``success``, startup ``unknown``; the first probe
   is due ``initialDelaySeconds`` after the container started.
2. :func:`probe_due` gates: nothing while the machine is *on hold* (a liveness/startup failure
   already asked for a restart) or the container is not running; startup probes run only until
   the container has *started*, liveness and readiness only after (no startup probe ⇒ started
   at once). While the pod is being deleted liveness and startup stop (their result is forced to
   ``success`` so the shutdown is quiet) but readiness keeps probing, as upstream does.
3. :func:`probe_record` counts consecutive equal raw results; the published result changes only
   when the run reaches ``failureThreshold`` (failure) or ``successThreshold`` (success). A
   *published* liveness/startup failure puts the machine on hold and asks for a restart. The
   next probe is due ``periodSeconds`` after this one started. A checker error (e.g. a named
   port that does not exist) is thrown away, as upstream does with prober errors.

Upstream runs each worker on a ticker whose phase is arbitrary, so its first probe comes up to
one period after ``initialDelaySeconds``; we probe at the first allowed instant (upstream
also triggers an immediate readiness run whenever it computes a status with no result yet).

**Checkers** (I/O): ``tcpSocket`` connects to ``podIP:port`` and closes; ``httpGet`` sends one
``GET`` (headers from ``httpHeaders``, ``User-Agent: kube-probe/<ver>``, ``Accept: */*``) and
succeeds on status 200–399 (redirects are not followed: a 3xx is already a success); ``HTTPS``
is reported as an error (unsupported). ``exec`` runs the command with the container's
environment and working directory and succeeds on exit status 0; a timeout is a failure. A
timeout is always a failure. Named ports resolve against the container's ``ports``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = [
    "FAILURE",
    "KINDS",
    "SUCCESS",
    "UNKNOWN",
    "ProbeError",
    "ProbeOutcome",
    "ProbeSpec",
    "ProbeState",
    "initial_state",
    "on_deletion",
    "probe_due",
    "probe_record",
    "probe_spec",
    "resolve_port",
    "run_probe",
]

SUCCESS, FAILURE, UNKNOWN = "success", "failure", "unknown"
KINDS = ("startup", "liveness", "readiness")
_FIELD = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
_INITIAL = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
USER_AGENT = "kube-probe/1.30"
MAX_BODY = 10 * 1024


class ProbeError(Exception):
    """The probe could not be run at all (its result is thrown away)."""


# -- spec -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    kind: str  # startup | liveness | readiness
    handler: str  # exec | httpGet | tcpSocket | grpc
    action: dict = field(default_factory=dict, compare=False)  # the handler's own fields
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: float | None = None  # probe-level terminationGracePeriodSeconds


def probe_spec(kind: str, container: dict, *, time_scale: float = 1.0) -> ProbeSpec | None:
    """The defaulted probe of ``kind`` of ``container`` (None if it has none).

    ``time_scale`` multiplies the delay, period and timeout (tests run probes 10x faster); a
    timeout never shrinks below ``min(timeoutSeconds, 0.5)`` so a loaded machine does not fail
    probes spuriously."""
    p = container.get(_FIELD[kind])
    if not p:
        return None
    handler = next((h for h in HANDLERS if h in p), "")
    period = float(p.get("periodSeconds") or 10)
    timeout = float(p.get("timeoutSeconds") or 1)
    succ = int(p.get("successThreshold") or 1)
    if kind != "readiness":
        succ = 1
    tg = p.get("terminationGracePeriodSeconds")
    return ProbeSpec(
        kind=kind,
        handler=handler,
        action=dict(p.get(handler) or {}) if handler else {},
        initial_delay=float(p.get("initialDelaySeconds") or 0) * time_scale,
        period=period * time_scale,
        timeout=max(timeout * time_scale, min(timeout, 0.5)),
        success_threshold=succ,
        failure_threshold=int(p.get("failureThreshold") or 3),
        termination_grace=None if tg is None else float(tg),
    )


# -- machine ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeState:
    result: str  # the published result: success | failure | unknown
    next_at: float  # when the next probe is due
    last: str | None = None  # last raw result
    run: int = 0  # consecutive raw results equal to ``last``
    on_hold: bool = False  # liveness/startup failed: wait for a new container
    stopped: bool = False  # pod deleting: liveness/startup no longer run
    probes: int = 0  # probes recorded for this container (diagnostics)


def initial_state(spec: ProbeSpec, started_at: float) -> ProbeState:
    """Rule 1: the machine of a container that started at ``started_at``."""
    return ProbeState(result=_INITIAL[spec.kind], next_at=started_at + spec.initial_delay)


def probe_due(spec: ProbeSpec, st: ProbeState, now: float, *, running: bool, started: bool) -> bool:
    """Rule 2: should a probe start now? (``started``: the container passed its startup gate.)"""
    if st.on_hold or st.stopped or not running or now < st.next_at:
        return False
    if spec.kind == "startup":
        return not started
    return started


def on_deletion(spec: ProbeSpec, st: ProbeState) -> ProbeState:
    """Rule 2: the pod got a deletionTimestamp."""
    if spec.kind == "readiness" or st.stopped:
        return st
    return replace(st, result=SUCCESS, stopped=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOutcome:
    state: ProbeState
    changed: bool  # the published result changed
    restart: bool  # liveness/startup failure: kill the container


def probe_record(spec: ProbeSpec, st: ProbeState, result: str | None, *, started_at: float) -> ProbeOutcome:
    """Rule 3: fold one raw result (None = checker error) of a probe begun at ``started_at``."""
    nxt = started_at + spec.period
    if result is None:
        return ProbeOutcome(state=replace(st, next_at=nxt), changed=False, restart=False)
    run = st.run + 1 if st.last == result else 1
    st = replace(st, last=result, run=run, next_at=nxt, probes=st.probes + 1)
    threshold = spec.failure_threshold if result == FAILURE else spec.success_threshold
    if run < threshold:
        return ProbeOutcome(state=st, changed=False, restart=False)
    changed = st.result != result
    st = replace(st, result=result)
    restart = False
    if result == FAILURE and spec.kind in ("liveness", "startup"):
        st = replace(st, on_hold=True, run=0)
        restart = True
    return ProbeOutcome(state=st, changed=changed, restart=restart)


# -- checkers (I/O) ---------------------------------------------------------------------------


def resolve_port(port: int | str | None, container: dict) -> int:
    """A probe's port: a number, a numeric string, or the name of one of the container's ports."""
    if isinstance(port, int):
        if 0 < port < 65536:
            return port
        raise ProbeError(f"invalid port number: {port}")
    if isinstance(port, str) and port:
        if port.isdigit():
            return resolve_port(int(port), container)
        for cp in container.get("ports") or []:
            if cp.get("name") == port:
                return int(cp["containerPort"])
        raise ProbeError(f"couldn't find port: {port} in {container.get('name', '')}")
    raise ProbeError("probe has no port")


async def _tcp(host: str, port: int) -> tuple[str, str]:
    try:
        _r, w = await asyncio.open_connection(host, port)
    except OSError as e:
        return FAILURE, f"dial tcp {host}:{port}: {e.strerror or e}"
    w.close()
    with contextlib.suppress(OSError):
        await w.wait_closed()
    return SUCCESS, ""


async def _http(host: str, port: int, action: dict) -> tuple[str, str]:
    scheme = (action.get("scheme") or "HTTP").upper()
    if scheme != "HTTP":
        raise ProbeError(f"httpGet scheme {scheme} is not supported by the svcnet local kubelet")
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    target = action.get("host") or host
    headers = {"Host": f"{target}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*"}
    for h in action.get("httpHeaders") or []:
        if h.get("name"):
            headers[h["name"]] = h.get("value", "")
    headers["Connection"] = "close"
    req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    try:
        r, w = await asyncio.open_connection(target, port)
    except OSError as e:
        return FAILURE, f"Get \"http://{target}:{port}{path}\": dial tcp: {e.strerror or e}"
    try:
        w.write(req.encode("latin-1"))
        await w.drain()
        line = await r.readline()
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return FAILURE, f"malformed HTTP response: {line[:80]!r}"
        code = int(parts[1])
        body = b""
        with contextlib.suppress(Exception):
            await r.readuntil(b"\r\n\r\n")
            body = await asyncio.wait_for(r.read(MAX_BODY), 0.05)
    except (OSError, asyncio.IncompleteReadError) as e:
        return FAILURE, f"HTTP probe failed: {e}"
    finally:
        w.close()
        with contextlib.suppress(OSError):
            await w.wait_closed()
    text = body.decode("utf-8", "replace")
    if 200 <= code < 400:
        return SUCCESS, text
    return FAILURE, f"HTTP probe failed with statuscode: {code}"


async def _exec(argv: list[str], env: Mapping[str, str] | None, cwd: str | None, timeout: float) -> tuple[str, str]:
    if not argv:
        raise ProbeError("exec probe has no command")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as e:
        raise ProbeError(f"exec {argv[0]!r}: {e.strerror or e}") from None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError) as e:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 2)
        if isinstance(e, asyncio.CancelledError):
            raise
        return FAILURE, f"command {argv!r} timed out"
    finally:
        # a probe command may leave children behind in its session; reap them with it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    text = (out or b"")[:MAX_BODY].decode("utf-8", "replace")
    return (SUCCESS if proc.returncode == 0 else FAILURE), text


async def run_probe(
    spec: ProbeSpec,
    container: dict,
    pod_ip: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> tuple[str | None, str]:
    """Run one probe. Returns ``(result, output)``; ``result`` None means a checker error
    (``output`` says why) whose result must be thrown away."""
    try:
        if spec.handler == "tcpSocket":
            port = resolve_port(spec.action.get("port"), container)
            host = spec.action.get("host") or pod_ip
            coro = _tcp(host, port)
        elif spec.handler == "httpGet":
            port = resolve_port(spec.action.get("port"), container)
            coro = _http(pod_ip, port, spec.action)
        elif spec.handler == "exec":
            argv = list(spec.action.get("command") or [])
            return await _exec(argv, env, cwd, spec.timeout)
        elif spec.handler == "grpc":
            raise ProbeError("grpc probes are not supported by the svcnet local kubelet")
        else:
            raise ProbeError("probe has no handler")
        try:
            return await asyncio.wait_for(coro, spec.timeout)
        except asyncio.TimeoutError:
            return FAILURE, f"{spec.handler} probe timed out after {spec.timeout:g}s"
    except ProbeError as e:
        return None, str(e)
