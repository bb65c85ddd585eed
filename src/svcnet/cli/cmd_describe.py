"""``svcnet describe``: kubectl's multi-line descriptions of services, pods and EndpointSlices.

Theory of operation
-------------------
Layout follows k8s.io/kubectl/pkg/describe/describe.go: text written through a *prefix writer*
(each level indents two spaces) into Go's ``text/tabwriter`` with min width 0, padding 2 and no
remembered widths (:class:`svcnet.cli.printers.TabWriter`), so ``Label:\\tvalue`` lines align
on the widest label of their block, and a line without a tab ends a block (``Events:``,
``Ports:``) exactly as in kubectl.

* Service (``describeService``): Name, Namespace, Labels, Annotations (minus the last-applied
  annotation), Selector, Type, IP Family Policy, IP Families, IP, IPs, External IPs, Desired
  LoadBalancer IP, External Name, LoadBalancer Ingress, then per port ``Port``, ``TargetPort``,
  ``NodePort`` and ``Endpoints`` - the ready addresses of the Service's EndpointSlices
  (``kubernetes.io/service-name=<svc>``) for that port name, ``ip:port``, first 3 then
  `` + N more...`` - then Session Affinity, External/Internal Traffic Policy, HealthCheck
  NodePort, LoadBalancer Source Ranges, Traffic Distribution and Events.
* Pod: the common part of ``describePod`` (node, start time, status, IPs, controller,
  containers with state/ready/restarts/ports/env, conditions, volumes, QoS, node selectors,
  tolerations, events).
* EndpointSlice: ``describeEndpointSliceV1``.
* other kinds: kubectl's generic describer (sorted fields with "smart" labels).

Events are those whose ``involvedObject`` names the object (name, namespace, kind, uid when
both sides have one; pods match any kind, as kubectl clears it), oldest first, as
``Type Reason Age From Message`` with ``(xN over T)`` for repeated events; ``Events:  <none>``
when there are none. A NAME that does not exist is looked up as a prefix (``describe svc
kube``), each match printed followed by an empty line, as kubectl does.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import sys
from typing import Any, TextIO

import typer

from svcnet.api.errors import APIError, NotFound, SvcnetError
from svcnet.api.resources import ResourceType, by_name
from svcnet.apiserver.tables import format_labels, parse_time, translate_timestamp_since
from svcnet.cli.cmd_get import enhance_list_error
from svcnet.cli.cmdutil import effective_namespace, emit, parse_resource_args, run_command
from svcnet.cli.printers import TabWriter, format_error, format_errors
from svcnet.client.base import Client

__all__ = [
    "describe_endpointslice",
    "describe_generic",
    "describe_namespace",
    "describe_pod",
    "describe_service",
    "format_endpoint_slices",
    "register",
    "run_describe",
]

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MAX_ANNOTATION_LEN = 140


class _PrefixWriter:
    """kubectl's prefixWriter over a describe tabwriter (min width 0, padding 2)."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.tw = TabWriter(self.buf, minwidth=0, padding=2, remember_widths=False)

    def write(self, level: int, text: str) -> None:
        self.tw.write("  " * level + text.replace("\x1b", "^["))

    def write_line(self, text: str = "") -> None:
        self.tw.write(text + "\n")

    def flush(self) -> None:
        self.tw.flush()

    def text(self) -> str:
        self.tw.flush()
        return self.buf.getvalue()


def _name_namespace_labels_annotations(w: _PrefixWriter, md: dict) -> None:
    """The header most of kubectl's describers start with."""
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    _labels_multiline(w, "Labels", md.get("labels"))
    _annotations_multiline(w, "Annotations", md.get("annotations"))


def _labels_multiline(w: _PrefixWriter, title: str, labels: dict | None) -> None:
    w.write(0, f"{title}:\t")
    if not labels:
        w.write_line("<none>")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(0, "\t")
        w.write(0, f"{key}={labels[key]}\n")


