"""The Deployment controller: one ReplicaSet per pod template, rolled out per the strategy.

Pure core:
- :func:`template_hash` names the ReplicaSet of a template (``<deployment>-<hash>``) and is the
  ``pod-template-hash`` label. Upstream hashes a Go ``spew`` dump with FNV-32a; we hash canonical
  JSON with FNV-32a and encode it with the same safe alphabet, so names look alike but the
  values differ from a real cluster's (a documented difference).
- :func:`rollout` decides the replica count of every ReplicaSet for one step of the strategy:
  ``Recreate`` scales the old ones to 0 and only then the new one up; ``RollingUpdate`` scales
  the new one up to at most ``replicas + maxSurge`` pods in total and the old ones down while at
  least ``replicas - maxUnavailable`` pods stay available (upstream ``rolling.go``).
- :func:`deployment_status` sums the ReplicaSets' status.
"""

from __future__ import annotations

import copy
import logging
import math

import orjson

from svcnet.api.errors import AlreadyExists, Conflict, NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers
from svcnet.client.events import EventRecorder
from svcnet.controllers.replicaset import controller_ref, owned_by

__all__ = ["DeploymentController", "deployment_status", "resolve_fenceposts", "rollout", "template_hash"]

log = logging.getLogger(__name__)

_SAFE = "bcdfghjklmnpqrstvwxz2456789"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: dict, collision_count: int = 0) -> str:
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(_fnv32a(data)))


def _int_or_percent(v: object, total: int, round_up: bool) -> int:
    if isinstance(v, str) and v.endswith("%"):
        f = int(v[:-1]) * total / 100
        return math.ceil(f) if round_up else math.floor(f)
    return int(v or 0)


