"""EndpointSlice reconciliation: Service + Pods + Nodes + existing slices -> a Plan. No I/O.

Theory of operation
-------------------
This is the decision half of the EndpointSlice controller (upstream
``staging/src/k8s.io/endpointslice/reconciler.go``, ``utils.go`` and ``util/controller_utils.go``);
:mod:`svcnet.controllers.endpointslice` is the thin driver that feeds it from informer caches
and writes its :class:`Plan` through the client. Rules:

1. **Which Services.** ExternalName Services and Services without a selector get nothing: the
   plan is empty and slices written by users for selectorless Services are never touched. An
   empty selector ``{}`` counts as no selector (what upstream sees after protobuf storage).
2. **Which Pods** (``ShouldPodBeInEndpoints(pod, includeTerminating=true)``): same namespace,
   labels match the selector (equality on every key), phase not Succeeded/Failed, an IP
   assigned. Terminating Pods stay in. A Pod whose ``spec.nodeName`` has no Node is skipped
   (unless ``publishNotReadyAddresses``) and named in ``Plan.missing_nodes`` so the driver retries.
3. **Endpoints** (``podToEndpoint``): ``serving`` = Ready condition True, ``terminating`` =
   deletionTimestamp set, ``ready`` = publishNotReadyAddresses or (serving and not terminating);
   addresses are the Pod's IPs of the slice's family, re-stringified canonically; ``hostname``
   only when ``spec.hostname`` is set and ``spec.subdomain`` is the Service's name.
4. **Ports** (``getEndpointPorts``/``FindPort``): an int targetPort is used as is; a named one
   is looked up by name *and protocol* in the containers, then in restartable (sidecar) init
   containers; if not found the port is left out for that Pod. Pods are grouped by their port
   list, and every distinct list gets its own slices.
5. **Packing** (``reconcileByPortMapping``), per address type and port list:
   (1) existing slices keep the endpoints still wanted (changed ones replaced in place); a slice
   left empty is deleted; (2) the leftovers go into slices already being updated, fullest first;
   (3) then into the *unchanged* slice that comes closest to full without overflowing (only when
   fewer than ``max_endpoints_per_slice`` remain), else into new slices; (4) a create paired with
   a delete becomes an update that reuses the old name (``finalize``). With no endpoints at all
   there is one placeholder slice (``endpoints: []``, ``ports: []``), kept as it is if it exists.
   Slices not owned by this Service's UID are deleted; slices of an address type the Service no
   longer has are deleted; nothing changed means an empty plan, so a resync writes nothing.
6. **Determinism.** Where upstream iterates Go maps (random order) we iterate sorted: endpoints by
   (namespace, name, addresses, hostname), port lists by value, slices by name. Written slices
   list their endpoints and ports sorted. Decisions (which slice, how many) follow upstream.

Pod/Service predicates, ``FindPort`` and the trackers shared with the Endpoints controller live
in :mod:`svcnet.controllers.endpointslice_util` (upstream's ``util/`` package).
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from svcnet.controllers.endpointslice_util import (
    ANNOTATION_LAST_CHANGE_TRIGGER_TIME,
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_TOPOLOGY_ZONE,
    address_types_for_service,
    find_port,
    format_rfc3339nano,
    is_pod_ready,
    is_service_ip_set,
    pod_addresses,
    selector_matches,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
)

__all__ = [
    "ANNOTATION_LAST_CHANGE_TRIGGER_TIME",
    "CONTROLLER_NAME",
    "DEFAULT_MAX_ENDPOINTS_PER_SLICE",
    "LABEL_HEADLESS",
    "LABEL_MANAGED_BY",
    "LABEL_SERVICE_NAME",
    "Plan",
    "endpoint_key",
    "endpoint_ports",
    "new_endpoint_slice",
    "owned_by",
    "pod_to_endpoint",
    "port_map_key",
    "reconcile",
    "slice_labels",
]

#: kube-controller-manager --max-endpoints-per-slice default
DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100

_RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _md(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


def _spec(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("spec") or {}


# ---------------------------------------------------------------------------------------------
# ports and endpoints (utils.go)


def _port_sort_key(p: Mapping) -> tuple:
    return (p.get("name") or "", p.get("protocol") or "", p.get("port") or 0, p.get("appProtocol") or "")


def endpoint_ports(service: Mapping, pod: Mapping) -> list[dict]:
    """``getEndpointPorts``: one ``{name, port, protocol[, appProtocol]}`` per Service port that
    resolves on this Pod (unresolved named ports are left out), sorted."""
    out = []
    for sp in _spec(service).get("ports") or ():
        num = find_port(pod, sp)
        if num is None:
            continue
        ep = {"name": sp.get("name") or "", "port": num, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol") is not None:
            ep["appProtocol"] = sp["appProtocol"]
        out.append(ep)
    return sorted(out, key=_port_sort_key)


def port_map_key(ports: Iterable[Mapping] | None) -> tuple:
    """``NewPortMapKey``: identifies a port list regardless of order (None == [])."""
    return tuple(sorted(_port_sort_key(p) for p in ports or ()))


def pod_to_endpoint(pod: Mapping, service: Mapping, node: Mapping | None, address_type: str = "IPv4") -> dict:
    """``podToEndpoint``: the EndpointSlice endpoint for a Pod."""
    serving = is_pod_ready(pod)
    terminating = bool(_md(pod).get("deletionTimestamp"))
    ready = bool(_spec(service).get("publishNotReadyAddresses")) or (serving and not terminating)
    md = _md(pod)
    ref = {"kind": "Pod", "namespace": md.get("namespace") or "", "name": md.get("name") or ""}
    if md.get("uid"):
        ref["uid"] = md["uid"]
    ep: dict[str, Any] = {
        "addresses": pod_addresses(pod, address_type),
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": ref,
    }
    if _spec(pod).get("nodeName"):
        ep["nodeName"] = _spec(pod)["nodeName"]
    zone = (_md(node).get("labels") or {}).get(LABEL_TOPOLOGY_ZONE) if node else None
    if zone:
        ep["zone"] = zone
    if should_set_hostname(pod, service):
        ep["hostname"] = _spec(pod)["hostname"]
    return ep


def endpoint_key(ep: Mapping) -> tuple:
    """``hashEndpoint``: identity of an endpoint (target Pod, addresses, hostname). Other fields
    may change in place. Also the sort order of endpoints in written slices."""
    ref = ep.get("targetRef") or {}
    return (ref.get("namespace") or "", ref.get("name") or "", tuple(sorted(ep.get("addresses") or ())), ep.get("hostname") or "")


def _endpoints_equal_beyond_hash(a: Mapping, b: Mapping) -> bool:
    """``EndpointsEqualBeyondHash``: nodeName, zone, conditions and targetRef (sans
    resourceVersion) equal."""
    if a.get("nodeName") != b.get("nodeName") or a.get("zone") != b.get("zone"):
        return False
    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    if any(ca.get(k) != cb.get(k) for k in ("ready", "serving", "terminating")):
        return False
    ra = {k: v for k, v in (a.get("targetRef") or {}).items() if k != "resourceVersion"}
    rb = {k: v for k, v in (b.get("targetRef") or {}).items() if k != "resourceVersion"}
    return ra == rb


# ---------------------------------------------------------------------------------------------
# slices (utils.go)


def _slice_prefix(service_name: str) -> str:
    """``getEndpointSlicePrefix``: ``<svc>-`` unless that is not a valid generateName prefix."""
    prefix = f"{service_name}-"
    masked = prefix[:-1] + "a"  # NameIsDNSSubdomain(prefix=true) masks the trailing dash
    if len(masked) > 253 or not _DNS1123_SUBDOMAIN.match(masked):
        return service_name
    return prefix


def owned_by(slice_: Mapping, service: Mapping) -> bool:
    """``ownedBy``: an ownerReference to this Service's UID (kind Service, apiVersion v1)."""
    uid = _md(service).get("uid")
    return any(
        o.get("uid") == uid and o.get("kind") == "Service" and o.get("apiVersion") == "v1"
        for o in _md(slice_).get("ownerReferences") or ()
    )


