"""A minimal scheduler: put each unassigned pod on a ready node that fits it.

The decision is :func:`pick_node`, a pure function: feasible nodes are Ready, schedulable
(``spec.unschedulable`` false), match the pod's ``nodeSelector``, and are not excluded by a
``NoSchedule`` taint the pod does not tolerate; among them the node running the fewest pods wins
(spreading, like the default scheduler's balanced scoring for pods without requests), ties broken
by name so the choice is deterministic. The driver binds through ``pods/<name>/binding``.
"""

from __future__ import annotations

import logging
from collections import Counter

from svcnet.api.errors import Conflict, NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers
from svcnet.client.events import EventRecorder

__all__ = ["Scheduler", "node_is_ready", "pick_node"]

log = logging.getLogger(__name__)


def node_is_ready(node: dict) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _tolerates(pod: dict, taint: dict) -> bool:
    for t in (pod.get("spec") or {}).get("tolerations") or []:
        if t.get("effect") not in (None, "", taint.get("effect")):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _feasible(pod: dict, node: dict) -> bool:
    spec = node.get("spec") or {}
    if spec.get("unschedulable") or not node_is_ready(node):
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in ((pod.get("spec") or {}).get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod, taint):
            return False
    return True


def pick_node(pod: dict, nodes: list[dict], pods_per_node: dict[str, int]) -> str | None:
    """The node to run ``pod`` on, or None if no node fits."""
    candidates = [n for n in nodes if _feasible(pod, n)]
    if not candidates:
        return None
    best = min(candidates, key=lambda n: (pods_per_node.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
    return best["metadata"]["name"]


class Scheduler:
    def __init__(self, client: Client, *, scheduler_name: str = "default-scheduler"):
        self.client = client
        self.scheduler_name = scheduler_name
        self.pods = Informer(client, "pods")
        self.nodes = Informer(client, "nodes")
        self.queue = WorkQueue()
        self.events = EventRecorder(client, scheduler_name)
        #: pods bound by us that the informer has not shown bound yet (upstream "assumed pods")
        self._assumed: dict[tuple[str, str], str] = {}

    @staticmethod
    def _key(pod: dict) -> tuple[str, str]:
        md = pod["metadata"]
        return md.get("namespace", ""), md["name"]

    def _wants(self, pod: dict) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and self._key(pod) not in self._assumed
            and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and spec.get("schedulerName", "default-scheduler") == self.scheduler_name
        )

    def _enqueue(self, pod: dict) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self._assumed.pop(self._key(pod), None)
        if self._wants(pod):
            self.queue.add(self._key(pod))

    def _enqueue_all(self, *_: object) -> None:
        for pod in self.pods.list():
            self._enqueue(pod)

    async def run(self) -> None:
        self.pods.add_handler(self._enqueue, lambda _o, n: self._enqueue(n), lambda o: self._assumed.pop(self._key(o), None))
        self.nodes.add_handler(self._enqueue_all, self._enqueue_all, None)
        tasks = [self.pods.start(), self.nodes.start()]
        try:
            await self.pods.wait_synced()
            await self.nodes.wait_synced()
            await run_workers(self.queue, self._sync, name="scheduler")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await self.events.close()

    async def _sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        pod = self.pods.get(ns, name)
        if pod is None or not self._wants(pod):
            return
        counts = Counter((p.get("spec") or {}).get("nodeName") or self._assumed.get(self._key(p)) for p in self.pods.list())
        node = pick_node(pod, self.nodes.list(), counts)
        if node is None:
            log.info("pod %s/%s: 0/%d nodes are available", ns, name, len(self.nodes))
            self.events.record(pod, "Warning", "FailedScheduling", f"0/{len(self.nodes)} nodes are available.", kind="Pod")
            self.queue.add_after(key, 1.0)  # retried when nodes change, or after a second
            return
        try:
            await self.client.bind_pod(name, node, ns)
        except (Conflict, NotFound):
            return  # bound meanwhile, or gone
        # count it at once so a burst of pods spreads before the informer catches up
        self._assumed[key] = node
        self.events.record(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}", kind="Pod")
