"""Pure helpers shared by the EndpointSlice and Endpoints controllers. No I/O.

Theory of operation
-------------------
The pieces of upstream's ``staging/src/k8s.io/endpointslice/util/`` (and ``FindPort`` from
``utils.go`` / ``pkg/api/v1/pod/util.go``) that both controllers use:

- **Pod and Service predicates.** ``IsPodReady`` (Ready condition True),
  ``ShouldPodBeInEndpoints`` (not Succeeded/Failed, has an IP, terminating only if asked),
  ``ShouldSetHostname`` (hostname set and subdomain == Service name, same namespace), the Service
  selector (equality on every key; nil *and* ``{}`` select nothing, as upstream sees ``{}`` after
  protobuf storage) and the address families a Service wants.
- **FindPort.** An int targetPort is used as is; a string one is a port *name*, looked up with
  the Service port's protocol in the containers, then in restartable (sidecar) init containers.
- **Trackers.** :class:`TriggerTimeTracker` computes the last-change-trigger-time annotation
  (``util/trigger_time_tracker.go``). :class:`EndpointSliceTracker` remembers what the
  controller itself last wrote (``util/endpointslice_tracker.go``), keyed on resourceVersion
  instead of generation: a resourceVersion moves on every write, labels included.
- **Which Services a Pod event concerns** (``GetServicesToUpdateOnPodChange``): on an update,
  nothing unless something that shapes endpoints changed; on a label change, the union of the
  old and new Services (Pod also changed) or their symmetric difference (only labels changed).

All functions take and return plain JSON dicts and never mutate their inputs.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Iterable, Mapping


__all__ = [
    "ANNOTATION_LAST_CHANGE_TRIGGER_TIME",
    "CONTROLLER_NAME",
    "EndpointSliceTracker",
    "LABEL_HEADLESS",
    "LABEL_MANAGED_BY",
    "LABEL_SERVICE_NAME",
    "LABEL_TOPOLOGY_ZONE",
    "TriggerTimeTracker",
    "address_types_for_service",
    "canonical_ip",
    "find_port",
    "format_rfc3339nano",
    "is_pod_ready",
    "is_service_ip_set",
    "pod_addresses",
    "pod_endpoints_changed",
    "pod_ip_strings",
    "selector_matches",
    "service_key",
    "service_selector",
    "services_for_pod",
    "services_to_update_on_pod_change",
    "should_pod_be_in_endpoints",
    "should_set_hostname",
]

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
ANNOTATION_LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
#: pkg/controller/endpointslice/endpointslice_controller.go controllerQualifiedName
CONTROLLER_NAME = "endpointslice-controller.k8s.io"


# ---------------------------------------------------------------------------------------------
# small accessors


def _md(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


def _spec(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("spec") or {}


def _status(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("status") or {}


def service_key(obj: Mapping) -> tuple[str, str]:
    """``(namespace, name)``: the work-queue key of a Service."""
    md = _md(obj)
    return md.get("namespace") or "", md.get("name") or ""


def format_rfc3339nano(t: _dt.datetime | str | None) -> str | None:
    """Go's ``time.RFC3339Nano`` in UTC (trailing zeros of the fraction dropped, ``Z`` suffix)."""
    if t is None or isinstance(t, str):
        return t
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    t = t.astimezone(_dt.timezone.utc)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def _parse_time(s: str | None) -> _dt.datetime | None:
    if not s:
        return None
    try:
        t = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


# ---------------------------------------------------------------------------------------------
# Services and Pods (util/controller_utils.go)


def service_selector(service: Mapping) -> dict | None:
    """The selector, or None when the Service selects nothing (nil, or ``{}`` as stored)."""
    sel = _spec(service).get("selector")
    return dict(sel) if sel else None


def selector_matches(selector: Mapping | None, labels: Mapping | None) -> bool:
    """Service selector semantics (``labels.SelectorFromSet``): every key present with an equal
    value. Unlike ``SelectorFromSet``, None or ``{}`` matches nothing: it is "no selector"."""
    if not selector:
        return False
    # equality on every key, as selector_from_match_labels(...).matches() decides, without
    # building a selector object per check (this runs for every Service on every pod event)
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def is_service_ip_set(service: Mapping) -> bool:
    ip = _spec(service).get("clusterIP") or ""
    return ip not in ("", "None")


def is_pod_ready(pod: Mapping) -> bool:
    """``IsPodReady``: the Ready condition is True."""
    for c in _status(pod).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def pod_ip_strings(pod: Mapping) -> list[str]:
    st = _status(pod)
    ips = [p.get("ip") for p in st.get("podIPs") or () if p.get("ip")]
    if not ips and st.get("podIP"):  # v1 conversion fills podIPs[0] from podIP
        ips = [st["podIP"]]
    return ips


def should_pod_be_in_endpoints(pod: Mapping, include_terminating: bool = True) -> bool:
    """``ShouldPodBeInEndpoints``: not terminal, has an IP, and (optionally) not terminating."""
    st = _status(pod)
    if st.get("phase") in ("Succeeded", "Failed"):
        return False
    if not st.get("podIP") and not st.get("podIPs"):
        return False
    if not include_terminating and _md(pod).get("deletionTimestamp"):
        return False
    return True


