"""The legacy Endpoints controller: one ``Endpoints`` object per selector Service.

Theory of operation
-------------------
Upstream ``pkg/controller/endpoint/endpoints_controller.go`` and ``pkg/api/v1/endpoints/util.go``
(``RepackSubsets``). The decisions are the pure functions :func:`desired_subsets`,
:func:`desired_endpoints` and :func:`plan_endpoints`; :class:`EndpointsController` is the driver.

1. **Which Services**: as for EndpointSlices, ExternalName and selectorless Services get
   nothing (users write Endpoints for selectorless ones). The object is named like the Service.
2. **Which Pods** (``ShouldPodBeInEndpoints(pod, publishNotReadyAddresses)``): not
   Succeeded/Failed, an IP assigned, and terminating Pods only when ``publishNotReadyAddresses``.
   One address per Pod, from the primary family (``ipFamilies[0]``; without it the ClusterIP's
   family, or the Pod IP's for headless); a Pod without an IP of that family is left out.
3. **Addresses** ``{ip, nodeName, targetRef{Pod}, hostname?}`` go to ``addresses`` when the Pod is
   Ready or ``publishNotReadyAddresses`` is set, else to ``notReadyAddresses``.
4. **Ports**: one subset per (Pod, Service port) with the resolved ``FindPort`` number; a named
   port that does not resolve drops the Pod from that port only. Headless Services without ports
   get port-less subsets. Then ``RepackSubsets``: per port, an address is not-ready if any subset
   says so; ports with identical address sets share one subset; everything sorted.
5. **Capacity**: over 1000 addresses the subsets are truncated (ready addresses preferred, each
   subset keeping its proportional share, rounded up) and annotated
   ``endpoints.kubernetes.io/over-capacity: truncated``; under it the annotation is removed.
6. **Writes**: nothing when subsets (ignoring targetRef resourceVersions), labels (ignoring the
   headless label) and the capacity annotation already match. Labels are the Service's, plus
   ``service.kubernetes.io/headless: ""`` for headless Services. The last-change-trigger-time
   annotation is set on every write (removed when unknown). A deleted Service's Endpoints are
   deleted; at start-up every Endpoints object is checked, so leftovers are deleted too.

Ordering differs from upstream only where upstream sorts by hash: ports and subsets are sorted by
value here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from svcnet.api.errors import Forbidden, NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.controllers.endpointslice import ServiceEndpointsController, namespace_terminating
from svcnet.controllers.endpointslice_util import (
    ANNOTATION_LAST_CHANGE_TRIGGER_TIME,
    LABEL_HEADLESS,
    canonical_ip,
    find_port,
    format_rfc3339nano,
    is_pod_ready,
    is_service_ip_set,
    pod_ip_strings,
    selector_matches,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
)

__all__ = [
    "ANNOTATION_OVER_CAPACITY",
    "EndpointsController",
    "MAX_CAPACITY",
    "desired_endpoints",
    "desired_subsets",
    "plan_endpoints",
    "repack_subsets",
    "truncate_subsets",
]

#: endpoints_controller.go maxCapacity
MAX_CAPACITY = 1000
ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
#: the leader-election record annotation (resourcelock.LeaderElectionRecordAnnotationKey)
_LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


def _md(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


def _spec(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("spec") or {}


# ---------------------------------------------------------------------------------------------
# addresses and subsets


def _primary_family(service: Mapping, pod: Mapping) -> str:
    fams = _spec(service).get("ipFamilies") or ()
    if fams:
        return fams[0]
    if is_service_ip_set(service):
        c = canonical_ip(_spec(service)["clusterIP"])
    else:
        c = canonical_ip((pod.get("status") or {}).get("podIP") or "")
    return c[0] if c else "IPv4"


def _address_for(service: Mapping, pod: Mapping) -> dict | None:
    """``podToEndpointAddressForService`` (+ hostname): None if no IP of the primary family."""
    family = _primary_family(service, pod)
    ip = next((raw for raw in pod_ip_strings(pod) if (c := canonical_ip(raw)) and c[0] == family), None)
    if ip is None:
        return None
    md = _md(pod)
    ref = {"kind": "Pod", "namespace": md.get("namespace") or "", "name": md.get("name") or ""}
    if md.get("uid"):
        ref["uid"] = md["uid"]
    addr: dict[str, Any] = {"ip": ip, "targetRef": ref}
    if _spec(pod).get("nodeName"):
        addr["nodeName"] = _spec(pod)["nodeName"]
    if should_set_hostname(pod, service):
        addr["hostname"] = _spec(pod)["hostname"]
    return addr


def _port_key(p: Mapping) -> tuple:
    return (p.get("name") or "", p.get("port") or 0, p.get("protocol") or "", p.get("appProtocol") or "")


def _addr_key(a: Mapping) -> tuple:
    """``LessEndpointAddress``: IP (as bytes), then target UID (no targetRef first)."""
    ref = a.get("targetRef")
    return (a.get("ip") or "", 0 if ref is None else 1, (ref or {}).get("uid") or "")


def repack_subsets(subsets: Iterable[Mapping]) -> list[dict]:
    """``RepackSubsets``: expand to (address, port, ready), regroup ports that share exactly the
    same addresses, sort. Not-ready wins over ready for the same address and port; addresses
    are de-duplicated by (IP, target UID); port-less subsets are kept."""
    sentinel = ("", -1, "", "")
    all_addrs: dict[tuple, dict] = {}
    port_objs: dict[tuple, dict | None] = {}
    by_port: dict[tuple, dict[tuple, bool]] = {}
    for ss in subsets:
        ports = ss.get("ports") or [None]
        for port in ports:
            pk = sentinel if port is None else _port_key(port)
            port_objs.setdefault(pk, None if port is None else dict(port))
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for a in ss.get(field) or ():
                    ak = (a.get("ip"), (a.get("targetRef") or {}).get("uid"))
                    all_addrs.setdefault(ak, copy.deepcopy(dict(a)))
                    seen = by_port.setdefault(pk, {})
                    if seen.get(ak, True):  # not ready always trumps ready
                        seen[ak] = ready
    groups: dict[frozenset, list[dict]] = {}
    for pk, addrs in by_port.items():
        ports_of_group = groups.setdefault(frozenset(addrs.items()), [])
        if pk != sentinel:
            ports_of_group.append(port_objs[pk])  # type: ignore[arg-type]
    final = []
    for group, ports in groups.items():
        ready = sorted((all_addrs[ak] for ak, r in group if r), key=_addr_key)
        not_ready = sorted((all_addrs[ak] for ak, r in group if not r), key=_addr_key)
        ss: dict[str, Any] = {}
        if ready:
            ss["addresses"] = ready
        if not_ready:
            ss["notReadyAddresses"] = not_ready
        if ports:
            ss["ports"] = sorted(ports, key=_port_key)
        final.append(ss)
    return sorted(final, key=_subset_key)


def _subset_key(ss: Mapping) -> tuple:
    return (
        tuple(_port_key(p) for p in ss.get("ports") or ()),
        tuple(_addr_key(a) for a in ss.get("addresses") or ()),
        tuple(_addr_key(a) for a in ss.get("notReadyAddresses") or ()),
    )


def desired_subsets(service: Mapping, pods: Iterable[Mapping]) -> list[dict]:
    """The repacked, untruncated subsets for the Pods the Service selects (``syncService``)."""
    ns = _md(service).get("namespace") or ""
    selector = service_selector(service)
    tolerate_unready = bool(_spec(service).get("publishNotReadyAddresses"))
    svc_ports = _spec(service).get("ports") or []
    raw: list[dict] = []
    for pod in pods:
        if (_md(pod).get("namespace") or "") != ns or not selector_matches(selector, _md(pod).get("labels")):
            continue
        if not should_pod_be_in_endpoints(pod, tolerate_unready):
            continue
        addr = _address_for(service, pod)
        if addr is None:
            continue
        field = "addresses" if tolerate_unready or is_pod_ready(pod) else "notReadyAddresses"
        if not svc_ports:
            if _spec(service).get("clusterIP") == "None":  # headless Services may have no ports
                raw.append({field: [addr], "ports": []})
            continue
        for sp in svc_ports:
            num = find_port(pod, sp)
            if num is None:
                continue
            port: dict[str, Any] = {"port": num, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port["name"] = sp["name"]
            if sp.get("appProtocol") is not None:
                port["appProtocol"] = sp["appProtocol"]
            raw.append({field: [addr], "ports": [port]})
    return repack_subsets(raw)


def truncate_subsets(subsets: list[dict], max_capacity: int = MAX_CAPACITY) -> bool:
    """``truncateEndpoints``, in place: True if over capacity (and truncated). Not-ready
    addresses go first; if the ready ones alone are too many, all not-ready ones go and the
    ready ones are cut; each subset keeps ``ceil(share * room)``, the last ones what is left."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if total_ready + total_not_ready <= max_capacity:
        return False
    truncate_ready = total_ready > max_capacity
    room = max_capacity if truncate_ready else max_capacity - total_ready
    num_total = total_ready if truncate_ready else total_not_ready
    can_add = room
    for s in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        n = len(s.get(field) or ())
        to_add = min(math.ceil((n / num_total) * room), can_add)
        kept = (s.get(field) or [])[:to_add]
        if kept:
            s[field] = kept
        else:
            s.pop(field, None)
        if truncate_ready:
            s.pop("notReadyAddresses", None)
        can_add -= len(kept)
    return True