def _annotations_multiline(w: _PrefixWriter, title: str, annotations: dict | None) -> None:
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in (annotations or {}) if k != _LAST_APPLIED)
    if not keys:
        w.write_line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = str(annotations[key])
        if value.endswith("\n"):
            value = value[:-1]
        if len(value) + len(key) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for s in value.split("\n"):
                short = s if len(s) <= _MAX_ANNOTATION_LEN - 2 else s[: _MAX_ANNOTATION_LEN - 2] + "..."
                w.write(0, f"\t  {short}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _event_time(ev: dict) -> _dt.datetime:
    series = ev.get("series")
    t = None
    if series:
        t = parse_time(series.get("lastObservedTime"))
    t = t or parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime"))
    return t or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def _describe_events(events: list[dict] | None, w: _PrefixWriter, now: _dt.datetime | None) -> None:
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in sorted(events, key=_event_time):
        first = translate_timestamp_since(e.get("eventTime"), now)
        if parse_time(e.get("eventTime")) is None:
            first = translate_timestamp_since(e.get("firstTimestamp"), now)
        count = int(e.get("count") or 0)
        if e.get("series"):
            s = e["series"]
            interval = f"{translate_timestamp_since(s.get('lastObservedTime'), now)} (x{int(s.get('count') or 0)} over {first})"
        elif count > 1:
            interval = f"{translate_timestamp_since(e.get('lastTimestamp'), now)} (x{count} over {first})"
        else:
            interval = first
        source = (e.get("source") or {}).get("component") or e.get("reportingController") or ""
        w.write(1, f"{e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t{(e.get('message') or '').strip()}\n")


def _join_host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoint_slices(slices: list[dict], port_name: str | None) -> str:
    """``formatEndpointSlices(slices, sets.New(portName))``: ready addresses (``ip:port`` of the
    named port), the first 3, then `` + N more...``; ``<none>`` without slices."""
    if not slices:
        return "<none>"
    out: list[str] = []
    mx, more, count = 3, False, 0
    for es in slices:
        endpoints = es.get("endpoints") or []
        ports = es.get("ports") or []
        if not ports:
            for ep in endpoints:
                if len(out) == mx:
                    more = True
                ready = (ep.get("conditions") or {}).get("ready")
                if ready is not None and not ready:
                    continue
                if not more:
                    out.append((ep.get("addresses") or [""])[0])
                count += 1
            continue
        for p in ports:
            if port_name is not None and (p.get("name") or "") != port_name:
                continue
            for ep in endpoints:
                if len(out) == mx:
                    more = True
                ready = (ep.get("conditions") or {}).get("ready")
                if ready is not None and not ready:
                    continue
                if not more and p.get("port") is not None:
                    out.append(_join_host_port((ep.get("addresses") or [""])[0], p["port"]))
                count += 1
    ret = ",".join(out)
    if more:
        return f"{ret} + {count - mx} more..."
    return ret


def _ingress_string(ingress: list[dict]) -> str:
    parts = []
    for ing in ingress:
        if ing.get("ip"):
            parts.append(ing["ip"] + (f" ({ing['ipMode']})" if ing.get("ipMode") else ""))
        else:
            parts.append(ing.get("hostname", ""))
    return ", ".join(parts)


def describe_service(svc: dict, slices: list[dict], events: list[dict] | None, now: _dt.datetime | None = None) -> str:
    """``describeService``: the text ``kubectl describe service`` prints."""
    md = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    status = svc.get("status") or {}
    w = _PrefixWriter()
    _name_namespace_labels_annotations(w, md)
    w.write(0, f"Selector:\t{format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type', '')}\n")
    if spec.get("ipFamilyPolicy"):
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    w.write(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP', '')}\n")
    w.write(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"Desired LoadBalancer IP:\t{spec['loadBalancerIP']}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{_ingress_string(ingress)}\n")
    for sp in spec.get("ports") or []:
        name = sp.get("name") or "<unset>"
        proto = sp.get("protocol", "")
        w.write(0, f"Port:\t{name}\t{sp.get('port', 0)}/{proto}\n")
        tp = sp.get("targetPort", 0)
        w.write(0, f"TargetPort:\t{tp}/{proto}\n")
        if sp.get("appProtocol") is not None:
            w.write(0, f"AppProtocol:\t{sp['appProtocol']}\n")
        if sp.get("nodePort"):
            w.write(0, f"NodePort:\t{name}\t{sp['nodePort']}/{proto}\n")
        w.write(0, f"Endpoints:\t{format_endpoint_slices(slices, sp.get('name') or '')}\n")
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity', '')}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("internalTrafficPolicy") is not None:
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    if spec.get("loadBalancerSourceRanges"):
        w.write(0, f"LoadBalancer Source Ranges:\t{','.join(spec['loadBalancerSourceRanges'])}\n")
    if spec.get("trafficDistribution") is not None:
        w.write(0, f"Traffic Distribution:\t{spec['trafficDistribution']}\n")
    if events is not None:
        _describe_events(events, w, now)
    return w.text()


def describe_endpointslice(es: dict, events: list[dict] | None, now: _dt.datetime | None = None) -> str:
    """``describeEndpointSliceV1``."""
    md = es.get("metadata") or {}
    w = _PrefixWriter()
    _name_namespace_labels_annotations(w, md)
    w.write(0, f"AddressType:\t{es.get('addressType', '')}\n")
    ports = es.get("ports") or []
    if not ports:
        w.write(0, "Ports: <unset>\n")
    else:
        w.write(0, "Ports:\n")
        w.write(1, "Name\tPort\tProtocol\n")
        w.write(1, "----\t----\t--------\n")
        for p in ports:
            pname = p.get("name") or "<unset>"
            pnum = str(p["port"]) if p.get("port") is not None else "<unset>"
            w.write(1, f"{pname}\t{pnum}\t{p.get('protocol', '')}\n")
    endpoints = es.get("endpoints") or []
    if not endpoints:
        w.write(0, "Endpoints: <none>\n")
    else:
        w.write(0, "Endpoints:\n")
        for ep in endpoints:
            w.write(1, f"- Addresses:\t{', '.join(ep.get('addresses') or []) or '<none>'}\n")
            w.write(2, "Conditions:\n")
            ready = (ep.get("conditions") or {}).get("ready")
            w.write(3, f"Ready:\t{'<unset>' if ready is None else ('true' if ready else 'false')}\n")
            w.write(2, f"Hostname:\t{ep['hostname'] if ep.get('hostname') is not None else '<unset>'}\n")
            ref = ep.get("targetRef")
            if ref is not None:
                w.write(2, f"TargetRef:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
            w.write(2, f"NodeName:\t{ep['nodeName'] if ep.get('nodeName') is not None else '<unset>'}\n")
            w.write(2, f"Zone:\t{ep['zone'] if ep.get('zone') is not None else '<unset>'}\n")
    if events is not None:
        _describe_events(events, w, now)
    return w.text()


def describe_namespace(ns: dict) -> str:
    """``describeNamespace`` as kubectl prints it against svcnet (which serves no quotas or
    limit ranges, so those sections are absent)."""
    md = ns.get("metadata") or {}
    w = _PrefixWriter()
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    _labels_multiline(w, "Labels", md.get("labels"))
    _annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"Status:\t{(ns.get('status') or {}).get('phase', '')}\n")
    return w.text()


def _rfc1123z(value: Any) -> str:
    t = parse_time(value)
    if t is None:
        return "Mon, 01 Jan 0001 00:00:00 +0000"
    return t.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def _describe_state(w: _PrefixWriter, name: str, state: dict) -> None:
    if state.get("running") is not None:
        w.write(2, f"{name}:\tRunning\n")
        w.write(3, f"Started:\t{_rfc1123z(state['running'].get('startedAt'))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{name}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        t = state["terminated"]
        w.write(2, f"{name}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{t['reason']}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{t['message']}\n")
        w.write(3, f"Exit Code:\t{int(t.get('exitCode') or 0)}\n")
        if t.get("signal"):
            w.write(3, f"Signal:\t{t['signal']}\n")
        w.write(3, f"Started:\t{_rfc1123z(t.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{_rfc1123z(t.get('finishedAt'))}\n")
    else:
        w.write(2, f"{name}:\tWaiting\n")


def _describe_containers(w: _PrefixWriter, label: str, containers: list[dict], statuses: list[dict]) -> None:
    by_name = {s.get("name", ""): s for s in statuses}
    w.write(0, f"{label}:{' <none>' if not containers else ''}\n")
    for c in containers:
        st = by_name.get(c.get("name", ""))
        w.write(1, f"{c.get('name', '')}:\n")
        if st is not None:
            w.write(2, f"Container ID:\t{st.get('containerID', '')}\n")
        w.write(2, f"Image:\t{c.get('image', '')}\n")
        if st is not None:
            w.write(2, f"Image ID:\t{st.get('imageID', '')}\n")
        ports = ", ".join(f"{p.get('containerPort', 0)}/{p.get('protocol', '')}" for p in c.get("ports") or [])
        w.write(2, f"Ports:\t{ports}\n" if "," in ports else f"Port:\t{ports or '<none>'}\n")
        hports = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', '')}" for p in c.get("ports") or [])
        w.write(2, f"Host Ports:\t{hports}\n" if "," in hports else f"Host Port:\t{hports or '<none>'}\n")
        for title, vals in (("Command", c.get("command")), ("Args", c.get("args"))):
            if vals:
                w.write(2, f"{title}:\n")
                for v in vals:
                    for s in str(v).split("\n"):
                        w.write(3, f"{s}\n")
        if st is not None:
            _describe_state(w, "State", st.get("state") or {})
            if ((st.get("lastState") or {}).get("terminated")) is not None:
                _describe_state(w, "Last State", st["lastState"])
            w.write(2, f"Ready:\t{'True' if st.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{int(st.get('restartCount') or 0)}\n")
        env = c.get("env") or []
        if not env:
            w.write(2, "Environment:\t<none>\n")
        else:
            w.write(2, "Environment:\n")
            for e in env:
                if "valueFrom" in e:
                    w.write(3, f"{e.get('name', '')}:\t (set from a reference)\n")
                else:
                    w.write(3, f"{e.get('name', '')}:\t{e.get('value', '')}\n")
        mounts = c.get("volumeMounts") or []
        if not mounts:
            w.write(2, "Mounts:\t<none>\n")
        else:
            w.write(2, "Mounts:\n")
            for m in sorted(mounts, key=lambda m: m.get("mountPath", "")):
                flags = "ro" if m.get("readOnly") else "rw"
                w.write(3, f"{m.get('mountPath', '')} from {m.get('name', '')} ({flags})\n")


def _describe_volume_source(w: _PrefixWriter, v: dict) -> None:
    """``printXVolumeSource`` for the common volume types; ``<unknown>`` for the rest."""
    b = lambda x: "true" if x else "false"  # noqa: E731 - Go %v of a bool
    if "emptyDir" in v:
        ed = v["emptyDir"] or {}
        w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n")
        w.write(2, f"Medium:\t{ed.get('medium', '')}\n")
        w.write(2, f"SizeLimit:\t{ed.get('sizeLimit') or '<unset>'}\n")
    elif "hostPath" in v:
        hp = v["hostPath"] or {}
        w.write(2, f"Type:\tHostPath (bare host directory volume)\n    Path:\t{hp.get('path', '')}\n    HostPathType:\t{hp.get('type', '')}\n")
    elif "configMap" in v:
        cm = v["configMap"] or {}
        w.write(2, f"Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{cm.get('name', '')}\n    Optional:\t{b(cm.get('optional'))}\n")
    elif "secret" in v:
        s = v["secret"] or {}
        w.write(2, f"Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{s.get('secretName', '')}\n    Optional:\t{b(s.get('optional'))}\n")
    elif "persistentVolumeClaim" in v:
        p = v["persistentVolumeClaim"] or {}
        w.write(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n")
        w.write(2, f"ClaimName:\t{p.get('claimName', '')}\n    ReadOnly:\t{b(p.get('readOnly'))}\n")
    else:
        w.write(1, "<unknown>\n")


def describe_pod(pod: dict, events: list[dict] | None, now: _dt.datetime | None = None) -> str:
    """The main part of ``describePod``."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    w = _PrefixWriter()
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    if not spec.get("nodeName"):
        w.write(0, "Node:\t<none>\n")
    else:
        w.write(0, f"Node:\t{spec['nodeName']}/{status.get('hostIP', '')}\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{_rfc1123z(status['startTime'])}\n")
    _labels_multiline(w, "Labels", md.get("labels"))
    _annotations_multiline(w, "Annotations", md.get("annotations"))
    phase = status.get("phase", "")
    if md.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {translate_timestamp_since(md['deletionTimestamp'], now)})\n")
        w.write(0, f"Termination Grace Period:\t{int(md.get('deletionGracePeriodSeconds') or 0)}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    pod_ips = status.get("podIPs") or []
    if not pod_ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in pod_ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}\n")
    for ref in md.get("ownerReferences") or []:
        if ref.get("controller"):
            w.write(0, f"Controlled By:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
            break
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("initContainers"):
        _describe_containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses") or [])
    _describe_containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses") or [])
    gates = spec.get("readinessGates") or []
    if gates:
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for g in gates:
            st = next((c.get("status", "") for c in status.get("conditions") or [] if c.get("type") == g.get("conditionType")), "<none>")
            w.write(1, f"{g.get('conditionType', '')} \t{st} \n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in status["conditions"]:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \n")
    volumes = spec.get("volumes") or []
    if not volumes:
        w.write(0, "Volumes:\t<none>\n")
    else:
        w.write(0, "Volumes:\n")
        for v in volumes:
            w.write(1, f"{v.get('name', '')}:\n")
            _describe_volume_source(w, v)
    w.write(0, f"QoS Class:\t{status.get('qosClass') or 'BestEffort'}\n")
    _labels_multiline(w, "Node-Selectors", spec.get("nodeSelector"))
    tolerations = spec.get("tolerations") or []
    w.write(0, "Tolerations:\t")
    if not tolerations:
        w.write_line("<none>")
    for i, t in enumerate(sorted(tolerations, key=lambda t: t.get("key", ""))):
        if i:
            w.write(0, "\t")
        s = t.get("key", "")
        if t.get("value"):
            s += f"={t['value']}"
        if t.get("effect"):
            s += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            s += " op=Exists" if (t.get("key") or t.get("effect")) else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            s += f" for {t['tolerationSeconds']}s"
        w.write(0, s + "\n")
    if events is not None:
        _describe_events(events, w, now)
    return w.text()


def _camel_split(s: str) -> list[str]:
    """github.com/fatih/camelcase ``Split``."""
    runs: list[str] = []
    last = None
    for ch in s:
        cls = 1 if ch.islower() else 2 if ch.isupper() else 3 if ch.isdigit() else 4
        if cls == last:
            runs[-1] += ch
        else:
            runs.append(ch)
        last = cls
    for i in range(len(runs) - 1):
        if runs[i][:1].isupper() and runs[i + 1][:1].islower():
            runs[i + 1] = runs[i][-1] + runs[i + 1]
            runs[i] = runs[i][:-1]
    return [r for r in runs if r]


def _smart_label(field: str) -> str:
    if re.search(r"[^A-Za-z-]", field):
        return field
    parts = _camel_split(field)
    merged: list[str] = []
    i = 0
    while i < len(parts):
        p = parts[i]
        if i < len(parts) - 1 and len(p) >= 2 and p.isupper() and parts[i + 1][:1].isupper():
            merged.append(p + parts[i + 1])
            i += 2
            continue
        merged.append(p)
        i += 1
    out = []
    for p in merged:
        if p == "_":
            continue
        if p.upper() in ("API", "URL", "UID", "GUID"):
            p = p.upper()
        elif p.lower() == p:
            p = p[:1].upper() + p[1:]
        out.append(p)
    return " ".join(out)


def _unstructured(w: _PrefixWriter, level: int, content: dict, prefix: str, skip: tuple[str, ...]) -> None:
    for field in sorted(content):
        value = content[field]
        expr = f"{prefix}.{field}"
        if expr in skip:
            continue
        if isinstance(value, dict):
            w.write(level, f"{_smart_label(field)}:\n")
            _unstructured(w, level + 1, value, expr, skip)
        elif isinstance(value, list):
            w.write(level, f"{_smart_label(field)}:\n")
            for child in value:
                if isinstance(child, dict):
                    _unstructured(w, level + 1, child, expr, skip)
                else:
                    w.write(level + 1, f"{_go_value(child)}\n")
        else:
            w.write(level, f"{_smart_label(field)}:\t{_go_value(value)}\n")


def _go_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    return str(v)


def describe_generic(obj: dict, events: list[dict] | None, now: _dt.datetime | None = None) -> str:
    """kubectl's generic describer (kinds without a dedicated one)."""
    md = obj.get("metadata") or {}
    w = _PrefixWriter()
    _name_namespace_labels_annotations(w, md)
    _unstructured(w, 0, obj, "", (".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations"))
    if events is not None:
        _describe_events(events, w, now)
    return w.text()


async def _events_for(client: Client, rt: ResourceType, obj: dict) -> list[dict]:
    md = obj.get("metadata") or {}
    try:
        lst = await client.list(by_name("events"), md.get("namespace") or None, all_namespaces=not md.get("namespace"))
    except SvcnetError:
        return []
    out = []
    for e in lst.get("items") or []:
        inv = e.get("involvedObject") or {}
        if inv.get("name") != md.get("name") or (inv.get("namespace") or "") != (md.get("namespace") or ""):
            continue
        if rt.name != "pods" and inv.get("kind") and inv.get("kind") != rt.kind:
            continue
        if inv.get("uid") and md.get("uid") and inv["uid"] != md["uid"]:
            continue
        out.append(e)
    return out


async def _describe_one(client: Client, rt: ResourceType, obj: dict, now: _dt.datetime | None, show_events: bool) -> str:
    events = await _events_for(client, rt, obj) if show_events else None
    if rt.name == "services":
        md = obj.get("metadata") or {}
        try:
            lst = await client.list(
                "endpointslices", md.get("namespace"), label_selector=f"kubernetes.io/service-name={md.get('name', '')}"
            )
            slices = list(lst.get("items") or [])
        except SvcnetError:
            slices = []
        return describe_service(obj, slices, events, now)
    if rt.name == "pods":
        return describe_pod(obj, events, now)
    if rt.name == "endpointslices":
        return describe_endpointslice(obj, events, now)
    if rt.name == "namespaces":
        return describe_namespace(obj)
    obj = dict(obj)
    obj.setdefault("kind", rt.kind)
    obj.setdefault("apiVersion", rt.api_version)
    return describe_generic(obj, events, now)


async def run_describe(
    client: Client,
    args: list[str],
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    selector: str | None = None,
    show_events: bool = True,
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: _dt.datetime | None = None,
) -> int:
    """``kubectl describe``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        types, named = parse_resource_args(args)
    except SvcnetError as e:
        emit(err, format_error(e))
        return 1
    ns = effective_namespace(client, namespace)
    errors: list[BaseException] = []
    first = True
    if named:
        for rt, name in named:
            try:
                obj = await client.get(rt, name, ns if rt.namespaced else None)
            except NotFound as e:
                if len(args) != 2:
                    errors.append(e)
                    continue
                # `describe TYPE NAME`: kubectl describes every object whose name starts with NAME
                try:
                    lst = await client.list(rt, ns if rt.namespaced else None)
                except SvcnetError:
                    lst = {"items": []}
                matches = [o for o in lst.get("items") or [] if (o.get("metadata") or {}).get("name", "").startswith(name)]
                if not matches:
                    errors.append(e)
                for o in matches:
                    emit(out, await _describe_one(client, rt, o, now, show_events) + "\n")
                continue
            except SvcnetError as e:
                errors.append(e)
                continue
            text = await _describe_one(client, rt, obj, now, show_events)
            emit(out, text if first else "\n\n" + text)
            first = False
    else:
        found = 0
        for rt in types:
            try:
                lst = await client.list(
                    rt, None if all_namespaces or not rt.namespaced else ns, all_namespaces=all_namespaces, label_selector=selector or None
                )
            except APIError as e:
                errors.append(enhance_list_error(e, rt, selector, None))
                continue
            for o in lst.get("items") or []:
                text = await _describe_one(client, rt, o, now, show_events)
                emit(out, text if first else "\n\n" + text)
                first = False
                found += 1
        if not found and not errors:
            if not all_namespaces and all(rt.namespaced for rt in types):
                emit(err, f"No resources found in {ns} namespace.\n")
            else:
                emit(err, "No resources found\n")
    if errors:
        emit(err, format_errors(errors))
        return 1
    return 0


def register(app: typer.Typer) -> None:
    @app.command("describe")
    def describe(
        args: list[str] = typer.Argument(..., help="TYPE [NAME_PREFIX...] or TYPE/NAME..."),
        namespace: str = typer.Option("", "--namespace", "-n", help="Namespace (default: the kubeconfig's, else default)."),
        all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A", help="Describe across all namespaces."),
        selector: str = typer.Option("", "--selector", "-l", help="Label selector."),
        show_events: bool = typer.Option(True, "--show-events/--no-show-events", help="Include events."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Path to the kubeconfig file."),
        context: str = typer.Option("", "--context", help="The kubeconfig context to use."),
    ) -> None:
        """Show details of a resource or group of resources (like kubectl describe)."""
        code = run_command(
            lambda client: run_describe(
                client, list(args), namespace=namespace or None, all_namespaces=all_namespaces,
                selector=selector or None, show_events=show_events,
            ),
            kubeconfig=kubeconfig or None,
            context=context or None,
        )
        raise typer.Exit(code)

