"""The node agent (kubelet) of local mode: runs the pods bound to its node as host processes.

Theory of operation
-------------------
:class:`Kubelet` registers its ``Node`` (InternalIP/Hostname addresses, ``spec.podCIDR(s)``,
labels ``kubernetes.io/hostname``/``os``/``arch`` and optionally
``topology.kubernetes.io/zone``, conditions with ``Ready=True``) and renews the conditions'
``lastHeartbeatTime`` every ``heartbeat_interval`` (10 s). It watches the pods with
``spec.nodeName == <node>`` through an :class:`~svcnet.client.informer.Informer` (falling back
to client-side filtering if the server rejects that field selector) and the services (for
environment variables).

Each pod gets a :class:`PodWorker`: one asyncio task that owns the pod's containers, probes
and status. Its loop: decide with the pure core (:mod:`.pods`, :mod:`.probes`), act (start a
process, launch a probe, kill a container), publish the status, sleep until the next event or
deadline. The pod's IP comes from :class:`~svcnet.kubelet.ipam.PodIPAM` (next-fit: a replacement
pod gets a new IP); ``hostNetwork`` pods use the node IP.

Status is written with ``update_status`` only when it differs from what the API holds and what
was last written (no write storms); a ``Conflict`` re-reads the pod and recomputes.

**Deletion.** A pod with ``deletionTimestamp`` (or one that disappears) is terminated: liveness
and startup probes stop, readiness keeps being probed (see :mod:`.pods` rule 7), every container
gets SIGTERM, then SIGKILL after ``deletionGracePeriodSeconds``; the final status (containers
terminated, not ready) is written, the IP released, and the pod deleted with grace period 0 (a
UID precondition guards against deleting a successor of the same name).

**Restart of the agent.** Stale processes of a previous run are killed first (see
:mod:`.runtime`; they also die with their parent via ``PR_SET_PDEATHSIG``). The IPAM is rebuilt
from the ``status.podIP`` of live pods on the node, so pods keep their IPs; their containers are
started afresh with ``restartCount + 1`` and a ``lastState`` of ``ContainerStatusUnknown``.

:meth:`Kubelet.stop` stops every container (SIGTERM, grace, SIGKILL), writes the pods' statuses
(containers terminated, not ready) and marks the node ``Ready=Unknown``
(``NodeStatusUnknown``) — the node lifecycle controller's job upstream, which svcnet does not
run in local mode.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import svcnet
from svcnet.api.errors import APIError, BadRequest, Conflict, NotFound
from svcnet.client.base import Client
from svcnet.client.events import EventRecorder
from svcnet.client.informer import Informer
from svcnet.kubelet import pods as P
from svcnet.kubelet.envvars import EnvError, container_env, expand_command
from svcnet.kubelet.images import ENV_PORTS, REASON_NOT_SUPPORTED, format_ports, plan_exec
from svcnet.kubelet.ipam import IPAMExhausted, PodIPAM
from svcnet.kubelet.node import NodeRegistration
from svcnet.kubelet.lifecycle import MIN_GRACE_AFTER_HOOK, run_pre_stop
from svcnet.kubelet.logs import LogRequestError, LogServer
from svcnet.kubelet.probes import (
    KINDS,
    SUCCESS,
    ProbeSpec,
    ProbeState,
    initial_state,
    on_deletion,
    probe_due,
    probe_record,
    probe_spec,
    run_probe,
)
from svcnet.kubelet.runtime import ContainerConfig, ProcessRuntime, StartFailed
from svcnet.tasks import cancel_and_wait

__all__ = ["Kubelet", "PodWorker"]

log = logging.getLogger(__name__)
_SRC = str(Path(svcnet.__file__).resolve().parent.parent)


def _parse_time(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return float(calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _rv(obj: dict | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


async def _stop_informer(inf: Informer) -> None:
    """Stop an informer even if a cancellation gets lost: on Python 3.11 ``asyncio.wait_for``
    swallows a cancel that lands in the same loop iteration as the awaited event (CPython
    gh-86296), which the in-process watch can hit; cancelling again then works."""
    for _ in range(5):
        try:
            await asyncio.wait_for(inf.stop(), 1.0)
            return
        except asyncio.TimeoutError:
            continue
    log.warning("informer %s did not stop", inf.name)


class PodWorker:
    """Runs one pod (one UID) on this node until it is gone."""

    def __init__(self, kl: "Kubelet", pod: dict):
        self.kl = kl
        self.pod = pod
        md = pod.get("metadata") or {}
        self.ns, self.name, self.uid = md.get("namespace") or "default", md.get("name", ""), md.get("uid", "")
        self.label = f"{self.name}_{self.ns}({self.uid})"
        self.dir = kl.state_dir / "pods" / f"{self.ns}_{self.name}_{self.uid}"
        self.recs: dict[str, P.ContainerRec] = {}
        self.procs: dict = {}
        self.envs: dict[str, dict] = {}
        self.image_ids: dict[str, str] = {}
        self.specs: dict[tuple[str, str], ProbeSpec] = {}
        self.pstates: dict[tuple[str, str], ProbeState] = {}
        self.probe_tasks: dict[tuple[str, str], asyncio.Task] = {}
        self.tasks: dict[str, asyncio.Task] = {}  # start/kill/exit-watch per container
        self.ip: str | None = None
        self.start_time: float | None = None
        self.gone = False
        self.terminating = False
        self.terminal_at_start = (pod.get("status") or {}).get("phase") in P.TERMINAL_PHASES
        self.written: dict | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    # -- inputs ------------------------------------------------------------------------------

    def update(self, pod: dict) -> None:
        if _rv(pod) >= _rv(self.pod):
            self.pod = pod
        self.wake.set()

    def removed(self) -> None:
        self.gone = True
        self.wake.set()

    @property
    def deleting(self) -> bool:
        return self.gone or self.kl.stopping or bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    # -- loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            if self.terminal_at_start:
                await self._terminal_idle()
                return
            self._setup()
            while True:
                self.wake.clear()
                now = self.kl.clock()
                wake_at = self._terminate_step(now) if self.deleting else self._step(now)
                if self.deleting and not self._busy():
                    await self._finish()
                    return
                await self._publish()
                if self._phase() in P.TERMINAL_PHASES and not self.deleting:
                    self._release_ip()
                    wake_at = None
                timeout = None if wake_at is None else max(wake_at - self.kl.clock(), 0.0)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout)
        except asyncio.CancelledError:
            await self._kill_now()
            raise
        except Exception:
            log.exception("pod %s/%s: worker failed", self.ns, self.name)
            await self._kill_now()

    async def _terminal_idle(self) -> None:
        """A pod that already finished (from a previous run): only wait for its deletion."""
        while not self.deleting:
            self.wake.clear()
            await self.wake.wait()
        if not self.gone and not self.kl.stopping:
            await self._delete_object()

    def _setup(self) -> None:
        spec = self.pod.get("spec") or {}
        now = self.kl.clock()
        self.start_time = now
        if spec.get("hostNetwork"):
            self.ip = self.kl.node_ip
        else:
            try:
                self.ip = self.kl.ipam.allocate(self.uid)
                self.kl.save_ipam()
            except IPAMExhausted as e:
                self.ip = None
                log.warning("pod %s/%s: %s", self.ns, self.name, e)
        old = {s.get("name"): s for s in (self.pod.get("status") or {}).get("containerStatuses") or []}
        for c in spec.get("containers") or []:
            rec = P.new_container(c)
            prev = old.get(rec.name)
            if prev is not None:
                rec = self._seed(rec, prev, now)
            if self.ip is None:
                rec = P.on_blocked(rec, "PodIPExhausted", f"no free pod IP left in {self.kl.ipam.cidr}")
            elif spec.get("initContainers"):
                rec = P.on_blocked(rec, "InitContainersNotSupported", "the svcnet local kubelet does not run initContainers")
            else:
                plan = plan_exec(c, self.kl.python)
                if plan.error:
                    rec = P.on_blocked(rec, REASON_NOT_SUPPORTED, plan.error)
            self.recs[rec.name] = rec
            for kind in KINDS:
                ps = probe_spec(kind, c, time_scale=self.kl.probe_time_scale)
                if ps is not None:
                    self.specs[(rec.name, kind)] = ps

    @staticmethod
    def _seed(rec: P.ContainerRec, prev: dict, now: float) -> P.ContainerRec:
        """A container a previous agent ran: it is gone; count it as exited (restart below)."""
        st = prev.get("state") or {}
        last = None
        if "running" in st or "terminated" in st:
            t = st.get("terminated") or {}
            last = P.Terminated(
                exit_code=int(t.get("exitCode", 137)),
                reason=t.get("reason") or "ContainerStatusUnknown",
                message=t.get("message") or ("The container could not be located when the node agent restarted" if "running" in st else ""),
                started_at=_parse_time((st.get("running") or t).get("startedAt")),
                finished_at=_parse_time(t.get("finishedAt")) or now,
                container_id=prev.get("containerID", ""),
            )
        else:
            lt = (prev.get("lastState") or {}).get("terminated")
            if lt:
                last = P.Terminated(
                    exit_code=int(lt.get("exitCode", 0)), reason=lt.get("reason", ""), message=lt.get("message", ""),
                    started_at=_parse_time(lt.get("startedAt")), finished_at=_parse_time(lt.get("finishedAt")) or now,
                    container_id=lt.get("containerID", ""),
                )
        if last is None:
            return rec
        return replace(rec, last=last, restart_count=int(prev.get("restartCount") or 0))

    def _containers(self) -> dict[str, dict]:
        return {c.get("name", ""): c for c in (self.pod.get("spec") or {}).get("containers") or []}

    def _busy(self) -> bool:
        return any(not t.done() for t in self.tasks.values() if t.get_name().startswith(("start", "kill"))) or any(
            c.running for c in self.procs.values()
        )

    def _phase(self) -> str:
        spec = self.pod.get("spec") or {}
        return P.pod_phase(spec.get("containers") or [], self.recs, spec.get("restartPolicy") or "Always",
                           old_phase=(self.pod.get("status") or {}).get("phase"))

    def _step(self, now: float) -> float | None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        wake: list[float] = []
        for name, rec in list(self.recs.items()):
            if self._task_running(name):
                continue
            action, until = P.container_step(rec, policy=policy, now=now, bp=self.kl.backoff)
            if action == "start":
                self._spawn(name, "start", self._start(name))
            elif action == "backoff" and until is not None:
                self.recs[name] = P.crash_loop(rec, self.label)
                self.kl.events.record(self.pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {self.label}", kind="Pod")
                wake.append(until)
        wake += self._probe_step(now, only_readiness=False)
        return min(wake) if wake else None

    def _terminate_step(self, now: float) -> float | None:
        if not self.terminating:
            self.terminating = True
            for key, ps in self.specs.items():
                if key in self.pstates:
                    self.pstates[key] = on_deletion(ps, self.pstates[key])
        for name, proc in list(self.procs.items()):
            if proc.running and not self._task_running(name):
                self._spawn(name, "kill", self._kill(name, self._grace(), pre_stop=True))
        return min(self._probe_step(now, only_readiness=True), default=None)

    def _grace(self) -> float:
        g = P.grace_period(self.pod, deleting=True)
        if self.kl.stopping and self.kl.stop_grace is not None:
            g = min(g, self.kl.stop_grace)
        return g

    def _probe_step(self, now: float, *, only_readiness: bool) -> list[float]:
        wake = []
        for key, ps in self.specs.items():
            name, kind = key
            st = self.pstates.get(key)
            rec = self.recs.get(name)
            if st is None or rec is None or rec.state != P.RUNNING or (only_readiness and kind != "readiness"):
                continue
            if key in self.probe_tasks or (self._task_running(name) and not only_readiness):
                continue  # (a container being killed for deletion keeps its readiness probe)
            started = self._started(name)
            if probe_due(ps, st, now, running=True, started=started):
                self.probe_tasks[key] = asyncio.ensure_future(self._probe(key, now, rec.container_id))
            elif not st.on_hold and not st.stopped and (started == (kind != "startup")):
                wake.append(st.next_at)
        return wake

    def _started(self, name: str) -> bool:
        st = self.pstates.get((name, "startup"))
        return st is None or st.result == SUCCESS

    def _task_running(self, name: str) -> bool:
        t = self.tasks.get(name)
        return t is not None and not t.done() and t.get_name().startswith(("start", "kill"))

    def _spawn(self, name: str, what: str, coro) -> None:
        self.tasks[name] = asyncio.ensure_future(coro)
        self.tasks[name].set_name(f"{what}-{self.name}-{name}")

    # -- actions -----------------------------------------------------------------------------

    async def _start(self, name: str) -> None:
        c = self._containers()[name]
        rec = self.recs[name]
        now = self.kl.clock()
        try:
            env = container_env(self.pod, c, pod_ip=self.ip or "", host_ip=self.kl.node_ip, services=self.kl.services())
        except EnvError as e:
            self.recs[name] = P.on_blocked(rec, "CreateContainerConfigError", str(e))
            self.wake.set()
            return
        plan = plan_exec(c, self.kl.python)
        argv = expand_command(plan.argv, env)
        if plan.standin is not None:
            argv = list(plan.argv[:4]) + argv[4:]  # never expand the interpreter's own words
            env[ENV_PORTS] = format_ports(c.get("ports"))
            env["SVCNET_IMAGE"] = c.get("image", "")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH", "")) if p)
            self.image_ids[name] = f"svcnet-standin://{plan.standin.kind}"
        # a host process still needs a PATH, a locale and a HOME; nothing else leaks from the agent
        base = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8")}
        if os.environ.get("HOME"):
            base["HOME"] = os.environ["HOME"]
        env = {**base, **env}
        self.envs[name] = env
        restarts = rec.restart_count + (1 if rec.last is not None or rec.terminated is not None else 0)
        cid = "svcnet://" + uuid.uuid4().hex
        cfg = ContainerConfig(
            container_id=cid.removeprefix("svcnet://"),
            argv=tuple(argv),
            env=env,
            cwd=c.get("workingDir") or str(self.dir),
            log_path=str(self.dir / name / f"{restarts}.log"),
            fallback_to_logs=c.get("terminationMessagePolicy") == "FallbackToLogsOnError",
        )
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            proc = await self.kl.runtime.start(cfg)
        except (StartFailed, OSError) as e:
            # counts as a run that failed at once: restart policy and back-off apply
            reason, msg = (e.reason, e.message) if isinstance(e, StartFailed) else ("StartError", str(e))
            self.kl.events.record(self.pod, "Warning", "Failed", f"Error: {msg}", kind="Pod")
            rec = P.on_started(rec, cid, now, self.kl.backoff)
            self.recs[name] = P.on_exited(rec, P.Terminated(exit_code=128, reason=reason, message=msg, finished_at=self.kl.clock()))
            self.wake.set()
            return
        self.procs[name] = proc
        self.recs[name] = P.on_started(rec, cid, proc.started_at, self.kl.backoff)
        self.kl.events.record(self.pod, "Normal", "Created", f"Created container: {name}", kind="Pod")
        self.kl.events.record(self.pod, "Normal", "Started", f"Started container {name}", kind="Pod")
        for kind in KINDS:
            ps = self.specs.get((name, kind))
            if ps is not None:
                self.pstates[(name, kind)] = initial_state(ps, proc.started_at)
        self.tasks[f"exit:{name}"] = asyncio.ensure_future(self._watch(name, proc, cid))
        self.wake.set()

    async def _watch(self, name: str, proc, cid: str) -> None:
        status = await proc.wait()
        rec = self.recs[name]
        if rec.container_id != cid:
            return
        for kind in KINDS:
            t = self.probe_tasks.pop((name, kind), None)
            if t is not None:
                t.cancel()
        killed = any(getattr(self.pstates.get((name, k)), "on_hold", False) for k in ("liveness", "startup"))
        term = P.Terminated(
            exit_code=status.exit_code, reason=status.reason, message=status.message, signal=status.signal,
            started_at=status.started_at, finished_at=status.finished_at, container_id=cid, killed_by_probe=killed,
        )
        self.recs[name] = P.on_exited(rec, term)
        self.wake.set()

    async def _kill(self, name: str, grace: float, *, pre_stop: bool = False) -> None:
        proc = self.procs.get(name)
        if proc is not None:
            if proc.running:
                self.kl.events.record(self.pod, "Normal", "Killing", f"Stopping container {name}", kind="Pod")
            if pre_stop and proc.running:
                grace = await self._pre_stop(name, grace)
            await proc.stop(grace)
            w = self.tasks.get(f"exit:{name}")
            if w is not None:
                await asyncio.shield(w)
        self.wake.set()

    async def _pre_stop(self, name: str, grace: float) -> float:
        """Run the preStop hook inside the grace period; the grace left for SIGTERM."""
        c = self._containers().get(name, {})
        if not (c.get("lifecycle") or {}).get("preStop"):
            return grace
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        cwd = c.get("workingDir") or (str(self.dir) if self.dir.exists() else None)
        err = await run_pre_stop(c, self.ip or "", env=self.envs.get(name), cwd=cwd, timeout=grace)
        if err:
            log.info("pod %s/%s: container %s: %s", self.ns, self.name, name, err)
        left = grace - (loop.time() - t0)
        return left if left > 0 else MIN_GRACE_AFTER_HOOK

    async def _probe(self, key: tuple[str, str], started_at: float, cid: str) -> None:
        name, kind = key
        ps = self.specs[key]
        c = self._containers().get(name, {})
        cwd = c.get("workingDir") or (str(self.dir) if self.dir.exists() else None)
        try:
            result, output = await run_probe(ps, c, self.ip or "", env=self.envs.get(name), cwd=cwd)
        finally:
            self.probe_tasks.pop(key, None)
        rec = self.recs.get(name)
        st = self.pstates.get(key)
        if rec is None or st is None or rec.container_id != cid or rec.state != P.RUNNING:
            return
        out = probe_record(ps, st, result, started_at=started_at)
        self.pstates[key] = out.state
        if result is None:
            log.info("pod %s/%s: %s probe of %s errored: %s", self.ns, self.name, kind, name, output)
        elif not result:
            self.kl.events.record(self.pod, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output}".rstrip(": "), kind="Pod")
        if out.restart and not self.deleting:
            log.info("pod %s/%s: container %s failed %s probe, will be restarted", self.ns, self.name, name, kind)
            grace = P.grace_period(self.pod, probe_grace=ps.termination_grace)
            self._spawn(name, "kill", self._kill(name, grace))
        self.wake.set()

    async def _kill_now(self) -> None:
        for t in list(self.probe_tasks.values()):
            t.cancel()
        await asyncio.gather(*(p.stop(0) for p in self.procs.values() if p.running), return_exceptions=True)

    # -- status ------------------------------------------------------------------------------

    def _status(self, *, terminal: bool = False, sandbox: bool = True) -> dict:
        results = {k: st.result for k, st in self.pstates.items()}
        for key in self.specs:
            results.setdefault(key, "unknown" if key[1] == "startup" else "failure")
        unready = self.terminating and self.kl.unready_on_delete
        return P.build_status(
            self.pod, self.recs, probe_results=results, pod_ip=self.ip, host_ip=self.kl.node_ip,
            start_time=self.start_time, now=self.kl.clock(), terminal=terminal, sandbox=sandbox,
            unready=unready, image_ids=self.image_ids,
        )

    async def _publish(self, *, terminal: bool = False, sandbox: bool = True) -> None:
        if self.gone:
            return
        for _attempt in range(5):
            status = self._status(terminal=terminal, sandbox=sandbox)
            if status == self.written or status == (self.pod.get("status") or {}):
                return
            obj = dict(self.pod)
            obj["status"] = status
            try:
                new = await self.kl.client.update_status("pods", obj, self.ns)
            except Conflict:
                try:
                    fresh = await self.kl.client.get("pods", self.name, self.ns)
                except NotFound:
                    self.gone = True
                    return
                if (fresh.get("metadata") or {}).get("uid") != self.uid:
                    self.gone = True
                    return
                self.pod = fresh
                continue
            except NotFound:
                self.gone = True
                return
            except APIError as e:
                log.warning("pod %s/%s: status update failed: %s", self.ns, self.name, e)
                return
            self.written = status
            if _rv(new) >= _rv(self.pod):
                self.pod = new
            return

    async def _finish(self) -> None:
        """Every container has stopped: final status, release, delete."""
        if self.kl.stopping and not self.gone and not (self.pod.get("metadata") or {}).get("deletionTimestamp"):
            await self._publish(sandbox=False)  # the agent stops; the pod stays and restarts later
            return
        await self._publish(terminal=True, sandbox=False)
        self._release_ip()
        shutil.rmtree(self.dir, ignore_errors=True)
        if not self.gone:
            await self._delete_object()

    async def _delete_object(self) -> None:
        try:
            await self.kl.client.delete("pods", self.name, self.ns, grace_period_seconds=0, preconditions={"uid": self.uid})
        except (NotFound, Conflict):
            pass
        except APIError as e:
            log.warning("pod %s/%s: final delete failed: %s", self.ns, self.name, e)

    def _release_ip(self) -> None:
        if self.ip is not None and self.ip != self.kl.node_ip:
            self.kl.ipam.release(self.uid)


class Kubelet:
    """The local-mode node agent."""

    def __init__(
        self,
        client: Client,
        node_name: str,
        node_ip: str,
        pod_cidr: str,
        state_dir: str | os.PathLike[str],
        *,
        probe_time_scale: float = 1.0,
        backoff_initial: float = 10.0,
        backoff_max: float = 300.0,
        heartbeat_interval: float = 10.0,
        unready_on_delete: bool = False,
        stop_grace: float | None = None,
        zone: str | None = None,
        python: str = sys.executable,
        kubelet_port: int = 0,
    ):
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_cidr = pod_cidr
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.probe_time_scale = probe_time_scale
        self.backoff = P.BackoffPolicy(initial=backoff_initial, max=backoff_max)
        self.heartbeat_interval = heartbeat_interval
        self.unready_on_delete = unready_on_delete
        self.stop_grace = stop_grace
        self.zone = zone
        self.python = python
        self.clock = time.time
        self.ipam = PodIPAM(pod_cidr)
        self.runtime = ProcessRuntime(self.state_dir)
        #: /containerLogs on node_ip:kubelet_port (0: any free port), recorded in the Node
        self.kubelet_port = kubelet_port
        self.log_server = LogServer(self._log_dir, self._container_running)
        self.events = EventRecorder(client, "kubelet", host=node_name)
        self.workers: dict[tuple[str, str], PodWorker] = {}
        self.retired: set[PodWorker] = set()
        self.stopping = False
        self.pods: Informer | None = None
        self.services_informer: Informer | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self._started = False
        self.node = NodeRegistration(client, node_name, node_ip, self.ipam.cidr, pods=self.ipam.size, zone=zone, clock=lambda: self.clock())

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Start, then serve until :meth:`stop`."""
        await self.start()
        await self._stopped.wait()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        killed = self.runtime.cleanup_leftovers()
        if killed:
            log.info("killed %d processes left by a previous agent", len(killed))
        self.node.kubelet_port = await self.log_server.start(self.node_ip, self.kubelet_port)
        await self.node.register()
        self._tasks.append(asyncio.ensure_future(self.node.heartbeat(self.heartbeat_interval)))
        self.services_informer = Informer(self.client, "services", name=f"kubelet-{self.node_name}-services")
        self.services_informer.start()
        await self.services_informer.wait_synced(10)
        selector: str | None = f"spec.nodeName={self.node_name}"
        try:
            lst = await self.client.list("pods", all_namespaces=True, field_selector=selector)
        except BadRequest:
            selector = None
            lst = await self.client.list("pods", all_namespaces=True)
        self._restore_ipam(lst.get("items") or [])
        self.pods = Informer(self.client, "pods", field_selector=selector, name=f"kubelet-{self.node_name}-pods")
        self.pods.add_handler(self._on_pod, lambda _old, new: self._on_pod(new), self._on_pod_deleted)
        self.pods.start()
        await self.pods.wait_synced(10)

    async def stop(self) -> None:
        """Stop every container cleanly, write final statuses, mark the node not ready."""
        if self.stopping:
            await self._stopped.wait()
            return
        self.stopping = True
        if self.pods is not None:
            await _stop_informer(self.pods)
        for w in self._all_workers():
            w.wake.set()
        tasks = [w.task for w in self._all_workers() if w.task is not None]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=(self.stop_grace or 30) + 10)
            for t in pending:
                t.cancel()
        await self.runtime.stop_all(0)
        await cancel_and_wait(self._tasks)
        await self.log_server.stop()
        await self.events.close()
        if self.services_informer is not None:
            await _stop_informer(self.services_informer)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.node.post_status(ready=False), 5)
        self._stopped.set()

    def _all_workers(self) -> list[PodWorker]:
        return list(self.workers.values()) + list(self.retired)

    def _worker(self, namespace: str, pod: str) -> PodWorker | None:
        """The pod's worker, also while it is terminating (retired)."""
        w = self.workers.get((namespace, pod))
        if w is None:
            w = next((r for r in self.retired if (r.ns, r.name) == (namespace, pod)), None)
        return w

    def _container_running(self, namespace: str, pod: str, container: str) -> bool:
        w = self._worker(namespace, pod)
        proc = w.procs.get(container) if w is not None else None
        return proc is not None and proc.running

    def _log_dir(self, namespace: str, pod: str, container: str) -> Path:
        """Where a container of a pod on this node logs (for the log server)."""
        w = self._worker(namespace, pod)
        if w is None:
            raise LogRequestError(f'pod "{pod}" in namespace "{namespace}" is not running on node {self.node_name}')
        names = [c.get("name") for c in (w.pod.get("spec") or {}).get("containers") or []]
        if container not in names:
            raise LogRequestError(f"container {container} is not valid for pod {pod}")
        return w.dir / container

    # -- pods --------------------------------------------------------------------------------

    def services(self) -> list[dict]:
        return self.services_informer.list() if self.services_informer is not None else []

    def _restore_ipam(self, items: list[dict]) -> None:
        in_use = {}
        for p in items:
            if (p.get("spec") or {}).get("nodeName") != self.node_name or (p.get("spec") or {}).get("hostNetwork"):
                continue
            st = p.get("status") or {}
            if st.get("phase") in P.TERMINAL_PHASES or not st.get("podIP"):
                continue
            in_use[st["podIP"]] = (p.get("metadata") or {}).get("uid", "")
        last = None
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((self.state_dir / "ipam.json").read_text())
            if data.get("cidr") == self.ipam.cidr:
                last = data.get("last")
        rejected = self.ipam.restore(in_use, last)
        if rejected:
            log.warning("pod IPs not restored (outside %s or duplicated): %s", self.ipam.cidr, rejected)

    def save_ipam(self) -> None:
        with contextlib.suppress(OSError):
            (self.state_dir / "ipam.json").write_text(json.dumps({"cidr": self.ipam.cidr, "last": self.ipam.last}))

    def _on_pod(self, pod: dict) -> None:
        if (pod.get("spec") or {}).get("nodeName") != self.node_name:
            self._on_pod_deleted(pod)  # (only without the server-side field selector)
            return
        if self.stopping:
            return
        md = pod.get("metadata") or {}
        key = (md.get("namespace") or "default", md.get("name", ""))
        w = self.workers.get(key)
        if w is not None and w.uid != md.get("uid"):
            self._retire(key)
            w = None
        if w is None:
            w = PodWorker(self, pod)
            self.workers[key] = w
            w.task = asyncio.ensure_future(w.run())
            w.task.add_done_callback(lambda _t, w=w: self._worker_done(w))
        else:
            w.update(pod)

    def _on_pod_deleted(self, pod: dict) -> None:
        md = pod.get("metadata") or {}
        key = (md.get("namespace") or "default", md.get("name", ""))
        w = self.workers.get(key)
        if w is not None and w.uid == md.get("uid"):
            self._retire(key)

    def _retire(self, key: tuple[str, str]) -> None:
        w = self.workers.pop(key)
        self.retired.add(w)
        w.removed()

    def _worker_done(self, w: PodWorker) -> None:
        self.retired.discard(w)
        if self.workers.get((w.ns, w.name)) is w:
            del self.workers[(w.ns, w.name)]