def _without_ref_rv(subsets: Iterable[Mapping]) -> str:
    """Subsets compared as upstream ``semanticIgnoreResourceVersion`` does."""
    def strip(a: Mapping) -> dict:
        a = dict(a)
        if a.get("targetRef"):
            a["targetRef"] = {k: v for k, v in a["targetRef"].items() if k != "resourceVersion"}
        return a

    norm = []
    for s in subsets:
        norm.append({k: [strip(a) for a in s.get(k) or ()] if k != "ports" else list(s.get(k) or ()) for k in ("addresses", "notReadyAddresses", "ports")})
    return json.dumps(norm, sort_keys=True)


def _with_headless(labels: Mapping | None, service: Mapping) -> dict:
    out = dict(labels or {})
    if not is_service_ip_set(service):
        out[LABEL_HEADLESS] = ""
    else:
        out.pop(LABEL_HEADLESS, None)
    return out


def desired_endpoints(service: Mapping, pods: Iterable[Mapping], *, now: Any = None) -> dict | None:
    """The Endpoints object to create for this Service (None: the Service gets none)."""
    if _spec(service).get("type") == "ExternalName" or service_selector(service) is None:
        return None
    md = _md(service)
    obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": md.get("name") or "", "namespace": md.get("namespace") or ""},
    }
    return _fill(obj, service, desired_subsets(service, pods), now)


