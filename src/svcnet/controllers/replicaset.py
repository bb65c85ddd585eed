"""The ReplicaSet controller: keep ``spec.replicas`` pods alive.

Pure core: :func:`plan` compares the owned, active pods with the wanted count and says how many
pods to create and which to delete (upstream's ranking: unscheduled before scheduled, pending
before running, not ready before ready, more restarts and younger first), and :func:`status`
computes the status block. The driver keeps "expectations" (pods it created or deleted that the
informer has not shown yet) so a burst of events never creates twice; a deleted or terminating
pod stops counting at once, so its replacement is created immediately with a new name and IP.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

from svcnet.api.errors import Conflict, NotFound
from svcnet.api.labels import selector_from_label_selector
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers
from svcnet.client.events import EventRecorder

__all__ = ["ReplicaSetController", "Plan", "is_pod_active", "is_pod_ready", "owned_by", "plan", "pod_from_template", "status"]

log = logging.getLogger(__name__)

#: at most this many pod creations per sync, like upstream's slow-start batching cap
BURST = 500


def owned_by(obj: dict, uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in (obj.get("metadata") or {}).get("ownerReferences") or [])


def controller_ref(obj: dict) -> dict | None:
    return next((r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("controller")), None)


def is_pod_active(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def is_pod_ready(pod: dict) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _delete_rank(pod: dict) -> tuple:
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(st.get("phase", ""), 0)
    restarts = sum(c.get("restartCount", 0) for c in st.get("containerStatuses") or [])
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    # lower sorts first = deleted first; a younger pod (later timestamp) goes before an older one
    return (bool(spec.get("nodeName")), phase_rank, is_pod_ready(pod), -restarts, _neg(created))


def _neg(ts: str) -> tuple:
    return tuple(-ord(ch) for ch in ts)


@dataclass(frozen=True, slots=True)
class Plan:
    create: int = 0
    delete: tuple[dict, ...] = ()


def plan(replicas: int, active: list[dict]) -> Plan:
    diff = replicas - len(active)
    if diff > 0:
        return Plan(create=min(diff, BURST))
    if diff < 0:
        return Plan(delete=tuple(sorted(active, key=_delete_rank)[: -diff]))
    return Plan()


def status(rs: dict, pods: list[dict]) -> dict:
    """The status the controller writes for ``rs`` given its owned pods."""
    active = [p for p in pods if is_pod_active(p)]
    tmpl_labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    fully = [p for p in active if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in tmpl_labels.items())]
    ready = [p for p in active if is_pod_ready(p)]
    st = {
        "replicas": len(active),
        "fullyLabeledReplicas": len(fully),
        "readyReplicas": len(ready),
        "availableReplicas": len(ready),
        "observedGeneration": (rs.get("metadata") or {}).get("generation", 1),
    }
    # upstream omits zero counts (omitempty)
    return {k: v for k, v in st.items() if v or k in ("replicas", "observedGeneration")}


def pod_from_template(owner: dict, owner_kind: str = "ReplicaSet", owner_api: str = "apps/v1") -> dict:
    md = owner["metadata"]
    tmpl = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    tmd = tmpl.get("metadata") or {}
    pod_md: dict = {
        "generateName": f"{md['name']}-",
        "namespace": md.get("namespace", "default"),
        "labels": dict(tmd.get("labels") or {}),
        "ownerReferences": [
            {
                "apiVersion": owner_api,
                "kind": owner_kind,
                "name": md["name"],
                "uid": md["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if tmd.get("annotations"):
        pod_md["annotations"] = dict(tmd["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_md, "spec": tmpl.get("spec") or {}}


@dataclass
class _Expectations:
    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


class ReplicaSetController:
    def __init__(self, client: Client, *, workers: int = 2):
        self.client = client
        self.workers = workers
        self.rs = Informer(client, "replicasets")
        self.pods = Informer(client, "pods")
        self.queue = WorkQueue()
        self.events = EventRecorder(client, "replicaset-controller")
        self._expect: dict[tuple[str, str], _Expectations] = {}

    def _owner_key(self, pod: dict) -> tuple[str, str] | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        return (pod["metadata"].get("namespace", ""), ref["name"])

    def _on_pod(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)

    def _on_rs(self, rs: dict) -> None:
        self.queue.add((rs["metadata"].get("namespace", ""), rs["metadata"]["name"]))

    async def run(self) -> None:
        self.rs.add_handler(self._on_rs, lambda _o, n: self._on_rs(n), self._on_rs)
        self.pods.add_handler(self._on_pod, lambda o, n: (self._on_pod(o), self._on_pod(n)), self._on_pod)
        tasks = [self.rs.start(), self.pods.start()]
        try:
            await self.rs.wait_synced()
            await self.pods.wait_synced()
            await run_workers(self.queue, self._sync, workers=self.workers, name="replicaset")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await self.events.close()

    def _owned_pods(self, rs: dict) -> list[dict]:
        uid = rs["metadata"]["uid"]
        ns = rs["metadata"].get("namespace", "")
        sel = selector_from_label_selector((rs.get("spec") or {}).get("selector") or {})
        return [p for p in self.pods.list(ns) if owned_by(p, uid) and sel.matches((p.get("metadata") or {}).get("labels") or {})]

    async def _sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        rs = self.rs.get(ns, name)
        if rs is None:
            self._expect.pop(key, None)
            return
        exp = self._expect.setdefault(key, _Expectations())
        owned = self._owned_pods(rs)
        shown = {p["metadata"]["name"] for p in owned}
        still_active = {p["metadata"]["name"] for p in owned if is_pod_active(p)}
        # expectations: creations the cache has not shown yet still count; deletions it still
        # shows as active no longer do
        exp.created = {n for n in exp.created if n not in shown}
        exp.deleted = exp.deleted & still_active
        active = [p for p in owned if p["metadata"]["name"] in still_active - exp.deleted]
        pending = [{"metadata": {"name": n}} for n in sorted(exp.created)]
        want = int((rs.get("spec") or {}).get("replicas", 1))
        p = Plan() if rs["metadata"].get("deletionTimestamp") else plan(want, active + pending)
        for _ in range(p.create):
            try:
                pod = await self.client.create("pods", pod_from_template(rs), ns)
            except NotFound:
                return  # namespace going away
            exp.created.add(pod["metadata"]["name"])
            self.events.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}", kind="ReplicaSet")
        for pod in p.delete:
            pname = pod["metadata"]["name"]
            if pname in exp.created:
                continue  # not visible yet; the next sync deletes it if still surplus
            try:
                await self.client.delete("pods", pname, ns)
            except NotFound:
                pass
            else:
                self.events.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pname}", kind="ReplicaSet")
            exp.deleted.add(pname)
        st = status(rs, owned)
        if (rs.get("status") or {}) != st:
            new = copy.deepcopy(rs)
            new["status"] = st
            try:
                await self.client.update_status("replicasets", new, ns)
            except NotFound:
                return
            except Conflict:
                self.queue.add_after(key, 0.05)
