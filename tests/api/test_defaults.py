"""v1 defaulting (service-api.md §1.1; pkg/apis/core/v1/defaults.go, apps/v1 and discovery/v1 defaults)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults, default_image_pull_policy

_ABSENT = object()


def get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return _ABSENT
    return obj


def service(spec: dict, status: dict | None = None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


P80 = [{"port": 80}]

SERVICE_CASES = [
    # (input spec, status, path, expected) - one rule each
    pytest.param({"ports": P80}, None, "spec.type", "ClusterIP", id="type ClusterIP"),
    pytest.param({"type": "NodePort", "ports": P80}, None, "spec.type", "NodePort", id="type kept"),
    pytest.param({"ports": P80}, None, "spec.sessionAffinity", "None", id="sessionAffinity None"),
    pytest.param({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 90}}, "ports": P80}, None, "spec.sessionAffinityConfig", _ABSENT, id="config dropped for None"),
    pytest.param({"sessionAffinity": "ClientIP", "ports": P80}, None, "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}}, id="ClientIP config defaulted"),
    pytest.param({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {}, "ports": P80}, None, "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}}, id="ClientIP empty config"),
    pytest.param({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {}}, "ports": P80}, None, "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}}, id="ClientIP no timeout"),
    pytest.param({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}, "ports": P80}, None, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", 60, id="ClientIP timeout kept"),
    pytest.param({"ports": P80}, None, "spec.ports.0.protocol", "TCP", id="port protocol TCP"),
    pytest.param({"ports": [{"port": 53, "protocol": "UDP"}]}, None, "spec.ports.0.protocol", "UDP", id="port protocol kept"),
    pytest.param({"ports": P80}, None, "spec.ports.0.targetPort", 80, id="targetPort = port"),
    pytest.param({"ports": [{"port": 80, "targetPort": 0}]}, None, "spec.ports.0.targetPort", 80, id="targetPort 0 = port"),
    pytest.param({"ports": [{"port": 80, "targetPort": ""}]}, None, "spec.ports.0.targetPort", 80, id="targetPort empty string = port"),
    pytest.param({"ports": [{"port": 0}]}, None, "spec.ports.0.targetPort", 0, id="targetPort stays 0 for port 0"),
    pytest.param({"ports": [{"port": 80, "targetPort": "http"}]}, None, "spec.ports.0.targetPort", "http", id="named targetPort kept"),
    pytest.param({"ports": [{"port": 80, "targetPort": 8080}]}, None, "spec.ports.0.targetPort", 8080, id="int targetPort kept"),
    pytest.param({"ports": P80}, None, "spec.externalTrafficPolicy", _ABSENT, id="no ETP for ClusterIP"),
    pytest.param({"type": "NodePort", "ports": P80}, None, "spec.externalTrafficPolicy", "Cluster", id="ETP for NodePort"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, None, "spec.externalTrafficPolicy", "Cluster", id="ETP for LoadBalancer"),
    pytest.param({"externalIPs": ["1.2.3.4"], "ports": P80}, None, "spec.externalTrafficPolicy", "Cluster", id="ETP for ClusterIP with externalIPs"),
    pytest.param({"type": "NodePort", "externalTrafficPolicy": "Local", "ports": P80}, None, "spec.externalTrafficPolicy", "Local", id="ETP kept"),
    pytest.param({"ports": P80}, None, "spec.internalTrafficPolicy", "Cluster", id="ITP ClusterIP"),
    pytest.param({"type": "NodePort", "ports": P80}, None, "spec.internalTrafficPolicy", "Cluster", id="ITP NodePort"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, None, "spec.internalTrafficPolicy", "Cluster", id="ITP LoadBalancer"),
    pytest.param({"type": "ExternalName", "externalName": "x"}, None, "spec.internalTrafficPolicy", _ABSENT, id="no ITP for ExternalName"),
    pytest.param({"internalTrafficPolicy": "Local", "ports": P80}, None, "spec.internalTrafficPolicy", "Local", id="ITP kept"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, None, "spec.allocateLoadBalancerNodePorts", True, id="allocateLBNodePorts true for LB"),
    pytest.param({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False, "ports": P80}, None, "spec.allocateLoadBalancerNodePorts", False, id="allocateLBNodePorts kept"),
    pytest.param({"type": "NodePort", "ports": P80}, None, "spec.allocateLoadBalancerNodePorts", _ABSENT, id="no allocateLBNodePorts for NodePort"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}, "status.loadBalancer.ingress.0.ipMode", "VIP", id="ingress ipMode VIP"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}, "status.loadBalancer.ingress.0.ipMode", _ABSENT, id="no ipMode without ip"),
    pytest.param({"type": "LoadBalancer", "ports": P80}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "Proxy"}]}}, "status.loadBalancer.ingress.0.ipMode", "Proxy", id="ipMode kept"),
    pytest.param({"ports": P80}, {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}, "status.loadBalancer.ingress.0.ipMode", _ABSENT, id="no ipMode for ClusterIP"),
    # never defaulted (§1.1) - allocation does these
    pytest.param({"ports": P80}, None, "spec.clusterIP", _ABSENT, id="clusterIP not defaulted"),
    pytest.param({"clusterIP": "10.0.0.1", "ports": P80}, None, "spec.clusterIPs", _ABSENT, id="clusterIPs not normalised by defaulting"),
    pytest.param({"ports": P80}, None, "spec.ipFamilyPolicy", _ABSENT, id="ipFamilyPolicy not defaulted"),
    pytest.param({"ports": P80}, None, "spec.ports.0.name", _ABSENT, id="port name not defaulted"),
    pytest.param({"ports": P80}, None, "spec.selector", _ABSENT, id="selector not defaulted"),
    pytest.param({"ports": P80}, None, "spec.publishNotReadyAddresses", _ABSENT, id="publishNotReadyAddresses not defaulted"),
]


@pytest.mark.parametrize("spec,status,path,expected", SERVICE_CASES)
def test_apply_defaults_service(spec: dict, status: dict | None, path: str, expected: Any) -> None:
    obj = apply_defaults(service(copy.deepcopy(spec), copy.deepcopy(status) if status is not None else None))
    assert get(obj, path) == expected if expected is not _ABSENT else get(obj, path) is _ABSENT


def test_apply_defaults_service_example_of_section_1_3() -> None:
    obj = apply_defaults(service({"selector": {"app": "web"}, "ports": [{"port": 80}]}))
    assert obj["spec"] == {
        "internalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }


def test_apply_defaults_is_idempotent() -> None:
    obj = apply_defaults(service({"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]}))
    again = apply_defaults(copy.deepcopy(obj))
    assert again == obj


def test_apply_defaults_returns_the_same_object() -> None:
    obj = service({"ports": P80})
    assert apply_defaults(obj) is obj


def test_apply_defaults_unknown_kind_untouched() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"ports": [{"port": 1}]}}
    assert apply_defaults(copy.deepcopy(obj)) == obj


def pod(spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


C = {"name": "c", "image": "nginx:1.25"}

POD_CASES = [
    pytest.param({"containers": [C]}, "spec.restartPolicy", "Always", id="restartPolicy Always"),
    pytest.param({"containers": [C]}, "spec.dnsPolicy", "ClusterFirst", id="dnsPolicy ClusterFirst"),
    pytest.param({"containers": [C]}, "spec.terminationGracePeriodSeconds", 30, id="terminationGracePeriodSeconds 30"),
    pytest.param({"containers": [C], "terminationGracePeriodSeconds": 0}, "spec.terminationGracePeriodSeconds", 0, id="terminationGracePeriodSeconds 0 kept"),
    pytest.param({"containers": [C]}, "spec.schedulerName", "default-scheduler", id="schedulerName"),
    pytest.param({"containers": [C]}, "spec.securityContext", {}, id="securityContext {}"),
    pytest.param({"containers": [C]}, "spec.enableServiceLinks", True, id="enableServiceLinks true"),
    pytest.param({"containers": [C], "enableServiceLinks": False}, "spec.enableServiceLinks", False, id="enableServiceLinks kept"),
    pytest.param({"containers": [C]}, "spec.containers.0.imagePullPolicy", "IfNotPresent", id="pull IfNotPresent for a tag"),
    pytest.param({"containers": [{"name": "c", "image": "nginx"}]}, "spec.containers.0.imagePullPolicy", "Always", id="pull Always untagged"),
    pytest.param({"containers": [{"name": "c", "image": "nginx:latest"}]}, "spec.containers.0.imagePullPolicy", "Always", id="pull Always latest"),
    pytest.param({"containers": [C]}, "spec.containers.0.terminationMessagePath", "/dev/termination-log", id="terminationMessagePath"),
    pytest.param({"containers": [C]}, "spec.containers.0.terminationMessagePolicy", "File", id="terminationMessagePolicy"),
    pytest.param({"containers": [{**C, "ports": [{"containerPort": 80}]}]}, "spec.containers.0.ports.0.protocol", "TCP", id="container port protocol"),
    pytest.param({"hostNetwork": True, "containers": [{**C, "ports": [{"containerPort": 80}]}]}, "spec.containers.0.ports.0.hostPort", 80, id="hostNetwork hostPort"),
    pytest.param({"containers": [{**C, "readinessProbe": {"tcpSocket": {"port": 80}}}]}, "spec.containers.0.readinessProbe", {"tcpSocket": {"port": 80}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}, id="probe defaults"),
    pytest.param({"containers": [{**C, "livenessProbe": {"httpGet": {"port": 80}}}]}, "spec.containers.0.livenessProbe.httpGet", {"port": 80, "path": "/", "scheme": "HTTP"}, id="httpGet path and scheme"),
    pytest.param({"containers": [{**C, "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}]}, "spec.containers.0.lifecycle.preStop.httpGet.path", "/", id="lifecycle httpGet path"),
    pytest.param({"containers": [C], "initContainers": [{"name": "i", "image": "busybox"}]}, "spec.initContainers.0.terminationMessagePolicy", "File", id="init containers defaulted"),
    pytest.param({"containers": [C], "volumes": [{"name": "v"}]}, "spec.volumes.0.emptyDir", {}, id="volume emptyDir"),
    pytest.param({"containers": [{**C, "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}]}, "spec.containers.0.env.0.valueFrom.fieldRef.apiVersion", "v1", id="fieldRef apiVersion"),
    pytest.param({"containers": [{**C, "resources": {"limits": {"cpu": "1"}}}]}, "spec.containers.0.resources.requests", {"cpu": "1"}, id="requests from limits"),
]


@pytest.mark.parametrize("spec,path,expected", POD_CASES)
def test_apply_defaults_pod(spec: dict, path: str, expected: Any) -> None:
    assert get(apply_defaults(pod(copy.deepcopy(spec))), path) == expected


@pytest.mark.parametrize(
    "image,policy",
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry:5000/nginx", "Always"),
        ("registry:5000/nginx:v1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
        ("nginx:latest@sha256:abc", "Always"),
        ("", "IfNotPresent"),
    ],
)
def test_default_image_pull_policy(image: str, policy: str) -> None:
    assert default_image_pull_policy(image) == policy


def deployment(kind: str = "Deployment", spec: dict | None = None) -> dict:
    base = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [dict(C)]}},
    }
    base.update(spec or {})
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "d"}, "spec": base}


WORKLOAD_CASES = [
    pytest.param(deployment(), "spec.replicas", 1, id="deployment replicas 1"),
    pytest.param(deployment(spec={"replicas": 0}), "spec.replicas", 0, id="deployment replicas 0 kept"),
    pytest.param(deployment(), "spec.strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}, id="deployment strategy"),
    pytest.param(deployment(spec={"strategy": {"type": "Recreate"}}), "spec.strategy", {"type": "Recreate"}, id="deployment Recreate"),
    pytest.param(deployment(), "spec.revisionHistoryLimit", 10, id="deployment revisionHistoryLimit"),
    pytest.param(deployment(), "spec.progressDeadlineSeconds", 600, id="deployment progressDeadlineSeconds"),
    pytest.param(deployment(), "spec.template.spec.restartPolicy", "Always", id="deployment template restartPolicy"),
    pytest.param(deployment(), "spec.template.spec.containers.0.imagePullPolicy", "IfNotPresent", id="deployment template container"),
    pytest.param(deployment(), "spec.template.spec.enableServiceLinks", _ABSENT, id="templates do not get enableServiceLinks"),
    pytest.param(deployment("ReplicaSet"), "spec.replicas", 1, id="replicaset replicas 1"),
    pytest.param(deployment("ReplicaSet"), "spec.strategy", _ABSENT, id="replicaset no strategy"),
    pytest.param(deployment("ReplicaSet"), "spec.template.spec.dnsPolicy", "ClusterFirst", id="replicaset template"),
]


@pytest.mark.parametrize("obj,path,expected", WORKLOAD_CASES)
def test_apply_defaults_workloads(obj: dict, path: str, expected: Any) -> None:
    got = get(apply_defaults(obj), path)
    assert got is _ABSENT if expected is _ABSENT else got == expected


def test_apply_defaults_endpointslice_ports() -> None:
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e"}, "addressType": "IPv4",
           "ports": [{"port": 80}, {"name": "x", "protocol": "UDP", "port": 53}]}
    assert apply_defaults(eps)["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}, {"name": "x", "protocol": "UDP", "port": 53}]


def test_apply_defaults_endpoints_ports() -> None:
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"}, "subsets": [{"ports": [{"port": 80}]}]}
    assert apply_defaults(ep)["subsets"][0]["ports"][0]["protocol"] == "TCP"


def test_apply_defaults_namespace() -> None:
    ns = apply_defaults({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    assert ns["status"] == {"phase": "Active"}
    assert "spec" not in ns  # finalizers come from the namespace registry strategy, not defaulting


def test_apply_defaults_node_allocatable() -> None:
    node = apply_defaults({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"cpu": "2"}}})
    assert node["status"]["allocatable"] == {"cpu": "2"}


def test_apply_defaults_list_items() -> None:
    lst = {"apiVersion": "v1", "kind": "List", "items": [service({"ports": P80})]}
    assert apply_defaults(lst)["items"][0]["spec"]["type"] == "ClusterIP"