def _fill(obj: dict, service: Mapping, subsets: list[dict], now: Any) -> dict:
    md = obj.setdefault("metadata", {})
    ann = dict(md.get("annotations") or {})
    trigger = format_rfc3339nano(now)
    if trigger:
        ann[ANNOTATION_LAST_CHANGE_TRIGGER_TIME] = trigger
    else:
        ann.pop(ANNOTATION_LAST_CHANGE_TRIGGER_TIME, None)
    subsets = copy.deepcopy(subsets)
    if truncate_subsets(subsets):
        ann[ANNOTATION_OVER_CAPACITY] = "truncated"
    else:
        ann.pop(ANNOTATION_OVER_CAPACITY, None)
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
    labels = _with_headless(_md(service).get("labels"), service)
    if labels:
        md["labels"] = labels
    else:
        md.pop("labels", None)  # an empty map is not serialised
    if subsets:
        obj["subsets"] = subsets
    else:
        obj.pop("subsets", None)
    return obj


def plan_endpoints(
    service: Mapping | None, pods: Iterable[Mapping], current: Mapping | None, *, now: Any = None
) -> tuple[str, dict] | None:
    """What to write: ``("create" | "update" | "delete", object)``, or None for nothing.

    ``service`` None means it was deleted: its Endpoints (``current``) go too. An update starts
    from ``current`` (so it carries its resourceVersion) and replaces subsets, labels and the
    two annotations."""
    if service is None:
        return ("delete", dict(current)) if current is not None else None
    if _spec(service).get("type") == "ExternalName" or service_selector(service) is None:
        return None
    if current is None:
        obj = desired_endpoints(service, pods, now=now)
        return ("create", obj) if obj is not None else None
    subsets = desired_subsets(service, pods)
    cur_md = _md(current)
    compare_labels = {k: v for k, v in (cur_md.get("labels") or {}).items() if k != LABEL_HEADLESS}
    if (
        _without_ref_rv(current.get("subsets") or ()) == _without_ref_rv(subsets)
        and compare_labels == dict(_md(service).get("labels") or {})
        and _capacity_annotation_set_correctly(cur_md.get("annotations") or {}, current.get("subsets") or ())
    ):
        return None
    return ("update", _fill(copy.deepcopy(dict(current)), service, subsets, now))


