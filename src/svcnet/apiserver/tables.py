"""Server-side printing: objects -> a ``meta.k8s.io/v1`` ``Table``, as the kube-apiserver builds it.

Theory of operation
-------------------
``kubectl get`` asks the server for ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``
and prints the cells it gets back verbatim; the columns and cell texts are therefore the
server's business. Upstream builds them in ``pkg/printers/internalversion/printers.go`` (one
``printX`` function and one column list per type) and wraps them in
``pkg/printers/tablegenerator.go`` / ``pkg/printers/storage`` (the registry's TableConvertor):

* The server always generates with ``GenerateOptions{Wide: true}``: every row carries every
  cell, priority-1 columns included; the client hides priority>0 columns unless ``-o wide``.
  (Consequence: the 16-character LoadBalancer clipping of ``External-IP`` never happens on the
  server path; ``wide=False`` reproduces it for the unit tests that exercise it.)
* ``columnDefinitions`` carry name/type/format/description/priority; descriptions are the API
  field docs (``SwaggerDoc()``), the ``Name`` column has ``format: name``.
* Cells are JSON strings or integers (Go ``int64``), in column order.
* ``Age`` and every other "how long ago" cell is ``duration.HumanDuration(now - t)``
  (:func:`human_duration`, thresholds copied from k8s.io/apimachinery/pkg/util/duration); a
  missing timestamp prints ``<unknown>``.
* The endpoint handler (``apiserver/pkg/endpoints/handlers/response.go`` ``asTable``) then sets
  each row's ``object`` per ``includeObject``: ``Metadata`` (default) -> a
  ``PartialObjectMetadata`` carrying the whole ``metadata``; ``Object`` -> the full object;
  ``None`` -> null. The table's ``metadata`` is the list's ``resourceVersion``/``continue``
  (the object's resourceVersion for a single object).
* Watches with ``as=Table`` send a one-row Table per event; after the first event the server
  leaves the column definitions out (:func:`table_row_for_watch`).

Pods get ``conditions: [{type: Completed, ...}]`` on rows of Succeeded/Failed pods, as upstream.
A resource without a printer gets ``Name`` + ``Age``.

Nothing here does I/O; ``now`` is a parameter so tests are deterministic.
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Callable
from typing import Any

from svcnet.api.resources import ResourceType
from svcnet.apiserver.table_columns import COLUMNS, DEFAULT_COLUMNS

__all__ = [
    "COLUMNS",
    "format_labels",
    "format_label_selector",
    "human_duration",
    "parse_time",
    "row_for",
    "table_row_for_watch",
    "to_table",
    "translate_timestamp_since",
]

Cells = list[Any]

# --------------------------------------------------------------------------------------------
# durations (k8s.io/apimachinery/pkg/util/duration/duration.go HumanDuration)


def human_duration(d: _dt.timedelta | float) -> str:
    """``duration.HumanDuration``: ~2-3 significant figures (``5s``, ``3m20s``, ``10m``,
    ``5h3m``, ``2d3h``, ``400d``, ``3y20d``, ``9y``). Up to 2s in the future reads ``0s``."""
    us = round(d * 1_000_000) if isinstance(d, (int, float)) else d // _dt.timedelta(microseconds=1)
    seconds = int(us / 1_000_000)  # Go int(d.Seconds()): truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = us // 60_000_000
    if minutes < 10:
        s = (us // 1_000_000) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = us // 3_600_000_000
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> _dt.datetime | None:
    """An RFC 3339 timestamp (``metav1.Time`` or ``MicroTime``) as an aware datetime; None if unset."""
    if not value or not isinstance(value, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


def _now(now: _dt.datetime | None) -> _dt.datetime:
    if now is None:
        return _dt.datetime.now(_dt.timezone.utc)
    return now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)


def translate_timestamp_since(value: Any, now: _dt.datetime | None = None) -> str:
    """``translateTimestampSince``: ``<unknown>`` for an unset time, else HumanDuration."""
    t = parse_time(value)
    if t is None:
        return "<unknown>"
    return human_duration(_now(now) - t)


# --------------------------------------------------------------------------------------------
# label helpers (labels.FormatLabels, metav1.FormatLabelSelector)


def format_labels(labels: dict | None) -> str:
    """``labels.FormatLabels``: ``a=1,b=2`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(sel: dict | None) -> str:
    """``metav1.LabelSelectorAsSelector(sel).String()``; raises ValueError when invalid."""
    if sel is None:
        return ""
    try:
        from svcnet.api.labels import selector_from_label_selector
    except ImportError:  # pragma: no cover - the labels module is part of the tree
        selector_from_label_selector = None
    if selector_from_label_selector is not None:
        return str(selector_from_label_selector(sel))
    return ",".join(f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items()))


def format_label_selector(sel: dict | None) -> str:
    """``metav1.FormatLabelSelector``: the selector string, ``<none>`` if empty, ``<error>``."""
    try:
        s = _selector_string(sel)
    except ValueError:
        return "<error>"
    return s or "<none>"


# --------------------------------------------------------------------------------------------
# printers: (obj, wide, now) -> (cells, row conditions or None)


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _age(obj: dict, now: _dt.datetime) -> str:
    return translate_timestamp_since(_md(obj).get("creationTimestamp"), now)


def _lb_status(status: dict, wide: bool) -> str:
    """``loadBalancerStatusStringer``: the set of ingress IPs (else hostnames), sorted, joined;
    clipped to 16 bytes with ``...`` unless wide."""
    result: set[str] = set()
    for ing in (status.get("loadBalancer") or {}).get("ingress") or []:
        if ing.get("ip"):
            result.add(ing["ip"])
        elif ing.get("hostname"):
            result.add(ing["hostname"])
    r = ",".join(sorted(result))
    if not wide and len(r) > 16:
        r = r[: 16 - 3] + "..."
    return r


def _service_external_ip(svc: dict, wide: bool) -> str:
    spec = svc.get("spec") or {}
    typ = spec.get("type", "")
    external = list(spec.get("externalIPs") or [])
    if typ in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if typ == "LoadBalancer":
        lb = _lb_status(svc.get("status") or {}, wide)
        if external:
            results = lb.split(",") if lb else []
            return ",".join(results + external)
        return lb if lb else "<pending>"
    if typ == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_ports(ports: list[dict]) -> str:
    pieces = []
    for p in ports:
        proto = p.get("protocol", "")
        if p.get("nodePort"):
            pieces.append(f"{p.get('port', 0)}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port', 0)}/{proto}")
    return ",".join(pieces)


def _print_service(svc: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    internal_ip = cluster_ips[0] if cluster_ips else "<none>"
    ports = _service_ports(spec.get("ports") or []) or "<none>"
    cells: Cells = [_md(svc).get("name", ""), spec.get("type", ""), internal_ip, _service_external_ip(svc, wide), ports, _age(svc, now)]
    if wide:
        cells.append(format_labels(spec.get("selector")))
    return cells, None


def _join_host_port(host: str, port: Any) -> str:
    """``net.JoinHostPort``: brackets around hosts containing a colon (IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_endpoints(ep: dict) -> str:
    """``formatEndpoints(endpoints, nil)``: first 3 ``ip:port`` then `` + N more...``."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    out: list[str] = []
    mx, more, count = 3, False, 0
    for ss in subsets:
        addrs = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:  # headless services with no ports
            count += len(addrs)
            for a in addrs:
                if len(out) == mx:
                    more = True
                    break
                out.append(a.get("ip", ""))
            continue
        for port in ports:
            count += len(addrs)
            for a in addrs:
                if len(out) == mx:
                    more = True
                    break
                out.append(_join_host_port(a.get("ip", ""), port.get("port", 0)))
    ret = ",".join(out)
    if more:
        return f"{ret} + {count - mx} more..."
    return ret


def _list_with_more(items: list[str], more: bool, count: int, mx: int) -> str:
    ret = ",".join(items)
    if more:
        return f"{ret} + {count - mx} more..."
    return ret or "<unset>"


def _format_discovery_ports(ports: list[dict]) -> str:
    out: list[str] = []
    mx, more, count = 3, False, 0
    for p in ports:
        if len(out) < mx:
            num = "*"
            if p.get("port") is not None:
                num = str(p["port"])
            elif p.get("name") is not None:
                num = p["name"]
            out.append(num)
        elif len(out) == mx:
            more = True
        count += 1
    return _list_with_more(out, more, count, mx)


def _format_discovery_endpoints(endpoints: list[dict]) -> str:
    out: list[str] = []
    mx, more, count = 3, False, 0
    for ep in endpoints:
        for addr in ep.get("addresses") or []:
            if len(out) < mx:
                out.append(addr)
            elif len(out) == mx:
                more = True
            count += 1
    return _list_with_more(out, more, count, mx)


def _print_endpointslice(es: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    return [
        _md(es).get("name", ""),
        es.get("addressType", ""),
        _format_discovery_ports(es.get("ports") or []),
        _format_discovery_endpoints(es.get("endpoints") or []),
        _age(es, now),
    ], None


def _print_endpoints(ep: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    return [_md(ep).get("name", ""), _format_endpoints(ep), _age(ep, now)], None


_POD_SUCCESS = [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _restartable(container: dict | None) -> bool:
    """``podutil.IsRestartableInitContainer``: an init container with restartPolicy Always."""
    return bool(container) and container.get("restartPolicy") == "Always"


def _finished_at(cs: dict) -> _dt.datetime | None:
    term = ((cs.get("lastState") or {}).get("terminated")) or None
    if term is None:
        return None
    return parse_time(term.get("finishedAt"))


def _later(a: _dt.datetime | None, b: _dt.datetime | None) -> _dt.datetime | None:
    if b is None:
        return a
    if a is None or a < b:
        return b
    return a


def _condition_true(status: dict, ctype: str) -> bool:
    for c in status.get("conditions") or []:
        if c.get("type") == ctype:
            return c.get("status") == "True"
    return False


def _has_ready_condition(status: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _print_pod(pod: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    """``printPod``: READY, STATUS (the reason logic), RESTARTS (``3 (5m ago)``)."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    md = _md(pod)
    restarts = 0
    sidecar_restarts = 0
    total = len(spec.get("containers") or [])
    ready = 0
    last_restart: _dt.datetime | None = None
    last_sidecar_restart: _dt.datetime | None = None

    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    conditions = None
    if phase == "Succeeded":
        conditions = copy.deepcopy(_POD_SUCCESS)
    elif phase == "Failed":
        conditions = copy.deepcopy(_POD_FAILED)

    init_specs = spec.get("initContainers") or []
    init_by_name = {c.get("name", ""): c for c in init_specs}
    total += sum(1 for c in init_specs if _restartable(c))

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_restart = _later(last_restart, _finished_at(cs))
        sidecar = _restartable(init_by_name.get(cs.get("name", "")))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            last_sidecar_restart = _later(last_sidecar_restart, _finished_at(cs))
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:  # initialization failed
            if not term.get("reason"):
                if term.get("signal"):
                    reason = f"Init:Signal:{term['signal']}"
                else:
                    reason = f"Init:ExitCode:{term.get('exitCode') or 0}"
            else:
                reason = "Init:" + term["reason"]
            initializing = True
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
            initializing = True
        else:
            reason = f"Init:{i}/{len(init_specs)}"
            initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, _finished_at(cs))
            state = cs.get("state") or {}
            term = state.get("terminated")
            waiting = state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                if term.get("signal"):
                    reason = f"Signal:{term['signal']}"
                else:
                    reason = f"ExitCode:{term.get('exitCode') or 0}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # back to "Running" if at least one container is still running
        if reason == "Completed" and has_running:
            reason = "Running" if _has_ready_condition(status) else "NotReady"

    if md.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif md.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_s = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_s = f"{restarts} ({human_duration(now - last_restart)} ago)"

    cells: Cells = [md.get("name", ""), f"{ready}/{total}", reason, restarts_s, _age(pod, now)]
    if wide:
        pod_ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
        pod_ip = (pod_ips[0].get("ip") if pod_ips else "") or "<none>"
        node = spec.get("nodeName") or "<none>"
        nominated = status.get("nominatedNodeName") or "<none>"
        gates = spec.get("readinessGates") or []
        readiness = "<none>"
        if gates:
            true_count = 0
            for g in gates:
                for c in status.get("conditions") or []:
                    if c.get("type") == g.get("conditionType"):
                        if c.get("status") == "True":
                            true_count += 1
                        break
            readiness = f"{true_count}/{len(gates)}"
        cells += [pod_ip, node, nominated, readiness]
    return cells, conditions


def _node_roles(labels: dict) -> list[str]:
    roles: set[str] = set()
    for k, v in labels.items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return sorted(roles)


def _node_address(node: dict, typ: str) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == typ:
            return a.get("address", "")
    return "<none>"


def _print_node(node: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    status = node.get("status") or {}
    cond = {c.get("type"): c for c in status.get("conditions") or []}
    st: list[str] = []
    if "Ready" in cond:
        st.append("Ready" if cond["Ready"].get("status") == "True" else "NotReady")
    if not st:
        st.append("Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        st.append("SchedulingDisabled")
    roles = ",".join(_node_roles(_md(node).get("labels") or {})) or "<none>"
    info = status.get("nodeInfo") or {}
    cells: Cells = [_md(node).get("name", ""), ",".join(st), roles, _age(node, now), info.get("kubeletVersion", "")]
    if wide:
        cells += [
            _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]
    return cells, None


def _print_namespace(ns: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    return [_md(ns).get("name", ""), (ns.get("status") or {}).get("phase", ""), _age(ns, now)], None


def _containers(template: dict) -> tuple[str, str]:
    cs = ((template or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _print_deployment(d: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    desired = spec.get("replicas", 1)  # defaulted to 1 by the server when absent
    cells: Cells = [
        _md(d).get("name", ""),
        f"{int(status.get('readyReplicas') or 0)}/{int(desired or 0)}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age(d, now),
    ]
    if wide:
        names, images = _containers(spec.get("template") or {})
        try:
            sel = _selector_string(spec.get("selector"))
        except ValueError:
            sel = "<invalid>"
        cells += [names, images, sel]
    return cells, None


def _print_replicaset(rs: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    cells: Cells = [
        _md(rs).get("name", ""),
        int(spec.get("replicas", 1) or 0),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        _age(rs, now),
    ]
    if wide:
        names, images = _containers(spec.get("template") or {})
        cells += [names, images, format_label_selector(spec.get("selector"))]
    return cells, None


def _event_source(ev: dict) -> str:
    """``formatEventSource``: component (or reportingController), ``, host`` when set."""
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingController") or ""
    instance = src.get("host") or ev.get("reportingInstance") or ""
    return component if not instance else f"{component}, {instance}"


def _print_event(ev: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    first = translate_timestamp_since(ev.get("firstTimestamp"), now)
    if parse_time(ev.get("firstTimestamp")) is None:
        first = translate_timestamp_since(ev.get("eventTime"), now)
    last = translate_timestamp_since(ev.get("lastTimestamp"), now)
    if parse_time(ev.get("lastTimestamp")) is None:
        last = first
    count = int(ev.get("count") or 0)
    series = ev.get("series")
    if series is not None:
        last = translate_timestamp_since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1  # singleton events have no count in the events.k8s.io API
    inv = ev.get("involvedObject") or {}
    kind = (inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    message = (ev.get("message") or "").strip()
    if wide:
        cells: Cells = [last, ev.get("type", ""), ev.get("reason", ""), target, inv.get("fieldPath", ""),
                        _event_source(ev), message, first, count, _md(ev).get("name", "")]
    else:
        cells = [last, ev.get("type", ""), ev.get("reason", ""), target, message]
    return cells, None


def _print_default(obj: dict, wide: bool, now: _dt.datetime) -> tuple[Cells, list | None]:
    return [_md(obj).get("name", ""), _age(obj, now)], None


_PRINTERS: dict[str, Callable[[dict, bool, _dt.datetime], tuple[Cells, list | None]]] = {
    "services": _print_service,
    "endpointslices": _print_endpointslice,
    "endpoints": _print_endpoints,
    "pods": _print_pod,
    "nodes": _print_node,
    "namespaces": _print_namespace,
    "deployments": _print_deployment,
    "replicasets": _print_replicaset,
    "events": _print_event,
}

# --------------------------------------------------------------------------------------------
# the Table


def _columns(rt: ResourceType | str) -> tuple[dict, ...]:
    name = rt if isinstance(rt, str) else rt.name
    return COLUMNS.get(name, DEFAULT_COLUMNS)


def row_for(rt: ResourceType | str, obj: dict, *, wide: bool = True, now: _dt.datetime | None = None) -> dict:
    """One ``TableRow`` (``cells`` and, for finished pods, ``conditions``) without ``object``."""
    name = rt if isinstance(rt, str) else rt.name
    printer = _PRINTERS.get(name, _print_default)
    cells, conds = printer(obj, wide, _now(now))
    row: dict = {"cells": cells}
    if conds:
        row["conditions"] = conds
    return row


def _row_object(rt: ResourceType | str, obj: dict, include_object: str) -> Any:
    mode = include_object or "Metadata"
    if mode == "Metadata":
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": copy.deepcopy(_md(obj))}
    if mode == "Object":
        full = copy.deepcopy(obj)
        if isinstance(rt, ResourceType):
            full.setdefault("kind", rt.kind)
            full.setdefault("apiVersion", rt.api_version)
        return full
    if mode == "None":
        return None
    raise ValueError(f"unrecognized includeObject value: {include_object!r}")


def to_table(
    rt: ResourceType,
    objects: list[dict],
    *,
    resource_version: str = "",
    continue_: str | None = None,
    include_object: str = "Metadata",
    now: _dt.datetime | None = None,
    no_headers: bool = False,
    wide: bool = True,
    remaining_item_count: int | None = None,
) -> dict:
    """The ``Table`` a kube-apiserver returns for ``objects`` of resource ``rt``.

    ``include_object``: ``Metadata`` (PartialObjectMetadata rows), ``Object`` or ``None``
    (anything else raises ValueError, which the HTTP edge turns into 400 as upstream does).
    ``no_headers`` leaves ``columnDefinitions`` empty (TableOptions.noHeaders, watch events
    after the first). ``wide=False`` drops priority>0 columns and cells and clips long
    LoadBalancer addresses, as ``GenerateOptions{Wide: false}``; servers use the default.
    """
    when = _now(now)
    cols = _columns(rt)
    column_defs: list[dict] = []
    if not no_headers:
        column_defs = [dict(c) for c in cols if wide or c["priority"] == 0]
    rows = []
    for obj in objects:
        row = row_for(rt, obj, wide=wide, now=when)
        row["object"] = _row_object(rt, obj, include_object)
        rows.append(row)
    meta: dict = {}
    if resource_version:
        meta["resourceVersion"] = str(resource_version)
    if continue_:
        meta["continue"] = continue_
    if remaining_item_count is not None:
        meta["remainingItemCount"] = remaining_item_count
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_defs,
        "rows": rows,
    }


def table_row_for_watch(
    rt: ResourceType,
    frame: dict,
    *,
    first: bool = True,
    include_object: str = "Metadata",
    now: _dt.datetime | None = None,
) -> dict:
    """A watch frame as sent with ``as=Table``: ``{type, object: <one-row Table>}``. Column
    definitions go only with the ``first`` event, as the kube-apiserver's watch encoder does.
    BOOKMARK and ERROR frames pass through unchanged."""
    if frame.get("type") in ("BOOKMARK", "ERROR"):
        return frame
    obj = frame.get("object") or {}
    table = to_table(
        rt,
        [obj],
        resource_version=_md(obj).get("resourceVersion", ""),
        include_object=include_object,
        now=now,
        no_headers=not first,
    )
    return {"type": frame.get("type"), "object": table}

