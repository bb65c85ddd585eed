"""Pod lifecycle decisions: restarts and back-off, phase, container statuses, conditions.

Theory of operation
-------------------
Upstream: ``pkg/kubelet/kubelet_pods.go`` (``getPhase``, ``generateAPIPodStatus``),
``pkg/kubelet/status/generate.go`` (conditions), ``pkg/kubelet/kuberuntime`` (``doBackOff``,
``killContainer``) and ``client-go/util/flowcontrol/backoff.go``.

Each container of a pod has a :class:`ContainerRec`: ``waiting`` → ``running`` →
``terminated``, then per :func:`container_step` either nothing more, a restart now, or a wait
in ``CrashLoopBackOff``. All functions are pure; the agent feeds them events and the time.

1. **Restart policy** (:func:`should_restart`): ``Always`` restarts every exit, ``OnFailure``
   non-zero exits, ``Never`` none.
2. **Back-off** (flowcontrol.Backoff, no jitter, per container): the first restart is
   immediate and opens an entry of ``initial`` (10 s); each later restart waits
   ``finishedAt + entry`` and then doubles the entry, capped at ``max`` (300 s): 0, 10, 20, 40,
   80, 160, 300, 300 s. An entry whose last restart is more than ``2*max`` (10 min) before the
   next exit has expired: the back-off starts over. While waiting the container shows
   ``waiting: CrashLoopBackOff`` with ``back-off 20s restarting failed container=C pod=P`` and
   its last exit in ``lastState``. The base values are parameters (tests use milliseconds).
3. **Phase** (:func:`pod_phase`, ``getPhase``): any container waiting for its first start ⇒
   ``Pending``; any running ⇒ ``Running``; all stopped ⇒ ``Succeeded`` if all exited 0 (or the
   pod is terminal), ``Failed`` under ``Never`` (or terminal), else ``Running`` (restarting).
   A terminal phase never changes back.
4. **Container status**: ``started`` = running and the startup probe succeeded (or there is
   none); ``ready`` = started and the readiness probe succeeded (or there is none).
5. **Conditions** (kubelet-owned, after any others, in upstream order):
   ``PodReadyToStartContainers`` (the pod's IP/sandbox exists), ``Initialized`` (no init
   containers), ``Ready`` (= ``ContainersReady`` and every readiness gate), ``ContainersReady``
   (every container ready; else ``ContainersNotReady``, ``containers with unready status: [..]``;
   terminal pods ``PodCompleted``) and ``PodScheduled``. ``lastTransitionTime`` moves only
   when a condition's status flips.
6. **Termination grace** (:func:`grace_period`): ``metadata.deletionGracePeriodSeconds`` when
   deleting, else ``spec.terminationGracePeriodSeconds`` (default 30, at least 2 s as
   kubelet's ``minimumGracePeriodInSeconds``); a liveness/startup probe may carry its own.
7. **Deletion keeps readiness honest.** A deleting pod stays Ready for as long as its readiness
   probe (or, without one, its running containers) says so — the EndpointSlice controller
   marks it ``terminating`` from ``deletionTimestamp`` and keeps it ``serving`` while Ready,
   which is what lets proxies fall back to serving-terminating endpoints (KEP-1669). Once the
   containers have stopped it is not ready. ``unready_on_delete`` (off by default) forces
   ``Ready=False`` at once instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

__all__ = [
    "BackoffPolicy",
    "ContainerRec",
    "Terminated",
    "WAITING",
    "RUNNING",
    "TERMINAL_PHASES",
    "TERMINATED",
    "backoff_until",
    "build_status",
    "container_status",
    "container_step",
    "crash_loop",
    "go_duration",
    "grace_period",
    "new_container",
    "next_backoff",
    "on_blocked",
    "on_exited",
    "on_started",
    "pod_conditions",
    "pod_phase",
    "rfc3339",
    "should_restart",
]

WAITING, RUNNING, TERMINATED = "waiting", "running", "terminated"
TERMINAL_PHASES = ("Succeeded", "Failed")
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def rfc3339(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` for the values back-off produces: 10s, 1m20s, 5m0s, 50ms."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    s_txt = f"{s:g}s"
    if h:
        return f"{int(h)}h{int(m)}m{s_txt}"
    if m:
        return f"{int(m)}m{s_txt}"
    return s_txt


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    initial: float = 10.0
    max: float = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Terminated:
    exit_code: int
    reason: str
    message: str = ""
    signal: int | None = None
    started_at: float | None = None
    finished_at: float
    container_id: str = ""
    killed_by_probe: bool = False  # a liveness/startup failure killed it (not rendered)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRec:
    name: str
    image: str
    state: str = WAITING
    reason: str = "ContainerCreating"  # waiting reason
    message: str = ""  # waiting message
    container_id: str = ""
    started_at: float | None = None
    terminated: Terminated | None = None  # the current state, when terminated
    last: Terminated | None = None  # lastState.terminated
    restart_count: int = 0
    blocked: bool = False  # cannot be started (ImageNotSupported, CreateContainerConfigError)
    backoff: float = 0.0  # the back-off entry (0: none)
    backoff_at: float | None = None  # when the entry was last moved (a restart)


def new_container(container: dict) -> ContainerRec:
    return ContainerRec(name=container.get("name", ""), image=container.get("image", ""))


def should_restart(policy: str, exit_code: int, *, forced: bool = False) -> bool:
    """Rule 1; ``forced``: a failed liveness/startup probe killed it, which restarts it under
    any policy but ``Never`` (upstream ``computePodActions``), whatever its exit code."""
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code != 0 or forced
    return True


def backoff_until(rec: ContainerRec, finished_at: float, now: float, bp: BackoffPolicy) -> float | None:
    """Rule 2: until when a restart must wait (None: restart now)."""
    if rec.backoff_at is None or finished_at - rec.backoff_at > 2 * bp.max:
        return None
    until = finished_at + rec.backoff
    return until if now < until else None


def next_backoff(rec: ContainerRec, finished_at: float, now: float, bp: BackoffPolicy) -> ContainerRec:
    """Rule 2: a restart happens now; move the entry."""
    if rec.backoff_at is None or finished_at - rec.backoff_at > 2 * bp.max:
        b = bp.initial
    else:
        b = min(rec.backoff * 2, bp.max)
    return replace(rec, backoff=b, backoff_at=now)


def _exit_of(rec: ContainerRec) -> Terminated | None:
    return rec.terminated if rec.state == TERMINATED else (rec.last if rec.state == WAITING else None)


def container_step(rec: ContainerRec, *, policy: str, now: float, bp: BackoffPolicy) -> tuple[str, float | None]:
    """What to do next with one container: ``("start", None)``, ``("backoff", until)`` or
    ``("none", None)``."""
    if rec.blocked or rec.state == RUNNING:
        return "none", None
    term = _exit_of(rec)
    if term is None:
        return "start", None  # never ran
    if rec.state == WAITING and rec.reason not in ("CrashLoopBackOff", "ContainerCreating"):
        return "none", None
    if not should_restart(policy, term.exit_code, forced=term.killed_by_probe):
        return "none", None
    until = backoff_until(rec, term.finished_at, now, bp)
    return ("backoff", until) if until is not None else ("start", None)


def on_started(rec: ContainerRec, container_id: str, now: float, bp: BackoffPolicy) -> ContainerRec:
    term = _exit_of(rec)
    if term is not None:  # a restart
        rec = next_backoff(rec, term.finished_at, now, bp)
        rec = replace(rec, last=term, restart_count=rec.restart_count + 1)
    return replace(rec, state=RUNNING, container_id=container_id, started_at=now, terminated=None, reason="", message="")


def on_exited(rec: ContainerRec, term: Terminated) -> ContainerRec:
    if rec.state == RUNNING and rec.started_at is not None and term.started_at is None:
        term = replace(term, started_at=rec.started_at)
    if not term.container_id:
        term = replace(term, container_id=rec.container_id)
    return replace(rec, state=TERMINATED, terminated=term, reason="", message="")


def crash_loop(rec: ContainerRec, pod_label: str) -> ContainerRec:
    """Rule 2: waiting in back-off; the exit moves to ``lastState``."""
    if rec.state == WAITING and rec.reason == "CrashLoopBackOff":
        return rec
    term = _exit_of(rec)
    msg = f"back-off {go_duration(rec.backoff)} restarting failed container={rec.name} pod={pod_label}"
    return replace(rec, state=WAITING, reason="CrashLoopBackOff", message=msg, last=term, terminated=None)


def on_blocked(rec: ContainerRec, reason: str, message: str) -> ContainerRec:
    return replace(rec, state=WAITING, reason=reason, message=message, blocked=True, terminated=None)


def grace_period(pod: dict, *, probe_grace: float | None = None, deleting: bool = False) -> float:
    """Rule 6."""
    md = pod.get("metadata") or {}
    if deleting and md.get("deletionGracePeriodSeconds") is not None:
        return max(float(md["deletionGracePeriodSeconds"]), 0.0)
    if probe_grace is not None:
        return max(probe_grace, 2.0)
    tg = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return max(float(30 if tg is None else tg), 2.0)


# -- phase and status -------------------------------------------------------------------------


def pod_phase(containers: list[dict], recs: Mapping[str, ContainerRec], policy: str, *, terminal: bool = False, old_phase: str | None = None) -> str:
    """Rule 3 (``getPhase``, without init containers)."""
    if old_phase in TERMINAL_PHASES:
        return old_phase
    waiting = running = stopped = succeeded = unknown = 0
    for c in containers:
        rec = recs.get(c.get("name", ""))
        if rec is None:
            unknown += 1
        elif rec.state == RUNNING:
            running += 1
        elif rec.state == TERMINATED:
            stopped += 1
            succeeded += rec.terminated is not None and rec.terminated.exit_code == 0
        elif rec.last is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _state(rec: ContainerRec) -> dict:
    if rec.state == RUNNING:
        return {"running": {"startedAt": rfc3339(rec.started_at)}}
    if rec.state == TERMINATED and rec.terminated is not None:
        return {"terminated": _terminated(rec.terminated)}
    w: dict = {"reason": rec.reason} if rec.reason else {}
    if rec.message:
        w["message"] = rec.message
    return {"waiting": w}


def _terminated(t: Terminated) -> dict:
    d: dict = {"exitCode": t.exit_code, "reason": t.reason}
    if t.signal:
        d["signal"] = t.signal
    if t.message:
        d["message"] = t.message
    d["startedAt"] = rfc3339(t.started_at)
    d["finishedAt"] = rfc3339(t.finished_at)
    if t.container_id:
        d["containerID"] = t.container_id
    return d


def container_status(rec: ContainerRec, *, ready: bool, started: bool, image_id: str = "") -> dict:
    st: dict = {
        "name": rec.name,
        "state": _state(rec),
        "lastState": {"terminated": _terminated(rec.last)} if rec.last is not None else {},
        "ready": ready,
        "restartCount": rec.restart_count,
        "image": rec.image,
        "imageID": image_id,
        "started": started,
    }
    if rec.container_id and rec.state != WAITING:
        st["containerID"] = rec.container_id
    elif rec.container_id and rec.last is not None:
        st["containerID"] = rec.last.container_id or rec.container_id
    return st


def _cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict:
    c: dict = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def pod_conditions(
    pod: dict,
    statuses: list[dict],
    phase: str,
    *,
    sandbox: bool,
    old: list[dict],
    now: float,
) -> list[dict]:
    """Rule 5: every condition, kubelet-owned ones regenerated, others kept."""
    spec = pod.get("spec") or {}
    kept = [c for c in old if c.get("type") not in KUBELET_CONDITIONS]
    terminal = phase in TERMINAL_PHASES
    if terminal:
        creason, cmsg, cok = "PodCompleted", "", False
    else:
        names = {s["name"] for s in statuses}
        unknown = [c.get("name", "") for c in spec.get("containers") or [] if c.get("name") not in names]
        unready = [s["name"] for s in statuses if not s.get("ready")]
        parts = []
        if unknown:
            parts.append(f"containers with unknown status: [{' '.join(unknown)}]")
        if unready:
            parts.append(f"containers with unready status: [{' '.join(unready)}]")
        cok = not parts
        creason, cmsg = ("", "") if cok else ("ContainersNotReady", ", ".join(parts))
    ready_ok, rreason, rmsg = cok, creason, cmsg
    if cok:
        by_type = {c.get("type"): c for c in old}
        gate_msgs = []
        for gate in spec.get("readinessGates") or []:
            t = gate.get("conditionType", "")
            c = by_type.get(t)
            if c is None:
                gate_msgs.append(f'corresponding condition of pod readiness gate "{t}" does not exist.')
            elif c.get("status") != "True":
                gate_msgs.append(f'the status of pod readiness gate "{t}" is not "True", but {c.get("status")}')
        if gate_msgs:
            ready_ok, rreason, rmsg = False, "ReadinessGatesNotReady", ", ".join(gate_msgs)
    conds = kept + [
        _cond("PodReadyToStartContainers", sandbox and not terminal),
        _cond("Initialized", True),
        _cond("Ready", ready_ok, rreason, rmsg),
        _cond("ContainersReady", cok, creason, cmsg),
        _cond("PodScheduled", True),
    ]
    prev = {c.get("type"): c for c in old}
    for c in conds:
        if c.get("type") not in KUBELET_CONDITIONS:
            continue
        p = prev.get(c["type"])
        if p is not None and p.get("status") == c["status"] and p.get("lastTransitionTime"):
            c["lastTransitionTime"] = p["lastTransitionTime"]
        else:
            c["lastTransitionTime"] = rfc3339(now)
    return conds


def build_status(
    pod: dict,
    recs: Mapping[str, ContainerRec],
    *,
    probe_results: Mapping[tuple[str, str], str],
    pod_ip: str | None,
    host_ip: str,
    start_time: float | None,
    now: float,
    terminal: bool = False,
    sandbox: bool = True,
    unready: bool = False,
    image_ids: Mapping[str, str] | None = None,
) -> dict:
    """The whole ``status`` of ``pod`` (rules 3-5); fields we do not own are kept."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = []
    for c in containers:
        rec = recs.get(c.get("name", ""))
        if rec is None:
            continue
        running = rec.state == RUNNING
        startup = probe_results.get((rec.name, "startup"))
        readiness = probe_results.get((rec.name, "readiness"))
        started = running and (startup is None or startup == "success")
        ready = started and (readiness is None or readiness == "success") and not unready
        statuses.append(container_status(rec, ready=ready, started=started, image_id=(image_ids or {}).get(rec.name, "")))
    phase = pod_phase(containers, recs, spec.get("restartPolicy") or "Always", terminal=terminal, old_phase=old.get("phase"))
    if phase in TERMINAL_PHASES:
        for s in statuses:
            s["ready"] = False
    status = {k: v for k, v in old.items() if k not in ("phase", "conditions", "containerStatuses", "podIP", "podIPs", "hostIP", "hostIPs", "startTime")}
    status["phase"] = phase
    status["conditions"] = pod_conditions(pod, statuses, phase, sandbox=sandbox, old=old.get("conditions") or [], now=now)
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    elif old.get("podIP"):
        status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs") or [{"ip": old["podIP"]}]
    st = old.get("startTime") or rfc3339(start_time)
    if st:
        status["startTime"] = st
    status["containerStatuses"] = statuses
    return status
