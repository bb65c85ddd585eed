"""v1 defaulting, applied when an object is decoded (so YAML/JSON input gets it too).

Theory of operation
-------------------
:func:`apply_defaults` mutates the object in place and returns it; it dispatches on
``(apiVersion, kind)`` and leaves unknown kinds untouched (``*List`` objects are defaulted item
by item). Only values that are *absent* (Go zero value or nil pointer) are filled, so defaulting
is idempotent. What each kind gets (upstream ``SetDefaults_*`` plus the generated declarative
defaults):

Service (pkg/apis/core/v1/defaults.go ``SetDefaults_Service``; service-api.md §1.1)
  ``sessionAffinity: None``; with ``None`` the ``sessionAffinityConfig`` is *dropped*; with
  ``ClientIP`` a missing config/clientIP/timeout becomes ``{clientIP: {timeoutSeconds: 10800}}``;
  ``type: ClusterIP``; each port ``protocol: TCP`` and, when ``targetPort`` is absent/0/"",
  ``targetPort = port`` (an int, even when port is 0); ``externalTrafficPolicy: Cluster`` for
  externally accessible Services; ``internalTrafficPolicy: Cluster`` except for ExternalName;
  ``allocateLoadBalancerNodePorts: true`` for LoadBalancer; LB ingress with an ``ip`` and no
  ``ipMode`` gets ``VIP``. ClusterIP/families are *not* defaulted here (that is allocation).
Pod (``SetDefaults_Pod``, ``SetDefaults_PodSpec``, ``SetDefaults_Container``, ``_Probe``,
  ``_HTTPGetAction``, ``_Volume``, ``_ObjectFieldSelector``, ContainerPort protocol)
  ``dnsPolicy: ClusterFirst``, ``restartPolicy: Always``, ``securityContext: {}``,
  ``terminationGracePeriodSeconds: 30``, ``schedulerName: default-scheduler``,
  ``enableServiceLinks: true`` (pods only, not templates); containers: ``imagePullPolicy``
  (``Always`` for a ``:latest`` or untagged image, else ``IfNotPresent``),
  ``terminationMessagePath: /dev/termination-log``, ``terminationMessagePolicy: File``, ports
  ``protocol: TCP`` (and ``hostPort = containerPort`` with hostNetwork, pods only); probes
  ``timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3``; ``httpGet``
  ``path: /``, ``scheme: HTTP``; a volume without a source becomes ``emptyDir: {}``; pods copy
  container ``limits`` into missing ``requests``.
Deployment / ReplicaSet (apps/v1): ``replicas: 1``; Deployment ``strategy: RollingUpdate`` with
  25%/25%, ``revisionHistoryLimit: 10``, ``progressDeadlineSeconds: 600``; the pod template gets
  the PodSpec/container defaults.
EndpointSlice: each port ``name: ""`` and ``protocol: TCP``. Endpoints: port ``protocol: TCP``.
Namespace: label ``kubernetes.io/metadata.name: <name>`` and ``status.phase: Active``
  (``spec.finalizers: [kubernetes]`` is added by the namespace *registry strategy* on create, not
  by defaulting). Node: ``status.allocatable`` = ``status.capacity`` when absent.

Nothing here does I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from svcnet.api.service import is_externally_accessible

__all__ = [
    "DEFAULT_CLIENT_IP_TIMEOUT_SECONDS",
    "apply_defaults",
    "default_image_pull_policy",
    "default_pod_spec",
    "default_service",
]

DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800
_TERMINATION_MESSAGE_PATH = "/dev/termination-log"


def _d(obj: dict, name: str) -> dict:
    """``obj[name]`` as a dict, created if absent."""
    v = obj.get(name)
    if not isinstance(v, dict):
        v = {}
        obj[name] = v
    return v


# --------------------------------------------------------------------------------------------
# Service


def default_service(svc: dict) -> dict:
    spec = _d(svc, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        cfg = spec.get("sessionAffinityConfig")
        client_ip = cfg.get("clientIP") if isinstance(cfg, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_TIMEOUT_SECONDS}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        tp = port.get("targetPort")
        if tp is None or tp == 0 or tp == "":
            p = port.get("port", 0)
            port["targetPort"] = p if isinstance(p, int) and not isinstance(p, bool) else 0
    if is_externally_accessible(svc) and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    svc_type = spec["type"]
    if spec.get("internalTrafficPolicy") is None and svc_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if svc_type == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is None:
            spec["allocateLoadBalancerNodePorts"] = True
        lb = (svc.get("status") or {}).get("loadBalancer") if isinstance(svc.get("status"), dict) else None
        if isinstance(lb, dict):
            for ing in lb.get("ingress") or []:
                if isinstance(ing, dict) and ing.get("ip") and ing.get("ipMode") is None:
                    ing["ipMode"] = "VIP"
    return svc


# --------------------------------------------------------------------------------------------
# Pods


def default_image_pull_policy(image: str) -> str:
    """``Always`` for tag ``latest`` (an untagged, undigested image is ``latest``), else ``IfNotPresent``."""
    if not image or image != image.strip():
        return "IfNotPresent"
    name, digest = image, False
    if "@" in name:
        name, digest = name.split("@", 1)[0], True
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.rsplit(":", 1)[1]
    else:
        tag = "" if digest else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        if not http.get("path"):
            http["path"] = "/"
        if not http.get("scheme"):
            http["scheme"] = "HTTP"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for f, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(f):
            probe[f] = v
    _default_handler(probe)


def _default_container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = default_image_pull_policy(c.get("image") or "")
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = _TERMINATION_MESSAGE_PATH
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    for port in c.get("ports") or []:
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))
    for env in c.get("env") or []:
        ref = ((env or {}).get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict) and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"


def default_pod_spec(spec: dict) -> dict:
    """``SetDefaults_PodSpec`` plus container/probe/volume defaults (pods and templates)."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            _default_container(c)
    sources = {"name"}
    for vol in spec.get("volumes") or []:
        if isinstance(vol, dict) and not (set(vol) - sources):
            vol["emptyDir"] = {}
    return spec


