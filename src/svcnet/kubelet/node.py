"""The kubelet's Node object: registration and heartbeats.

Theory of operation
-------------------
:func:`node_object` and :func:`node_status` are pure: what the Node should say.
:class:`NodeRegistration` writes it:

1. ``register()`` creates the Node (labels ``kubernetes.io/hostname``, ``kubernetes.io/os``,
   ``kubernetes.io/arch`` and their ``beta.`` twins, ``topology.kubernetes.io/zone`` when a zone
   is given; ``spec.podCIDR``/``podCIDRs``). If it exists (a restart), it is adopted: labels are
   merged and an empty podCIDR filled in (a set podCIDR is immutable upstream; a different one
   is only logged). Then the status is posted.
2. The status holds ``addresses`` (``InternalIP`` = node IP, ``Hostname``), the four classic
   conditions (``MemoryPressure``/``DiskPressure``/``PIDPressure`` False, ``Ready`` True with
   reason ``KubeletReady``), ``capacity``/``allocatable`` (``pods`` = usable podCIDR size) and
   ``nodeInfo``. ``lastTransitionTime`` moves only when a condition's status changes;
   ``lastHeartbeatTime`` on every post.
3. ``heartbeat()`` posts every ``interval`` seconds (upstream ``nodeStatusUpdateFrequency``,
   10 s), re-registering if the Node was deleted; ``post_status(ready=False)`` is what a
   stopping agent leaves behind: every condition ``Unknown``/``NodeStatusUnknown``, as the
   node lifecycle controller would write after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import time
from collections.abc import Callable

import svcnet
from svcnet.api.errors import AlreadyExists, Conflict, NotFound
from svcnet.client.base import Client

__all__ = ["KUBELET_VERSION", "NodeRegistration", "node_object", "node_status"]

log = logging.getLogger(__name__)
KUBELET_VERSION = "v1.30.0-svcnet"


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def node_object(node_name: str, pod_cidr: str, zone: str | None = None) -> dict:
    """Rule 1: the Node as created (no status: the status subresource owns it)."""
    arch = _arch()
    labels = {
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch,
    }
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node_name, "labels": labels},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
    }


_READY_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_status(node_name: str, node_ip: str, *, pods: int, ready: bool, old: dict | None, now: float, kubelet_port: int = 0) -> dict:
    """Rule 2: the Node's status; ``old`` is the current Node (for transition times)."""
    stamp = _rfc3339(now)
    conds = list(_READY_CONDITIONS)
    if not ready:
        conds = [(t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.") for t, *_ in conds]
    prev = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}
    out = []
    for t, s, r, m in conds:
        p = prev.get(t) or {}
        ltt = p["lastTransitionTime"] if p.get("status") == s and p.get("lastTransitionTime") else stamp
        out.append({"type": t, "status": s, "lastHeartbeatTime": stamp, "lastTransitionTime": ltt, "reason": r, "message": m})
    cap = {"cpu": str(os.cpu_count() or 1), "ephemeral-storage": "0", "memory": "0", "pods": str(pods)}
    return {
        "addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": node_name}],
        "conditions": out,
        "capacity": cap,
        "allocatable": dict(cap),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": platform.platform(),
            "containerRuntimeVersion": f"svcnet-process://{svcnet.__version__}",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _arch(),
        },
    }


class NodeRegistration:
    """Writes this agent's Node (rules 1-3)."""

    def __init__(
        self,
        client: Client,
        node_name: str,
        node_ip: str,
        pod_cidr: str,
        *,
        pods: int,
        zone: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.client, self.node_name, self.node_ip, self.pod_cidr = client, node_name, node_ip, pod_cidr
        self.pods, self.zone, self.clock = pods, zone, clock
        self.kubelet_port = 0  # where the agent serves /containerLogs (set before register)

    async def register(self) -> dict:
        want = node_object(self.node_name, self.pod_cidr, self.zone)
        try:
            node = await self.client.create("nodes", want)
        except AlreadyExists:
            node = await self.client.get("nodes", self.node_name)
            labels = node.setdefault("metadata", {}).setdefault("labels", {})
            spec = node.setdefault("spec", {})
            changed = any(labels.get(k) != v for k, v in want["metadata"]["labels"].items())
            labels.update(want["metadata"]["labels"])
            if not spec.get("podCIDR"):
                spec["podCIDR"], spec["podCIDRs"] = self.pod_cidr, [self.pod_cidr]
                changed = True
            elif spec["podCIDR"] != self.pod_cidr:
                log.warning("node %s has podCIDR %s; this agent allocates from %s", self.node_name, spec["podCIDR"], self.pod_cidr)
            if changed:
                node = await self.client.update("nodes", node)
        return await self.post_status(ready=True, node=node)

    async def post_status(self, *, ready: bool, node: dict | None = None) -> dict:
        for _ in range(5):
            if node is None:
                node = await self.client.get("nodes", self.node_name)
            obj = dict(node)
            obj["status"] = {
                **(node.get("status") or {}),
                **node_status(self.node_name, self.node_ip, pods=self.pods, ready=ready, old=node, now=self.clock(), kubelet_port=self.kubelet_port),
            }
            try:
                return await self.client.update_status("nodes", obj)
            except Conflict:
                node = None
        raise Conflict(f"node {self.node_name}: status update kept conflicting")

    async def heartbeat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.post_status(ready=True)
            except NotFound:
                with contextlib.suppress(Exception):
                    await self.register()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the API may be briefly away; try again next beat
                log.warning("node %s: heartbeat failed: %s", self.node_name, e)