def _capacity_annotation_set_correctly(annotations: Mapping, subsets: Iterable[Mapping]) -> bool:
    n = sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ()) for s in subsets)
    if n > MAX_CAPACITY:
        return False
    return ANNOTATION_OVER_CAPACITY not in annotations


# ---------------------------------------------------------------------------------------------
# the driver


class EndpointsController(ServiceEndpointsController):
    """Keeps one ``Endpoints`` object per selector Service in step with its Pods."""

    name = "endpoints-controller"

    def __init__(self, client: Client, *, workers: int = 2, stale_retry: float = 1.0):
        super().__init__(client, workers=workers, stale_retry=stale_retry)
        self.endpoints = Informer(client, "endpoints")
        self.informers.append(self.endpoints)
        #: resourceVersion of our last write per Endpoints (upstream staleEndpointsTracker)
        self._written: dict[tuple[str, str], int] = {}

    def _register(self) -> None:
        super()._register()
        self.endpoints.add_handler(self._on_ep_change, lambda old, new: self._on_ep_change(new), self._on_ep_delete)

    def _after_synced(self) -> None:
        # checkLeftoverEndpoints: Endpoints without a Service are deleted by their sync
        for ep in self.endpoints.list():
            if _LEADER_ANNOTATION not in (_md(ep).get("annotations") or {}):
                self.queue.add((_md(ep).get("namespace") or "", _md(ep).get("name") or ""))

    def _on_ep_change(self, ep: dict) -> None:
        if self.synced:
            self.cache_moved((_md(ep).get("namespace") or "", _md(ep).get("name") or ""))

    def _on_ep_delete(self, ep: dict) -> None:
        key = (_md(ep).get("namespace") or "", _md(ep).get("name") or "")
        self._written.pop(key, None)
        if self.synced:
            self._awaiting_cache.discard(key)
            self.queue.add(key)

    async def sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        svc = self.services.get(ns, name)
        current = self.endpoints.get(ns, name)
        if svc is None:
            self.trigger_times.delete_service(ns, name)
            self._written.pop(key, None)
            try:
                await self.client.delete("endpoints", name, ns)
            except NotFound:
                pass
            return
        if (svc.get("spec") or {}).get("type") == "ExternalName" or service_selector(svc) is None:
            return
        written = self._written.get(key)
        if written is not None and (current is None or _rv(current) < written):
            self.wait_for_cache(key)
            return
        pods = self.selected_pods(svc)
        trigger = self.trigger_times.compute(ns, svc, pods)
        action = plan_endpoints(svc, pods, current, now=trigger)
        if action is None:
            return
        verb, obj = action
        try:
            if verb == "create":
                stored = await self.client.create("endpoints", obj, ns)
            else:
                stored = await self.client.update("endpoints", obj, ns)
        except Forbidden as e:
            if verb == "create" and namespace_terminating(e):
                return
            raise
        self._written[key] = _rv(stored)


def _rv(obj: Mapping) -> int:
    try:
        return int(_md(obj).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0
