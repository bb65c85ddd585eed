"""Service validation, rule by rule (service-api.md §2, rules 1-45), with exact upstream texts.

Cases are named after the rule number; where a case mirrors an upstream test it names the
case of pkg/apis/core/validation/validation_test.go (TestValidateServiceCreate,
TestValidateServiceExternalTrafficPolicy, TestValidateServiceUpdate). "Unreachable via v1" rules
are exercised by removing the defaulted field after defaulting (``drop``).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults
from svcnet.api.service import normalize_cluster_ips
from svcnet.api.validation import validate_cluster_ips_related_fields, validate_service, validate_service_update
from svcnet.api.validation.service import validate_service_status_update

DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
QUALIFIED_3 = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
    "(e.g. 'example.com/MyName')"
)
IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
RANGE = "must be between 1 and 65535, inclusive"
LB_ONLY = "may only be used when `type` is 'LoadBalancer'"
SRC_ANN = "metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]"
P80 = [{"port": 80}]


def svc(
    spec: dict | None = None,
    *,
    meta: dict | None = None,
    drop: tuple[str, ...] = (),
    name: str | None = "svc",
    namespace: str | None = "default",
) -> dict:
    """A v1 Service after defaulting + clusterIP normalisation; ``drop`` removes spec fields afterwards."""
    m: dict[str, Any] = {}
    if name is not None:
        m["name"] = name
    if namespace is not None:
        m["namespace"] = namespace
    m.update(meta or {})
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": m, "spec": copy.deepcopy(spec) if spec is not None else {"ports": P80}}
    apply_defaults(obj)
    normalize_cluster_ips(obj)
    for f in drop:
        obj["spec"].pop(f, None)
    return obj


def inject(obj: dict, **spec: Any) -> dict:
    """A copy of ``obj`` with spec fields set *after* defaulting (reaches rules defaulting hides)."""
    obj = copy.deepcopy(obj)
    obj["spec"].update(copy.deepcopy(spec))
    return obj


AFFINITY_NONE_FORBIDDEN = "spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"
CLIENT_IP_90 = {"clientIP": {"timeoutSeconds": 90}}


def errors(obj: dict) -> list[str]:
    return [str(e) for e in validate_service(obj)]


CREATE_CASES = [
    # 1. name (DNS-1035)
    pytest.param(svc(name=None), ["metadata.name: Required value: name or generateName is required"], id="rule 1 name missing"),
    pytest.param(svc(name="-123"), [f'metadata.name: Invalid value: "-123": {DNS1035}'], id="rule 1 name -123"),
    pytest.param(svc(name="1abc"), [f'metadata.name: Invalid value: "1abc": {DNS1035}'], id="rule 1 name starts with a digit"),
    pytest.param(svc(name="a" * 64), [f'metadata.name: Invalid value: "{"a" * 64}": must be no more than 63 characters'], id="rule 1 name 64 chars"),
    pytest.param(svc(name="a" * 63), [], id="rule 1 name 63 chars"),
    pytest.param(svc(meta={"generateName": "web-"}), [], id="rule 1 generateName trailing dash"),
    pytest.param(svc(meta={"generateName": "Web-"}), [f'metadata.generateName: Invalid value: "Web-": {DNS1035}'], id="rule 1 generateName bad"),
    # 2. namespace, labels, annotations
    pytest.param(svc(namespace=None), ["metadata.namespace: Required value"], id="rule 2 namespace missing"),
    pytest.param(svc(namespace="Bad_NS"), [f'metadata.namespace: Invalid value: "Bad_NS": {DNS1123_LABEL}'], id="rule 2 namespace bad"),
    pytest.param(svc(meta={"labels": {"-bad": "x"}}), [f'metadata.labels: Invalid value: "-bad": {NAME_PART}'], id="rule 2 label key bad"),
    pytest.param(svc(meta={"labels": {"a": "b c"}}), [f'metadata.labels: Invalid value: "b c": {LABEL_VALUE}'], id="rule 2 label value bad"),
    pytest.param(svc(meta={"annotations": {"-x": "1"}}), [f'metadata.annotations: Invalid value: "-x": {NAME_PART}'], id="rule 2 annotation key bad"),
    pytest.param(svc(meta={"annotations": {"Example.COM/Key": "1"}}), [], id="rule 2 annotation key case-insensitive"),
    # 3. topology annotations
    pytest.param(
        svc(meta={"annotations": {"service.kubernetes.io/topology-mode": "Auto", "service.kubernetes.io/topology-aware-hints": "auto"}}),
        ['metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value: "Auto": must match '
         "annotations[service.kubernetes.io/topology-aware-hints] when both are specified"],
        id="rule 3 topology annotations differ",
    ),
    pytest.param(
        svc(meta={"annotations": {"service.kubernetes.io/topology-mode": "Auto", "service.kubernetes.io/topology-aware-hints": "Auto"}}),
        [], id="rule 3 topology annotations equal",
    ),
    # 4-8
    pytest.param(svc({"selector": {"a": "b"}}), ["spec.ports: Required value"], id="rule 4 ports required"),
    pytest.param(svc({"clusterIP": "None"}), [], id="rule 4 headless needs no ports"),
    pytest.param(svc({"type": "ExternalName", "externalName": "foo"}), [], id="rule 4 ExternalName needs no ports"),
    pytest.param(
        svc({"type": "LoadBalancer", "clusterIP": "None", "ports": P80}),
        ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"], id="rule 5 headless LoadBalancer",
    ),
    pytest.param(
        svc({"type": "NodePort", "clusterIP": "None", "ports": P80}),
        ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"], id="rule 6 headless NodePort",
    ),
    pytest.param(
        svc({"type": "ExternalName", "externalName": "foo", "clusterIP": "1.2.3.4", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}),
        [
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
            "spec.ipFamilies: Forbidden: may not be set for ExternalName services",
            "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services",
        ],
        id="rule 7 ExternalName with IP fields",
    ),
    pytest.param(svc({"type": "ExternalName", "externalName": "foo."}), [], id="rule 8 one trailing dot trimmed"),
    pytest.param(
        svc({"type": "ExternalName", "externalName": "foo.."}), [f'spec.externalName: Invalid value: "foo.": {SUBDOMAIN}'], id="rule 8 only one dot trimmed"
    ),
    pytest.param(svc({"type": "ExternalName"}), ["spec.externalName: Required value"], id="rule 8 externalName required"),
    pytest.param(svc({"type": "ExternalName", "externalName": "."}), ["spec.externalName: Required value"], id="rule 8 a lone dot"),
    # 9-15 ports
    pytest.param(svc({"ports": [{"name": "a", "port": 80}, {"port": 81}]}), ["spec.ports[1].name: Required value"], id="rule 9 name required"),
    pytest.param(svc({"ports": [{"name": "INVALID", "port": 80}]}), [f'spec.ports[0].name: Invalid value: "INVALID": {DNS1123_LABEL}'], id="rule 10 bad name"),
    pytest.param(svc({"ports": [{"name": "a.b", "port": 80}]}), ['spec.ports[0].name: Invalid value: "a.b": must not contain dots'], id="rule 10 name with dots"),
    pytest.param(svc({"ports": [{"name": "p", "port": 80}, {"name": "p", "port": 81}]}), ['spec.ports[1].name: Duplicate value: "p"'], id="rule 10 duplicate name"),
    pytest.param(svc({"ports": [{"port": 65536, "targetPort": 8080}]}), [f"spec.ports[0].port: Invalid value: 65536: {RANGE}"], id="rule 11 port 65536"),
    pytest.param(svc({"ports": [{"port": -1, "targetPort": 1}]}), [f"spec.ports[0].port: Invalid value: -1: {RANGE}"], id="rule 11 port -1"),
    pytest.param(svc({"ports": [{"port": 80, "protocol": "HTTP"}]}), ['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'], id="rule 12 bad protocol"),
    pytest.param(svc({"ports": [{"port": 80, "protocol": "SCTP"}]}), [], id="rule 12 SCTP"),
    pytest.param(svc({"ports": [{"port": 80, "targetPort": 65536}]}), [f"spec.ports[0].targetPort: Invalid value: 65536: {RANGE}"], id="rule 13 targetPort int"),
    pytest.param(
        svc({"ports": [{"port": 80, "targetPort": "abcdefghijklmnop"}]}),
        ['spec.ports[0].targetPort: Invalid value: "abcdefghijklmnop": must be no more than 15 characters'], id="rule 13 targetPort too long",
    ),
    pytest.param(svc({"ports": [{"port": 80, "targetPort": "123"}]}), ['spec.ports[0].targetPort: Invalid value: "123": must contain at least one letter (a-z)'], id="rule 13 targetPort no letter"),
    pytest.param(svc({"ports": [{"port": 80, "targetPort": "a--b"}]}), ['spec.ports[0].targetPort: Invalid value: "a--b": must not contain consecutive hyphens'], id="rule 13 targetPort double hyphen"),
    pytest.param(
        svc({"ports": [{"port": 80, "targetPort": "-Ab"}]}),
        [
            'spec.ports[0].targetPort: Invalid value: "-Ab": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
            'spec.ports[0].targetPort: Invalid value: "-Ab": must not begin or end with a hyphen',
        ],
        id="rule 13 targetPort one error per check",
    ),
    pytest.param(svc({"ports": [{"name": "a", "port": 80, "appProtocol": "HTTP"}, {"name": "b", "port": 81, "appProtocol": "kubernetes.io/h2c"}]}), [], id="rule 14 appProtocol fine"),
    pytest.param(
        svc({"ports": [{"port": 80, "appProtocol": "bad/ap/proto"}]}), [f'spec.ports[0].appProtocol: Invalid value: "bad/ap/proto": {QUALIFIED_3}'], id="rule 14 appProtocol bad"
    ),
    pytest.param(svc({"clusterIP": "None", "ports": [{"port": 80, "targetPort": 8080}]}), [], id="rule 15 invalid port headless 1"),
    pytest.param(svc({"clusterIP": "None", "ports": [{"port": 80, "targetPort": "http"}]}), [], id="rule 15 invalid port headless 2"),
    # 16-19
    pytest.param(svc({"selector": {"-bad": "x"}, "ports": P80}), [f'spec.selector: Invalid value: "-bad": {NAME_PART}'], id="rule 16 selector key"),
    pytest.param(svc({"selector": {}, "ports": P80}), [], id="rule 16 empty selector"),
    pytest.param(svc(drop=("sessionAffinity",)), ["spec.sessionAffinity: Required value"], id="rule 17 affinity required (unreachable)"),
    pytest.param(svc({"sessionAffinity": "X", "ports": P80}), ['spec.sessionAffinity: Unsupported value: "X": supported values: "ClientIP", "None"'], id="rule 17 affinity unsupported"),
    pytest.param(
        svc({"sessionAffinity": "ClientIP", "ports": P80}, drop=("sessionAffinityConfig",)),
        ["spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP"], id="rule 18 config required (unreachable)",
    ),
    pytest.param(
        svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}, "ports": P80}),
        ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"],
        id="rule 18 timeout 0",
    ),
    pytest.param(svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}}, "ports": P80}), [], id="rule 18 timeout 86400"),
    pytest.param(inject(svc(), sessionAffinityConfig=CLIENT_IP_90), [AFFINITY_NONE_FORBIDDEN], id="rule 19 config with None affinity (unreachable)"),
    pytest.param(inject(svc(), sessionAffinityConfig={}), [AFFINITY_NONE_FORBIDDEN], id="rule 19 empty config with None affinity (unreachable)"),
    pytest.param(
        inject(svc({"type": "LoadBalancer", "ports": P80}), sessionAffinityConfig=CLIENT_IP_90),
        [AFFINITY_NONE_FORBIDDEN], id="rule 19 config with None affinity on LoadBalancer (unreachable)",
    ),
    pytest.param(svc({"sessionAffinity": "None", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}), [], id="rule 19 v1 defaulting drops the config"),
    pytest.param(svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}), [], id="rule 19 ClientIP with config"),
    # 20-26 (also direct calls below)
    pytest.param(svc({"clusterIP": "invalid", "ports": P80}), [f'spec.clusterIPs[0]: Invalid value: "invalid": {IP}'], id="rule 23 invalid cluster ip"),
    # 27
    pytest.param(svc({"externalIPs": ["0.0.0.0"], "ports": P80}), ['spec.externalIPs[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'], id="rule 27 unspecified"),
    pytest.param(svc({"externalIPs": ["::1"], "ports": P80}), ['spec.externalIPs[0]: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)'], id="rule 27 loopback v6"),
    pytest.param(
        svc({"externalIPs": ["169.254.1.1", "fe80::1"], "ports": P80}),
        [
            'spec.externalIPs[0]: Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
            'spec.externalIPs[1]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
        ],
        id="rule 27 link-local",
    ),
    pytest.param(
        svc({"externalIPs": ["224.0.0.1", "ff02::1"], "ports": P80}),
        [
            'spec.externalIPs[0]: Invalid value: "224.0.0.1": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
            'spec.externalIPs[1]: Invalid value: "ff02::1": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)',
        ],
        id="rule 27 link-local multicast",
    ),
    pytest.param(svc({"type": "NodePort", "externalIPs": ["1.2.3.4", "2001:db8::1"], "ports": P80}), [], id="rule 27 allowed on NodePort"),
    # 28-31
    pytest.param(svc(drop=("type",)), ["spec.type: Required value"], id="rule 28 type required (unreachable)"),
    pytest.param(
        svc({"type": "X", "ports": P80}, drop=("internalTrafficPolicy",)),
        ['spec.type: Unsupported value: "X": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'], id="rule 28 type unsupported",
    ),
    pytest.param(svc({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30080}]}), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"], id="rule 29 nodePort on ClusterIP"),
    pytest.param(svc({"type": "ExternalName", "externalName": "foo", "ports": [{"port": 80, "nodePort": 1}]}), [], id="rule 29 nodePort on ExternalName not checked"),
    pytest.param(svc({"type": "NodePort", "ports": [{"port": 80, "nodePort": 1}]}), [], id="rule 29 nodePort range not checked"),
    pytest.param(
        svc({"type": "NodePort", "ports": [{"name": "q", "port": 1, "nodePort": 30001}, {"name": "r", "port": 2, "nodePort": 30001}]}),
        ["spec.ports[1].nodePort: Duplicate value: 30001"], id="rule 30 duplicate nodeports",
    ),
    pytest.param(
        svc({"type": "NodePort", "ports": [{"name": "q", "port": 53, "nodePort": 30053}, {"name": "r", "port": 53, "protocol": "UDP", "nodePort": 30053}]}),
        [], id="rule 30 duplicate nodeports (different protocols)",
    ),
    pytest.param(
        svc({"ports": [{"name": "q", "port": 8080}, {"name": "r", "port": 8080, "targetPort": 80}]}),
        [
            'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:8080, '
            'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
        ],
        id="rule 31 invalid duplicate ports (with same protocol)",
    ),
    pytest.param(svc({"ports": [{"name": "q", "port": 53}, {"name": "r", "port": 53, "protocol": "UDP"}]}), [], id="rule 31 same port different protocols"),
    # 32-33
    pytest.param(svc({"loadBalancerSourceRanges": ["1.2.3.0/24"], "ports": P80}), [f"spec.LoadBalancerSourceRanges: Forbidden: {LB_ONLY}"], id="rule 32 ranges on ClusterIP"),
    pytest.param(
        svc({"type": "LoadBalancer", "loadBalancerSourceRanges": [" 1.2.3.0/24 ", "foo.bar", "  "], "ports": P80}),
        [
            f'spec.LoadBalancerSourceRanges[1]: Invalid value: "foo.bar": {CIDR}',
            f'spec.LoadBalancerSourceRanges[2]: Invalid value: "": {CIDR}',
        ],
        id="rule 32 entries trimmed then CIDR-checked",
    ),
    pytest.param(
        svc({"ports": P80}, meta={"annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": ""}}),
        [f"{SRC_ANN}: Forbidden: {LB_ONLY}"], id="rule 33 annotation forbidden even when empty",
    ),
    pytest.param(
        svc({"type": "LoadBalancer", "ports": P80}, meta={"annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": "1.2.3.0/24, foo"}}),
        [f'{SRC_ANN}: Invalid value: "foo": {CIDR}'], id="rule 33 annotation CIDRs",
    ),
    pytest.param(
        svc({"type": "LoadBalancer", "ports": P80}, meta={"annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": "  "}}),
        [], id="rule 33 whitespace annotation on LoadBalancer",
    ),
    pytest.param(
        svc({"type": "LoadBalancer", "loadBalancerSourceRanges": ["1.2.3.0/24"], "ports": P80}, meta={"annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": "foo"}}),
        [], id="rule 33 annotation ignored when the field is set",
    ),
    # 34-35
    pytest.param(svc({"allocateLoadBalancerNodePorts": False, "ports": P80}), [f"spec.allocateLoadBalancerNodePorts: Forbidden: {LB_ONLY}"], id="rule 34 on ClusterIP"),
    pytest.param(svc({"type": "LoadBalancer", "ports": P80}, drop=("allocateLoadBalancerNodePorts",)), ["allocateLoadBalancerNodePorts: Required value"], id="rule 34 required, path lacks spec (unreachable)"),
    pytest.param(
        svc({"type": "LoadBalancer", "loadBalancerClass": "Bad/LoadBalancerClass", "ports": P80}),
        [f'spec.loadBalancerClass: Invalid value: "Bad/LoadBalancerClass": prefix part {SUBDOMAIN}'], id="rule 35 class not a qualified name",
    ),
    pytest.param(svc({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb", "ports": P80}), [], id="rule 35 class fine"),
    pytest.param(svc({"type": "NodePort", "loadBalancerClass": "example.com/lb", "ports": P80}), [f"spec.loadBalancerClass: Forbidden: {LB_ONLY}"], id="rule 35 class on NodePort"),
    # 36-39
    pytest.param(svc({"externalTrafficPolicy": "Local", "ports": P80}), ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'], id="rule 36 ETP on ClusterIP"),
    pytest.param(svc({"type": "NodePort", "ports": P80}, drop=("externalTrafficPolicy",)), ["spec.externalTrafficPolicy: Required value"], id="rule 36 ETP required (unreachable)"),
    pytest.param(svc({"type": "NodePort", "externalTrafficPolicy": "invalid", "ports": P80}), ['spec.externalTrafficPolicy: Unsupported value: "invalid": supported values: "Cluster", "Local"'], id="rule 36 ETP unsupported"),
    pytest.param(
        svc({"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 34567, "ports": P80}),
        ["spec.healthCheckNodePort: Invalid value: 34567: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"],
        id="rule 37 healthCheckNodePort on NodePort",
    ),
    pytest.param(svc({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": P80}), ["spec.healthCheckNodePort: Required value"], id="rule 37 required (unreachable)"),
    pytest.param(svc({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": -1, "ports": P80}), [f"spec.healthCheckNodePort: Invalid value: -1: {RANGE}"], id="rule 37 out of range"),
    pytest.param(svc({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000, "ports": P80}), [], id="rule 37 LB Local with a port"),
    pytest.param(svc(drop=("internalTrafficPolicy",)), ["spec.internalTrafficPolicy: Required value"], id="rule 38 ITP required (unreachable)"),
    pytest.param(svc({"internalTrafficPolicy": "x", "ports": P80}), ['spec.internalTrafficPolicy: Unsupported value: "x": supported values: "Cluster", "Local"'], id="rule 38 ITP unsupported"),
    pytest.param(svc({"type": "ExternalName", "externalName": "foo", "internalTrafficPolicy": "Local"}), [], id="rule 38 ITP allowed on ExternalName"),
    pytest.param(svc({"trafficDistribution": "Random", "ports": P80}), ['spec.trafficDistribution: Unsupported value: "Random": supported values: "PreferClose"'], id="rule 39 trafficDistribution"),
    pytest.param(svc({"trafficDistribution": "PreferClose", "ports": P80}), [], id="rule 39 PreferClose"),
    # not validated
    pytest.param(svc({"type": "LoadBalancer", "loadBalancerIP": "not-an-ip", "publishNotReadyAddresses": True, "ports": [{"name": "t", "port": 53}, {"name": "u", "port": 53, "protocol": "UDP"}]}), [], id="load balancer with mix protocol and unchecked fields"),
]


@pytest.mark.parametrize("obj,expected", CREATE_CASES)
def test_validate_service_create(obj: dict, expected: list[str]) -> None:
    assert errors(obj) == expected


def _ips(spec: dict) -> list[str]:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "default"}, "spec": spec}
    return [str(e) for e in validate_cluster_ips_related_fields(obj)]


CLUSTER_IPS_CASES = [
    pytest.param({"clusterIP": "10.0.0.1"}, ["spec.clusterIPs: Required value"], id="rule 20 clusterIPs required"),
    pytest.param({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.2"]}, ['spec.clusterIPs: Invalid value: []string{"10.0.0.2"}: first value must match `clusterIP`'], id="rule 20 first must match"),
    pytest.param({"clusterIPs": ["10.0.0.1"]}, ['spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: must be empty when `clusterIP` is not specified'], id="rule 20 clusterIP missing"),
    pytest.param({"ipFamilies": ["IPv5"]}, ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'], id="rule 21 family unsupported"),
    pytest.param({"ipFamilies": ["IPv6", "IPv6"]}, ['spec.ipFamilies[1]: Duplicate value: "IPv6"'], id="rule 21 family duplicate"),
    pytest.param({"ipFamilyPolicy": "X"}, ['spec.ipFamilyPolicy: Unsupported value: "X": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'], id="rule 22 policy"),
    pytest.param({"clusterIP": "None", "clusterIPs": ["None", "2001::1"]}, ['spec.clusterIPs: Invalid value: []string{"None", "2001::1"}: \'None\' must be the first and only value'], id="rule 23 None not alone"),
    pytest.param({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "garbage"]}, [f'spec.clusterIPs[1]: Invalid value: "garbage": {IP}'], id="rule 23 garbage"),
    pytest.param({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", ""]}, [f'spec.clusterIPs[1]: Invalid value: "": {IP}'], id="rule 23 empty string"),
    pytest.param(
        {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "2001::1", "10.0.0.2"]},
        ['spec.clusterIPs: Invalid value: []string{"10.0.0.1", "2001::1", "10.0.0.2"}: may only hold up to 2 values'], id="rule 24 three values",
    ),
    pytest.param(
        {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "x", "10.0.0.2"], "ipFamilies": ["IPv6"]},
        [f'spec.clusterIPs[1]: Invalid value: "x": {IP}', 'spec.clusterIPs: Invalid value: []string{"10.0.0.1", "x", "10.0.0.2"}: may only hold up to 2 values'],
        id="rule 24 invalid IP stops processing",
    ),
    pytest.param(
        {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "10.0.0.2"]},
        ['spec.clusterIPs: Invalid value: []string{"10.0.0.1", "10.0.0.2"}: may specify no more than one IP for each IP family'], id="rule 25 same family twice",
    ),
    pytest.param(
        {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ipFamilies": ["IPv6"]},
        ['spec.clusterIPs[0]: Invalid value: "10.0.0.1": expected an IPv6 value as indicated by `ipFamilies[0]`'], id="rule 26 IPv4 for IPv6 family",
    ),
    pytest.param(
        {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "2001::1"], "ipFamilies": ["IPv4", "IPv4"]},
        ['spec.ipFamilies[1]: Duplicate value: "IPv4"', 'spec.clusterIPs[1]: Invalid value: "2001::1": expected an IPv4 value as indicated by `ipFamilies[1]`'],
        id="rule 26 IPv6 for IPv4 family",
    ),
    pytest.param({"clusterIP": "None", "clusterIPs": ["None"], "ipFamilies": ["IPv6"]}, [], id="rule 26 not for headless"),
    pytest.param({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1", "2001::1"], "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack"}, [], id="rules 20-26 dual-stack fine"),
    pytest.param({"type": "ExternalName", "clusterIPs": ["x"]}, [], id="rules 20-26 skipped for ExternalName"),
]


@pytest.mark.parametrize("spec,expected", CLUSTER_IPS_CASES)
def test_validate_cluster_ips_related_fields(spec: dict, expected: list[str]) -> None:
    assert _ips(spec) == expected


def lb(ips: list[str] | None = None, **spec: Any) -> dict:
    base: dict[str, Any] = {"type": "LoadBalancer", "ports": P80}
    if ips:
        base["clusterIP"] = ips[0]
        base["clusterIPs"] = ips
    base.update(spec)
    return svc(base)


UPDATE_CASES = [
    pytest.param(lb(["10.96.5.5"]), lb(["10.96.5.6"]), ['spec.clusterIPs[0]: Invalid value: []string{"10.96.5.6"}: may not change once set'], id="rule 40 Service with LoadBalancer type cannot change its set ClusterIP"),
    pytest.param(lb(["10.96.5.5"]), lb(), ["spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset"], id="rule 40 primary unset"),
    pytest.param(
        lb(["10.96.5.5", "fd00::5"], ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack"),
        lb(["10.96.5.5"], ipFamilies=["IPv4"], ipFamilyPolicy="PreferDualStack"),
        [
            "spec.ipFamilyPolicy: Invalid value: \"PreferDualStack\": must be set to 'SingleStack' when releasing the secondary clusterIP",
            "spec.ipFamilyPolicy: Invalid value: \"PreferDualStack\": must be set to 'SingleStack' when releasing the secondary ipFamily",
        ],
        id="rule 40-41 downgrade without SingleStack",
    ),
    pytest.param(
        lb(["10.96.5.5", "fd00::5"], ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack"),
        lb(["10.96.5.5"]),
        [
            "spec.ipFamilyPolicy: Invalid value: null: must be set to 'SingleStack' when releasing the secondary clusterIP",
        ],
        id="rule 40 downgrade with nil policy",
    ),
    pytest.param(
        lb(["10.96.5.5", "fd00::5"], ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="PreferDualStack"),
        lb(["10.96.5.5"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack"),
        [], id="rule 40 downgrade with SingleStack",
    ),
    pytest.param(
        lb(["10.96.5.5"], ipFamilies=["IPv4"]),
        lb(["10.96.5.6", "fd00::6"], ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="RequireDualStack"),
        ['spec.clusterIPs[0]: Invalid value: []string{"10.96.5.6", "fd00::6"}: may not change once set'], id="rule 40 upgrade changing the primary",
    ),
    pytest.param(lb(), lb(["10.96.5.7"]), [], id="rule 40 can change its empty ClusterIP"),
    pytest.param(
        lb(["10.96.5.5"], ipFamilies=["IPv4"]),
        lb(["fd00::5"], ipFamilies=["IPv6"]),
        [
            'spec.clusterIPs[0]: Invalid value: []string{"fd00::5"}: may not change once set',
            'spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set',
        ],
        id="rule 41 family change",
    ),
    pytest.param(lb(loadBalancerClass="a.com/x"), lb(loadBalancerClass="b.com/y"), ['spec.loadBalancerClass: Invalid value: "b.com/y": may not change once set'], id="rule 42 class change"),
    pytest.param(lb(loadBalancerClass="a.com/x"), lb(), ["spec.loadBalancerClass: Invalid value: null: may not change once set"], id="rule 42 class removed"),
    pytest.param(svc({"ports": P80}), lb(loadBalancerClass="a.com/x"), [], id="rule 42 class set when becoming LB"),
    pytest.param(
        lb(externalTrafficPolicy="Local", healthCheckNodePort=30001),
        lb(externalTrafficPolicy="Local", healthCheckNodePort=30002),
        ["spec.healthCheckNodePort: Forbidden: field is immutable"], id="rule 43 healthCheckNodePort immutable",
    ),
    pytest.param(svc(), svc(name="other"), ['metadata.name: Invalid value: "other": field is immutable'], id="metadata name immutable"),
    pytest.param(svc(), inject(svc(), sessionAffinityConfig=CLIENT_IP_90), [AFFINITY_NONE_FORBIDDEN], id="rule 19 config added with None affinity (unreachable)"),
    pytest.param(
        svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}),
        inject(svc(), sessionAffinityConfig=CLIENT_IP_90),
        [AFFINITY_NONE_FORBIDDEN], id="rule 19 ClientIP to None keeping the config (unreachable)",
    ),
    pytest.param(
        svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}),
        svc({"sessionAffinity": "None", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}),
        [], id="rule 19 ClientIP to None via v1 (config dropped)",
    ),
    pytest.param(svc(), svc({"sessionAffinity": "ClientIP", "sessionAffinityConfig": CLIENT_IP_90, "ports": P80}), [], id="rule 19 None to ClientIP with config"),
]


@pytest.mark.parametrize("old,new,expected", UPDATE_CASES)
def test_validate_service_update(old: dict, new: dict, expected: list[str]) -> None:
    assert [str(e) for e in validate_service_update(new, old)] == expected


def with_status(obj: dict, ingress: list[dict]) -> dict:
    obj = copy.deepcopy(obj)
    obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


STATUS_CASES = [
    pytest.param(svc(), [{"ip": "1.2.3.4"}], ["status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"], id="rule 44 ingress on ClusterIP"),
    pytest.param(lb(), [{"ip": "1.2.3.4", "ipMode": "VIP"}, {"hostname": "lb.example.com"}], [], id="rule 45 fine"),
    pytest.param(lb(), [{"ip": "1.2.3", "ipMode": "VIP"}], [f'status.loadBalancer.ingress[0].ip: Invalid value: "1.2.3": {IP}'], id="rule 45 bad ip"),
    pytest.param(lb(), [{"ip": "1.2.3.4"}], ["status.loadBalancer.ingress[0].ipMode: Required value: must be specified when `ip` is set"], id="rule 45 ipMode required"),
    pytest.param(lb(), [{"hostname": "a.b", "ipMode": "VIP"}], ["status.loadBalancer.ingress[0].ipMode: Forbidden: may not be specified when `ip` is not set"], id="rule 45 ipMode without ip"),
    pytest.param(lb(), [{"ip": "1.2.3.4", "ipMode": "X"}], ['status.loadBalancer.ingress[0].ipMode: Unsupported value: "X": supported values: "Proxy", "VIP"'], id="rule 45 ipMode unsupported"),
    pytest.param(lb(), [{"hostname": "1.2.3.4"}], ['status.loadBalancer.ingress[0].hostname: Invalid value: "1.2.3.4": must be a DNS name, not an IP address'], id="rule 45 hostname is an IP"),
    pytest.param(lb(), [{"hostname": "-x"}], [f'status.loadBalancer.ingress[0].hostname: Invalid value: "-x": {SUBDOMAIN}'], id="rule 45 hostname bad"),
]


@pytest.mark.parametrize("obj,ingress,expected", STATUS_CASES)
def test_validate_service_status_update(obj: dict, ingress: list[dict], expected: list[str]) -> None:
    new = with_status(obj, ingress)
    assert [str(e) for e in validate_service_status_update(new, obj)] == expected


def test_validate_service_reports_rules_in_upstream_order() -> None:
    obj = svc({"type": "ClusterIP", "externalTrafficPolicy": "Local", "ports": [{"name": "A", "port": 0, "nodePort": 5}]}, name="-x")
    fields = [e.field for e in validate_service(obj)]
    assert fields == [
        "metadata.name",
        "spec.ports[0].name",
        "spec.ports[0].port",
        "spec.ports[0].targetPort",
        "spec.ports[0].nodePort",
        "spec.externalTrafficPolicy",
    ]