def should_set_hostname(pod: Mapping, service: Mapping) -> bool:
    """``ShouldSetHostname``: hostname set, subdomain == Service name, same namespace."""
    spec = _spec(pod)
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == _md(service).get("name")
        and (_md(service).get("namespace") or "") == (_md(pod).get("namespace") or "")
    )


def canonical_ip(s: str) -> tuple[str, str] | None:
    """``(family, text)`` like Go's ``ParseIPSloppy(s).String()`` (IPv4 octets may have leading
    zeros, IPv4-mapped IPv6 prints as IPv4); None if it does not parse."""
    s = s.strip()
    if "." in s and ":" not in s:
        parts = s.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return "IPv4", ".".join(str(int(p)) for p in parts)
        return None
    try:
        ip = ipaddress.IPv6Address(s)
    except ValueError:
        return None
    if ip.ipv4_mapped is not None:
        return "IPv4", str(ip.ipv4_mapped)
    return "IPv6", str(ip)


def pod_addresses(pod: Mapping, address_type: str) -> list[str]:
    """``getEndpointAddresses``: the Pod's IPs of one family, canonical text."""
    out = []
    for raw in pod_ip_strings(pod):
        c = canonical_ip(raw)
        if c is not None and c[0] == address_type:
            out.append(c[1])
    return out


def address_types_for_service(service: Mapping) -> list[str]:
    """``getAddressTypesForService``: from ``spec.ipFamilies``; without them (old API servers),
    the ClusterIP's family, or both for headless Services."""
    out: list[str] = []
    for fam in _spec(service).get("ipFamilies") or ():
        if fam in ("IPv4", "IPv6") and fam not in out:
            out.append(fam)
    if out:
        return out
    if is_service_ip_set(service):
        c = canonical_ip(_spec(service)["clusterIP"])
        return [c[0] if c else "IPv4"]
    return ["IPv4", "IPv6"]


# ---------------------------------------------------------------------------------------------
# FindPort (utils.go, pkg/api/v1/pod/util.go)


def find_port(pod: Mapping, service_port: Mapping) -> int | None:
    """``FindPort``: the container port a Service port targets on this Pod, or None.

    Unset targetPort means the Service port (what defaulting fills in); a string targetPort is
    a port *name* (even if it looks numeric) matched together with the protocol."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return target
    if not isinstance(target, str):
        return None
    proto = service_port.get("protocol") or "TCP"
    spec = _spec(pod)
    containers = list(spec.get("containers") or ())
    # sidecars: init containers with restartPolicy Always serve traffic too
    containers += [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for c in containers:
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return p.get("containerPort")
    return None


# ---------------------------------------------------------------------------------------------
# trackers (util/trigger_time_tracker.go, util/endpointslice_tracker.go)


class TriggerTimeTracker:
    """``ComputeEndpointLastChangeTriggerTime``: the earliest trigger time (Pod Ready-condition
    transition, Service creation) that changed since the previous sync of the Service; the
    Service's creationTimestamp the first time. None: nothing changed (annotation removed)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], tuple[_dt.datetime | None, dict[str, _dt.datetime]]] = {}

    def compute(self, namespace: str, service: Mapping, pods: Iterable[Mapping]) -> str | None:
        key = (namespace, _md(service).get("name") or "")
        known = key in self._states
        last_svc, last_pods = self._states.get(key, (None, {}))
        earliest: _dt.datetime | None = None
        pod_times: dict[str, _dt.datetime] = {}
        for pod in pods:
            t = None
            for c in _status(pod).get("conditions") or ():
                if c.get("type") == "Ready":
                    t = _parse_time(c.get("lastTransitionTime"))
            if t is None:
                continue
            pname = _md(pod).get("name") or ""
            pod_times[pname] = t
            prev = last_pods.get(pname)
            if prev is None or t > prev:
                earliest = t if earliest is None or t < earliest else earliest
        svc_t = _parse_time(_md(service).get("creationTimestamp"))
        if svc_t is not None and (last_svc is None or svc_t > last_svc):
            earliest = svc_t if earliest is None or svc_t < earliest else earliest
        self._states[key] = (svc_t, pod_times)
        if not known:
            return format_rfc3339nano(svc_t)
        return format_rfc3339nano(earliest)

    def delete_service(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)


_DELETION_EXPECTED = -1