def slice_labels(slice_: Mapping | None, service: Mapping) -> tuple[dict, bool]:
    """``setEndpointSliceLabels``: (the labels the slice should carry, whether the Service's
    non-reserved labels differ from the slice's). Reserved keys on the Service are ignored."""
    ep_labels = {k: v for k, v in (_md(slice_).get("labels") or {}).items() if k not in _RESERVED_LABELS}
    svc_labels = {k: v for k, v in (_md(service).get("labels") or {}).items() if k not in _RESERVED_LABELS}
    changed = ep_labels != svc_labels
    if not is_service_ip_set(service):
        svc_labels[LABEL_HEADLESS] = ""
    svc_labels[LABEL_SERVICE_NAME] = _md(service).get("name") or ""
    svc_labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return svc_labels, changed


def new_endpoint_slice(service: Mapping, ports: Iterable[Mapping], address_type: str) -> dict:
    """``newEndpointSlice``: an empty slice for this Service (name left to ``generateName``)."""
    md = _md(service)
    labels, _ = slice_labels(None, service)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": _slice_prefix(md.get("name") or ""),
            "namespace": md.get("namespace") or "",
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": md.get("name") or "",
                    "uid": md.get("uid") or "",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": address_type,
        "ports": [dict(p) for p in ports],
        "endpoints": [],
    }