def _default_pod(pod: dict) -> dict:
    spec = _d(pod, "spec")
    for field in ("containers", "initContainers"):
        for c in spec.get(field) or []:
            res = c.get("resources") if isinstance(c, dict) else None
            if isinstance(res, dict) and isinstance(res.get("limits"), dict):
                req = res.setdefault("requests", {})
                for k, v in res["limits"].items():
                    req.setdefault(k, copy.deepcopy(v))
    default_pod_spec(spec)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for field in ("containers", "initContainers"):
            for c in spec.get(field) or []:
                for port in (c or {}).get("ports") or []:
                    if isinstance(port, dict) and not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort", 0)
    return pod


def _default_template(obj: dict) -> None:
    template = _d(_d(obj, "spec"), "template")
    default_pod_spec(_d(template, "spec"))


def _default_deployment(dep: dict) -> dict:
    spec = _d(dep, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _d(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        if ru.get("maxUnavailable") is None:
            ru["maxUnavailable"] = "25%"
        if ru.get("maxSurge") is None:
            ru["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(dep)
    return dep


def _default_replica_set(rs: dict) -> dict:
    spec = _d(rs, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(rs)
    return rs


# --------------------------------------------------------------------------------------------
# the rest


def _default_endpoint_slice(eps: dict) -> dict:
    for port in eps.get("ports") or []:
        if isinstance(port, dict):
            if port.get("name") is None:
                port["name"] = ""
            if port.get("protocol") is None:
                port["protocol"] = "TCP"
    return eps


def _default_endpoints(ep: dict) -> dict:
    for ss in ep.get("subsets") or []:
        for port in (ss or {}).get("ports") or []:
            if isinstance(port, dict) and not port.get("protocol"):
                port["protocol"] = "TCP"
    return ep


def _default_namespace(ns: dict) -> dict:
    meta = _d(ns, "metadata")
    if meta.get("name"):
        _d(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    status = _d(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"
    return ns


def _default_node(node: dict) -> dict:
    status = node.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = copy.deepcopy(status["capacity"])
    return node


_DEFAULTERS = {
    ("v1", "Service"): default_service,
    ("v1", "Pod"): _default_pod,
    ("v1", "Endpoints"): _default_endpoints,
    ("v1", "Namespace"): _default_namespace,
    ("v1", "Node"): _default_node,
    ("discovery.k8s.io/v1", "EndpointSlice"): _default_endpoint_slice,
    ("apps/v1", "Deployment"): _default_deployment,
    ("apps/v1", "ReplicaSet"): _default_replica_set,
}


def apply_defaults(obj: dict) -> dict:
    """Default ``obj`` in place and return it; unknown kinds are returned unchanged."""
    if not isinstance(obj, dict):
        return obj
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for item in obj["items"]:
            apply_defaults(item)
        return obj
    fn = _DEFAULTERS.get((obj.get("apiVersion"), kind))
    if fn is not None:
        fn(obj)
    return obj