def resolve_fenceposts(deploy: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as counts; both 0 would deadlock, so unavailable becomes 1."""
    spec = deploy.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    ru = ((spec.get("strategy") or {}).get("rollingUpdate")) or {}
    surge = _int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
    unavail = _int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavail == 0:
        unavail = 1
    return surge, unavail


def _replicas(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _available(rs: dict) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def rollout(deploy: dict, new_rs: dict, old_rs: list[dict]) -> dict[str, int]:
    """Replica counts for each ReplicaSet (by name) after one rollout step."""
    spec = deploy.get("spec") or {}
    want = int(spec.get("replicas", 1))
    strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
    out = {new_rs["metadata"]["name"]: _replicas(new_rs)}
    out.update({r["metadata"]["name"]: _replicas(r) for r in old_rs})
    new_name = new_rs["metadata"]["name"]
    if strategy == "Recreate":
        if any(_replicas(r) or int((r.get("status") or {}).get("replicas", 0)) for r in old_rs):
            for r in old_rs:
                out[r["metadata"]["name"]] = 0
            return out
        out[new_name] = want
        return out
    surge, unavail = resolve_fenceposts(deploy)
    if not old_rs or all(_replicas(r) == 0 for r in old_rs):
        out[new_name] = want
        return out
    total = sum(out.values())
    # scale up the new ReplicaSet within the surge budget
    if out[new_name] < want:
        room = want + surge - total
        if room > 0:
            out[new_name] += min(room, want - out[new_name])
    elif out[new_name] > want:
        out[new_name] = want
    # scale down old ReplicaSets while keeping enough pods available
    min_available = want - unavail
    available = _available(new_rs) + sum(_available(r) for r in old_rs)
    # first the old pods that are not available anyway
    budget = max(available - min_available, 0)
    for r in sorted(old_rs, key=lambda r: r["metadata"].get("creationTimestamp", "")):
        name = r["metadata"]["name"]
        unavailable_here = max(out[name] - _available(r), 0)
        cut = min(out[name], unavailable_here + budget)
        take_from_budget = max(cut - unavailable_here, 0)
        budget -= take_from_budget
        out[name] -= cut
    return out


def deployment_status(deploy: dict, new_rs: dict | None, all_rs: list[dict]) -> dict:
    def s(rs: dict, k: str) -> int:
        return int((rs.get("status") or {}).get(k, 0))

    replicas = sum(s(r, "replicas") for r in all_rs)
    ready = sum(s(r, "readyReplicas") for r in all_rs)
    available = sum(s(r, "availableReplicas") for r in all_rs)
    updated = s(new_rs, "replicas") if new_rs else 0
    want = int((deploy.get("spec") or {}).get("replicas", 1))
    st: dict = {
        "observedGeneration": (deploy.get("metadata") or {}).get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(want - available, 0),
    }
    st = {k: v for k, v in st.items() if v or k == "observedGeneration"}
    cond_avail = "True" if available >= want - resolve_fenceposts(deploy)[1] else "False"
    st["conditions"] = [
        {
            "type": "Available",
            "status": cond_avail,
            "reason": "MinimumReplicasAvailable" if cond_avail == "True" else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability." if cond_avail == "True" else "Deployment does not have minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if updated == want and available >= want else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.' if new_rs else "",
        },
    ]
    return st


class DeploymentController:
    def __init__(self, client: Client, *, workers: int = 1):
        self.client = client
        self.workers = workers
        self.deploys = Informer(client, "deployments")
        self.rs = Informer(client, "replicasets")
        self.queue = WorkQueue()
        self.events = EventRecorder(client, "deployment-controller")

    def _on_deploy(self, d: dict) -> None:
        self.queue.add((d["metadata"].get("namespace", ""), d["metadata"]["name"]))

    def _on_rs(self, rs: dict) -> None:
        ref = controller_ref(rs)
        if ref is not None and ref.get("kind") == "Deployment":
            self.queue.add((rs["metadata"].get("namespace", ""), ref["name"]))

    async def run(self) -> None:
        self.deploys.add_handler(self._on_deploy, lambda _o, n: self._on_deploy(n), None)
        self.rs.add_handler(self._on_rs, lambda _o, n: self._on_rs(n), self._on_rs)
        tasks = [self.deploys.start(), self.rs.start()]
        try:
            await self.deploys.wait_synced()
            await self.rs.wait_synced()
            await run_workers(self.queue, self._sync, workers=self.workers, name="deployment")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await self.events.close()

    def _new_rs_object(self, d: dict, h: str, revision: int) -> dict:
        md = d["metadata"]
        spec = d.get("spec") or {}
        tmpl = copy.deepcopy(spec.get("template") or {})
        tmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        sel = copy.deepcopy(spec.get("selector") or {})
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{md['name']}-{h}",
                "namespace": md.get("namespace", "default"),
                "labels": dict(tmpl["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"], "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}
                ],
            },
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0), "selector": sel, "template": tmpl},
        }

    async def _sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        d = self.deploys.get(ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        uid = d["metadata"]["uid"]
        owned = [r for r in self.rs.list(ns) if owned_by(r, uid)]
        tmpl = (d.get("spec") or {}).get("template") or {}
        h = template_hash(tmpl, int((d.get("status") or {}).get("collisionCount", 0)))
        new_rs = next((r for r in owned if ((r.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == h), None)
        old = [r for r in owned if r is not new_rs]
        if new_rs is None:
            revs = [int(((r["metadata"].get("annotations") or {}).get(REVISION)) or 0) for r in owned]
            try:
                new_rs = await self.client.create("replicasets", self._new_rs_object(d, h, max(revs, default=0) + 1), ns)
            except AlreadyExists:
                self.queue.add_after(key, 0.1)
                return
        if (d.get("spec") or {}).get("paused"):
            return
        counts = rollout(d, new_rs, old)
        for r in [new_rs, *old]:
            want = counts[r["metadata"]["name"]]
            if _replicas(r) != want:
                upd = copy.deepcopy(r)
                upd["spec"]["replicas"] = want
                try:
                    await self.client.update("replicasets", upd, ns)
                except (Conflict, NotFound):
                    self.queue.add_after(key, 0.05)
                    return
                direction = "up" if want > _replicas(r) else "down"
                self.events.record(d, "Normal", "ScalingReplicaSet", f"Scaled {direction} replica set {r['metadata']['name']} to {want} from {_replicas(r)}", kind="Deployment")
        # keep spec.revisionHistoryLimit old, empty ReplicaSets
        limit = int((d.get("spec") or {}).get("revisionHistoryLimit", 10))
        empty_old = sorted(
            (r for r in old if counts[r["metadata"]["name"]] == 0 and not (r.get("status") or {}).get("replicas")),
            key=lambda r: int(((r["metadata"].get("annotations") or {}).get(REVISION)) or 0),
        )
        for r in empty_old[: max(len(empty_old) - limit, 0)]:
            try:
                await self.client.delete("replicasets", r["metadata"]["name"], ns)
            except NotFound:
                pass
        st = deployment_status(d, new_rs, [new_rs, *old])
        if (d.get("status") or {}) != st:
            upd = copy.deepcopy(d)
            upd["status"] = st
            try:
                await self.client.update_status("deployments", upd, ns)
            except (Conflict, NotFound):
                self.queue.add_after(key, 0.05)