def _is_placeholder_of(existing: Mapping, placeholder: Mapping) -> bool:
    """``placeholderSliceCompare``: namespace, labels, ownerReferences, addressType, ports and
    endpoints equal (nil == empty); other metadata ignored."""
    a, b = _md(existing), _md(placeholder)
    return (
        (a.get("namespace") or "") == (b.get("namespace") or "")
        and (a.get("labels") or {}) == (b.get("labels") or {})
        and (a.get("ownerReferences") or []) == (b.get("ownerReferences") or [])
        and existing.get("addressType") == placeholder.get("addressType")
        and not existing.get("ports")
        and not existing.get("endpoints")
    )


# ---------------------------------------------------------------------------------------------
# the reconciler (reconciler.go)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to write for one Service. ``create`` objects carry ``generateName`` (the API server
    names them); ``update`` objects carry the resourceVersion they were computed from (so a
    stale cache ends in a Conflict) unless they reuse the name of a slice being replaced.
    ``missing_nodes``: Pods were skipped because their Node is unknown; retry later."""

    create: tuple[dict, ...] = ()
    update: tuple[dict, ...] = ()
    delete: tuple[dict, ...] = ()
    missing_nodes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


class _Desired:
    """An ``EndpointSet`` that pops in sorted order (deterministic stand-in for ``PopAny``)."""

    def __init__(self, endpoints: Iterable[dict]):
        self.items: dict[tuple, dict] = {endpoint_key(e): e for e in sorted(endpoints, key=endpoint_key)}

    def __len__(self) -> int:
        return len(self.items)

    def take(self, ep: Mapping) -> dict | None:
        return self.items.pop(endpoint_key(ep), None)

    def pop(self) -> dict:
        return self.items.pop(next(iter(self.items)))


def reconcile(
    service: Mapping,
    pods: Iterable[Mapping],
    nodes_by_name: Mapping[str, Mapping],
    existing_slices: Iterable[Mapping],
    *,
    max_endpoints_per_slice: int = DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    now: _dt.datetime | str | None,
) -> Plan:
    """``Reconciler.Reconcile`` + ``finalize`` as a pure function.

    ``pods`` may be every Pod of the namespace (the selector is applied here);
    ``existing_slices`` are the slices labelled for this Service; slices not managed by this
    controller, or pending deletion, are ignored. ``now`` is the last-change trigger time
    written to the annotation of every created/updated slice (None removes it)."""
    if _spec(service).get("type") == "ExternalName":
        return Plan()
    selector = service_selector(service)
    if selector is None:
        return Plan()
    svc_md = _md(service)
    ns, name = svc_md.get("namespace") or "", svc_md.get("name") or ""
    slices = sorted(
        (
            s
            for s in existing_slices
            if (_md(s).get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME
            and (_md(s).get("labels") or {}).get(LABEL_SERVICE_NAME) == name
            and (_md(s).get("namespace") or "") == ns
            and not _md(s).get("deletionTimestamp")
        ),
        key=lambda s: _md(s).get("name") or "",
    )
    selected = [p for p in pods if (_md(p).get("namespace") or "") == ns and selector_matches(selector, _md(p).get("labels"))]
    selected.sort(key=lambda p: _md(p).get("name") or "")
    trigger = format_rfc3339nano(now)
    families = address_types_for_service(service)

    create: list[dict] = []
    update: list[dict] = []
    delete: list[dict] = [s for s in slices if s.get("addressType") not in families]
    missing: set[str] = set()
    for family in families:
        of_type = [s for s in slices if s.get("addressType") == family]
        c, u, d = _reconcile_address_type(service, selected, nodes_by_name, of_type, family, max_endpoints_per_slice, missing)
        create += c
        update += u
        delete += d
    if svc_md.get("deletionTimestamp"):
        create = []  # don't race the garbage collector (finalize)
    for s in create + update:
        _set_trigger_time(s, trigger)
    return Plan(
        create=tuple(create),
        update=tuple(sorted(update, key=lambda s: _md(s).get("name") or "")),
        delete=tuple(sorted(delete, key=lambda s: _md(s).get("name") or "")),
        missing_nodes=tuple(sorted(missing)),
    )


def _reconcile_address_type(service, pods, nodes_by_name, existing, family, max_eps, missing):
    """``reconcileByAddressType`` and the create->update half of ``finalize``."""
    publish_not_ready = bool(_spec(service).get("publishNotReadyAddresses"))
    to_create: list[dict] = []
    to_update: list[dict] = []
    to_delete: list[dict] = []
    existing_by_ports: dict[tuple, list[dict]] = {}
    for s in existing:
        if owned_by(s, service):
            existing_by_ports.setdefault(port_map_key(s.get("ports")), []).append(s)
        else:
            to_delete.append(s)

    desired_ports: dict[tuple, list[dict]] = {}
    desired_eps: dict[tuple, list[dict]] = {}
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, True):
            continue
        ports = endpoint_ports(service, pod)
        key = port_map_key(ports)
        desired_ports.setdefault(key, ports)
        eps = desired_eps.setdefault(key, [])
        node_name = _spec(pod).get("nodeName") or ""
        node = nodes_by_name.get(node_name) if node_name else None
        if node is None:
            # the Node may not be in the cache yet: skip the Pod now, retry the Service later
            missing.add(node_name)
            if not publish_not_ready:
                continue
        ep = pod_to_endpoint(pod, service, node, family)
        if ep["addresses"]:
            eps.append(ep)

    for key in sorted(desired_eps):
        c, u, d = _reconcile_port_map(service, existing_by_ports.get(key, []), _Desired(desired_eps[key]), desired_ports[key], family, max_eps)
        to_create += c
        to_update += u
        to_delete += d
    for key in sorted(existing_by_ports):
        if key not in desired_eps:
            to_delete += existing_by_ports[key]

    # no endpoints at all: keep (or create) one placeholder slice
    if len(existing) == len(to_delete) and not to_create:
        placeholder = new_endpoint_slice(service, [], family)
        if len(to_delete) == 1 and _is_placeholder_of(to_delete[0], placeholder):
            to_delete = []
        else:
            to_create.append(placeholder)

    # finalize: turn create+delete pairs into updates that reuse the old names
    i = 0
    while i < len(to_delete) and to_create:
        old = to_delete[i]
        new = to_create[-1]
        if old.get("addressType") == new.get("addressType") and owned_by(old, service):
            new["metadata"]["name"] = _md(old).get("name")
            to_update.append(to_create.pop())
            del to_delete[i]
        else:
            i += 1
    return to_create, to_update, to_delete


def _reconcile_port_map(service, existing, desired: _Desired, ports, family, max_eps):
    """``reconcileByPortMapping``: steps 1-3 of the packing rules for one port list."""
    by_name: dict[str, dict] = {}
    unchanged: dict[str, None] = {}  # ordered sets of names
    to_update: dict[str, None] = {}
    to_delete: dict[str, None] = {}

    # 1. keep wanted endpoints in place, replace changed ones, drop the rest
    for s in existing:
        sname = _md(s).get("name") or ""
        by_name[sname] = s
        old_eps = s.get("endpoints") or []
        new_eps = []
        ep_updated = False
        for ep in old_eps:
            got = desired.take(ep)
            if got is not None:
                new_eps.append(got)
                if not _endpoints_equal_beyond_hash(got, ep):
                    ep_updated = True
        labels, labels_changed = slice_labels(s, service)
        if ep_updated or len(old_eps) != len(new_eps):
            if not new_eps:
                to_delete[sname] = None
            else:
                c = copy.deepcopy(s)
                c["endpoints"] = new_eps
                c.setdefault("metadata", {})["labels"] = labels
                by_name[sname] = c
                to_update[sname] = None
        elif labels_changed:
            c = copy.deepcopy(s)
            c.setdefault("metadata", {})["labels"] = labels
            by_name[sname] = c
            to_update[sname] = None
        else:
            unchanged[sname] = None

    # 2. fill the slices being updated anyway, fullest first
    if len(desired) and to_update:
        for s in sorted((by_name[n] for n in to_update), key=lambda s: -len(s["endpoints"])):
            while len(desired) and len(s["endpoints"]) < max_eps:
                s["endpoints"].append(desired.pop())

    # 3. the rest: into the unchanged slice closest to full without overflow, else new slices
    to_create: list[dict] = []
    while len(desired):
        fill = None
        if len(desired) < max_eps and unchanged:
            fill = _slice_to_fill([by_name[n] for n in unchanged], len(desired), max_eps)
        if fill is None:
            fill = new_endpoint_slice(service, ports, family)
        else:
            fill = copy.deepcopy(fill)
            fill.setdefault("endpoints", [])
            by_name[_md(fill)["name"]] = fill
        while len(desired) and len(fill["endpoints"]) < max_eps:
            fill["endpoints"].append(desired.pop())
        if _md(fill).get("name"):
            to_update[_md(fill)["name"]] = None
            unchanged.pop(_md(fill)["name"], None)
        else:
            to_create.append(fill)

    updates = [by_name[n] for n in to_update]
    for s in to_create + updates:
        s["endpoints"].sort(key=endpoint_key)
        s["ports"] = sorted(s.get("ports") or [], key=_port_sort_key)
    return to_create, updates, [by_name[n] for n in to_delete]


def _slice_to_fill(slices: list[dict], n: int, max_eps: int) -> dict | None:
    """``getSliceToFill``: the slice that ends closest to full when ``n`` endpoints are added."""
    closest_diff, closest = max_eps, None
    for s in slices:
        diff = max_eps - (n + len(s.get("endpoints") or ()))
        if 0 <= diff < closest_diff:
            closest_diff, closest = diff, s
            if diff == 0:
                break
    return closest


def _set_trigger_time(slice_: dict, trigger: str | None) -> None:
    """``addTriggerTimeAnnotation``: set it, or remove it when there is no trigger time."""
    md = slice_.setdefault("metadata", {})
    ann = dict(md.get("annotations") or {})
    if trigger:
        ann[ANNOTATION_LAST_CHANGE_TRIGGER_TIME] = trigger
    else:
        ann.pop(ANNOTATION_LAST_CHANGE_TRIGGER_TIME, None)
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