def _rv(obj: Mapping) -> int:
    try:
        return int(_md(obj).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _slice_id(obj: Mapping) -> str:
    md = _md(obj)
    return md.get("uid") or md.get("name") or ""


def _slice_service(obj: Mapping) -> tuple[str, str]:
    md = _md(obj)
    return md.get("namespace") or "", (md.get("labels") or {}).get(LABEL_SERVICE_NAME) or ""


class EndpointSliceTracker:
    """What this controller last wrote, per Service: slice id -> resourceVersion (or
    deletion expected). Lets the driver tell its own writes from others' edits, and a cache
    that lags its own writes (``StaleSlices``) from real state. Upstream tracks generations;
    a resourceVersion moves on every write (labels included), which is what we need here."""

    def __init__(self) -> None:
        self._by_service: dict[tuple[str, str], dict[str, int]] = {}
        self._uids: dict[tuple[str, str], str] = {}

    def has(self, slice_: Mapping) -> bool:
        return _slice_id(slice_) in self._by_service.get(_slice_service(slice_), {})

    def should_sync(self, slice_: Mapping) -> bool:
        """True unless the slice is exactly (or older than) what we wrote: someone else changed it."""
        g = self._by_service.get(_slice_service(slice_), {}).get(_slice_id(slice_))
        return g is None or _rv(slice_) > g

    def stale_slices(self, service: Mapping, slices: Iterable[Mapping]) -> bool:
        """True if the cache lags our writes: a slice older than we wrote, one we deleted, or
        one we wrote that is missing. A new Service UID forgets the old Service's writes."""
        key = service_key(service)
        uid = _md(service).get("uid") or ""
        if self._uids.get(key) and uid and self._uids[key] != uid:
            self._by_service.pop(key, None)
        self._uids[key] = uid
        gens = self._by_service.get(key)
        if not gens:
            return False
        seen = set()
        for s in slices:
            sid = _slice_id(s)
            seen.add(sid)
            g = gens.get(sid)
            if g is not None and (g == _DELETION_EXPECTED or g > _rv(s)):
                return True
        return any(g != _DELETION_EXPECTED and sid not in seen for sid, g in gens.items())

    def update(self, slice_: Mapping) -> None:
        self._by_service.setdefault(_slice_service(slice_), {})[_slice_id(slice_)] = _rv(slice_)

    def expect_deletion(self, slice_: Mapping) -> None:
        self._by_service.setdefault(_slice_service(slice_), {})[_slice_id(slice_)] = _DELETION_EXPECTED

    def handle_deletion(self, slice_: Mapping) -> bool:
        """Forget a deleted slice; True if we expected the deletion (or never wrote it)."""
        gens = self._by_service.get(_slice_service(slice_))
        if gens is not None:
            g = gens.pop(_slice_id(slice_), None)
            if g is not None and g != _DELETION_EXPECTED:
                return False
        return True

    def delete_service(self, namespace: str, name: str) -> None:
        self._by_service.pop((namespace, name), None)
        self._uids.pop((namespace, name), None)


# ---------------------------------------------------------------------------------------------
# which Services a Pod event concerns (util/controller_utils.go GetServicesToUpdateOnPodChange)


def pod_endpoints_changed(old: Mapping, new: Mapping) -> tuple[bool, bool]:
    """``podEndpointsChanged``: (the Pod changed in a way that may change its endpoints, its
    labels changed so the Services it belongs to may have changed). Upstream counts a
    hostname/subdomain change as a label change (those fields are immutable there); we count it
    as an endpoint change, and also watch nodeName, phase and container ports (cheap, and they
    do change endpoints)."""
    so, sn = _spec(old), _spec(new)
    labels_changed = (_md(old).get("labels") or {}) != (_md(new).get("labels") or {})
    changed = (
        _md(old).get("deletionTimestamp") != _md(new).get("deletionTimestamp")
        or is_pod_ready(old) != is_pod_ready(new)
        or pod_ip_strings(old) != pod_ip_strings(new)
        or (so.get("hostname"), so.get("subdomain")) != (sn.get("hostname"), sn.get("subdomain"))
        or so.get("nodeName") != sn.get("nodeName")
        or _status(old).get("phase") != _status(new).get("phase")
        or _container_ports(old) != _container_ports(new)
    )
    return changed, labels_changed


def _container_ports(pod: Mapping) -> list:
    spec = _spec(pod)
    return [
        (c.get("name"), c.get("restartPolicy"), c.get("ports"))
        for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    ]


def services_for_pod(services: Iterable[Mapping], pod: Mapping, labels: Mapping | None = None) -> set[tuple[str, str]]:
    """``getServicesForPod``: keys of the Services (from ``services``) in the Pod's namespace
    whose selector matches ``labels`` (default: the Pod's)."""
    ns = _md(pod).get("namespace") or ""
    labels = _md(pod).get("labels") if labels is None else labels
    return {
        service_key(s)
        for s in services
        if (_md(s).get("namespace") or "") == ns and selector_matches(service_selector(s), labels)
    }


def services_to_update_on_pod_change(services: Iterable[Mapping], old: Mapping, new: Mapping) -> set[tuple[str, str]]:
    """``GetServicesToUpdateOnPodChange``: nothing if the resourceVersion or nothing relevant
    changed; on a label change, the union (Pod also changed) or the symmetric difference."""
    if _md(old).get("resourceVersion") and _md(old).get("resourceVersion") == _md(new).get("resourceVersion"):
        return set()
    pod_changed, labels_changed = pod_endpoints_changed(old, new)
    if not pod_changed and not labels_changed:
        return set()
    services = list(services)
    now = services_for_pod(services, new)
    if not labels_changed:
        return now
    before = services_for_pod(services, new, _md(old).get("labels") or {})
    return now | before if pod_changed else now ^ before
