"""Pod validation (pkg/apis/core/validation: ValidatePodCreate/Update/StatusUpdate), exact texts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults
from svcnet.api.validation import validate, validate_status_update
from svcnet.api.validation.pod import effective_pod_ips

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
IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
RANGE = "must be between 1 and 65535, inclusive"


def pod(spec_patch: dict | None = None, *, name: str = "web-1", container: dict | None = None, defaults: bool = True, status: dict | None = None) -> dict:
    c = {"name": "app", "image": "nginx:1.25"}
    c.update(container or {})
    spec: dict[str, Any] = {"containers": [c]}
    spec.update(spec_patch or {})
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return apply_defaults(obj) if defaults else obj


def errs(obj: dict, old: dict | None = None) -> list[str]:
    return [str(e) for e in validate(obj, old)]


CREATE_CASES = [
    pytest.param(pod(), [], id="minimal pod"),
    pytest.param(pod(name="web.example"), [], id="name may be a subdomain"),
    pytest.param(pod(name="Web"), [f'metadata.name: Invalid value: "Web": {SUBDOMAIN}'], id="name not a subdomain"),
    pytest.param(pod({"containers": []}), ["spec.containers: Required value"], id="containers required"),
    pytest.param(pod(container={"name": ""}), ["spec.containers[0].name: Required value"], id="container name required"),
    pytest.param(pod(container={"name": "App"}), [f'spec.containers[0].name: Invalid value: "App": {DNS1123_LABEL}'], id="container name label"),
    pytest.param(pod({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}), ['spec.containers[1].name: Duplicate value: "a"'], id="container name duplicate"),
    pytest.param(pod(container={"image": ""}), ["spec.containers[0].image: Required value"], id="image required"),
    pytest.param(pod(container={"image": " nginx"}), ['spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace'], id="image whitespace"),
    pytest.param(pod(container={"ports": [{"containerPort": 8080, "name": "http"}]}), [], id="container port fine"),
    pytest.param(pod(container={"ports": [{"containerPort": 0}]}), ["spec.containers[0].ports[0].containerPort: Required value"], id="containerPort required"),
    pytest.param(pod(container={"ports": [{"containerPort": 70000}]}), [f"spec.containers[0].ports[0].containerPort: Invalid value: 70000: {RANGE}"], id="containerPort range"),
    pytest.param(pod(container={"ports": [{"containerPort": 80, "hostPort": 70000}]}), [f"spec.containers[0].ports[0].hostPort: Invalid value: 70000: {RANGE}"], id="hostPort range"),
    pytest.param(pod(container={"ports": [{"containerPort": 80, "protocol": "HTTP"}]}), ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'], id="port protocol"),
    pytest.param(pod(container={"ports": [{"containerPort": 80, "name": "my_http"}]}), ['spec.containers[0].ports[0].name: Invalid value: "my_http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'], id="port name IANA_SVC_NAME"),
    pytest.param(
        pod(container={"ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]}),
        ['spec.containers[0].ports[1].name: Duplicate value: "http"'], id="port name duplicate",
    ),
    pytest.param(
        pod({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}, {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}]}),
        ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'], id="hostPort conflict",
    ),
    pytest.param(
        pod({"hostNetwork": True}, container={"ports": [{"containerPort": 80, "hostPort": 81}]}),
        ["spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true"], id="hostNetwork hostPort",
    ),
    pytest.param(pod(container={"readinessProbe": {"httpGet": {"port": "http"}}}), [], id="readiness httpGet named port"),
    pytest.param(pod(container={"readinessProbe": {"periodSeconds": 5}}), ["spec.containers[0].readinessProbe: Required value: must specify a handler type"], id="probe needs a handler"),
    pytest.param(
        pod(container={"readinessProbe": {"tcpSocket": {"port": 80}, "exec": {"command": ["true"]}}}),
        ["spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"], id="probe two handlers",
    ),
    pytest.param(pod(container={"readinessProbe": {"tcpSocket": {"port": 0}}}), [f"spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: 0: {RANGE}"], id="probe tcp port"),
    pytest.param(pod(container={"readinessProbe": {"exec": {}}}), ["spec.containers[0].readinessProbe.exec.command: Required value"], id="probe exec command"),
    pytest.param(pod(container={"readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": -1}}), ["spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0"], id="probe negative delay"),
    pytest.param(pod(container={"livenessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}}), ["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"], id="liveness successThreshold"),
    pytest.param(pod(container={"readinessProbe": {"tcpSocket": {"port": 80}, "successThreshold": 2}}), [], id="readiness successThreshold may be >1"),
    pytest.param(
        pod(container={"readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}}}),
        ['spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"'], id="httpGet scheme",
    ),
    pytest.param(pod(container={"restartPolicy": "Always"}), ["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"], id="container restartPolicy"),
    pytest.param(pod({"initContainers": [{"name": "app", "image": "busybox"}]}), ['spec.initContainers[0].name: Duplicate value: "app"'], id="init container name clash"),
    pytest.param(
        pod({"initContainers": [{"name": "init", "image": "busybox", "readinessProbe": {"tcpSocket": {"port": 80}}}]}),
        ["spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"], id="init container probe",
    ),
    pytest.param(pod({"initContainers": [{"name": "side", "image": "busybox", "restartPolicy": "Always", "readinessProbe": {"tcpSocket": {"port": 80}}}]}), [], id="sidecar probe"),
    pytest.param(pod({"restartPolicy": "Sometimes"}), ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'], id="restartPolicy"),
    pytest.param(pod({"dnsPolicy": "Foo"}), ['spec.dnsPolicy: Unsupported value: "Foo": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'], id="dnsPolicy"),
    pytest.param(pod({"dnsPolicy": "None"}), ["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"], id="dnsPolicy None needs config"),
    pytest.param(pod({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.10"], "searches": ["svc.cluster.local."]}}), [], id="dnsConfig fine"),
    pytest.param(pod({"dnsConfig": {"nameservers": ["x"]}}), [f'spec.dnsConfig.nameservers[0]: Invalid value: "x": {IP}'], id="dnsConfig nameserver"),
    pytest.param(pod({"hostname": "web-0", "subdomain": "web"}), [], id="hostname and subdomain"),
    pytest.param(pod({"hostname": "web.0"}), ['spec.hostname: Invalid value: "web.0": must not contain dots'], id="hostname label"),
    pytest.param(pod({"subdomain": "Web"}), [f'spec.subdomain: Invalid value: "Web": {DNS1123_LABEL}'], id="subdomain label"),
    pytest.param(pod({"nodeName": "node_1"}), [f'spec.nodeName: Invalid value: "node_1": {SUBDOMAIN}'], id="nodeName"),
    pytest.param(pod({"serviceAccountName": "Bad"}), [f'spec.serviceAccountName: Invalid value: "Bad": {SUBDOMAIN}'], id="serviceAccountName"),
    pytest.param(pod({"activeDeadlineSeconds": 0}), ["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"], id="activeDeadlineSeconds"),
    pytest.param(pod({"nodeSelector": {"-x": "y"}}), ["spec.nodeSelector: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"], id="nodeSelector"),
    pytest.param(pod({"volumes": [{"name": "v"}, {"name": "v"}]}), ['spec.volumes[1].name: Duplicate value: "v"'], id="volume names"),
    pytest.param(pod(container={"env": [{"name": "1X"}]}), ["spec.containers[0].env[0].name: Invalid value: \"1X\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"], id="env name"),
    pytest.param(pod({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}), ["spec.ephemeralContainers: Forbidden: cannot be set on create"], id="ephemeral on create"),
]


@pytest.mark.parametrize("obj,expected", CREATE_CASES)
def test_validate_pod_create(obj: dict, expected: list[str]) -> None:
    assert errs(obj) == expected


def test_validate_pod_undefaulted_reports_in_upstream_order() -> None:
    assert errs(pod(defaults=False)) == [
        "spec.terminationGracePeriodSeconds: Required value",
        "spec.containers[0].terminationMessagePolicy: Required value",
        "spec.containers[0].imagePullPolicy: Required value",
        "spec.restartPolicy: Required value",
        "spec.dnsPolicy: Required value",
    ]


def test_validate_pod_update_image_may_change() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert errs(new, old) == []


def test_validate_pod_update_other_spec_fields_forbidden() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "n1"
    out = errs(new, old)
    assert len(out) == 1
    assert out[0].startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    )
    assert "spec.nodeName" in out[0]


def test_validate_pod_update_containers_added() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"].append({"name": "b", "image": "x", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"})
    assert errs(new, old) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_validate_pod_update_labels_may_change_name_may_not() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"app": "web"}
    assert errs(new, old) == []
    new["metadata"]["name"] = "web-2"
    assert errs(new, old) == ['metadata.name: Invalid value: "web-2": field is immutable']


def test_validate_pod_update_tolerations_only_added() -> None:
    old = pod({"tolerations": [{"key": "a", "operator": "Exists"}]})
    new = copy.deepcopy(old)
    new["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    assert errs(new, old) == []
    new["spec"]["tolerations"] = [{"key": "b", "operator": "Exists"}]
    assert errs(new, old) == ["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"]


STATUS_CASES = [
    pytest.param({"phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}]}, [], id="podIP and podIPs agree"),
    pytest.param({"podIP": "10.244.1.5"}, [], id="podIP alone"),
    pytest.param({"podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}]}, [], id="dual-stack"),
    pytest.param({"podIPs": [{"ip": "garbage"}]}, [f'status.podIPs[0]: Invalid value: "garbage": {IP}'], id="bad pod IP"),
    pytest.param({"podIP": "garbage"}, [f'status.podIPs[0]: Invalid value: "garbage": {IP}'], id="bad podIP reported at podIPs[0]"),
    pytest.param(
        {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]},
        ['status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"}, core.PodIP{IP:"10.0.0.2"}}: may specify no more than one IP for each IP family'],
        id="two IPv4",
    ),
    pytest.param(
        {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}]},
        [
            'status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"}, core.PodIP{IP:"10.0.0.1"}}: may specify no more than one IP for each IP family',
            'status.podIPs[1]: Duplicate value: core.PodIP{IP:"10.0.0.1"}',
        ],
        id="duplicate",
    ),
    pytest.param({"hostIP": "192.168.1.1", "hostIPs": [{"ip": "192.168.1.1"}]}, [], id="hostIPs"),
    pytest.param({"nominatedNodeName": "Bad_Node"}, [f'status.nominatedNodeName: Invalid value: "Bad_Node": {SUBDOMAIN}'], id="nominatedNodeName"),
]


@pytest.mark.parametrize("status,expected", STATUS_CASES)
def test_validate_pod_status_update(status: dict, expected: list[str]) -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["status"] = status
    assert [str(e) for e in validate_status_update(new, old)] == expected


def test_validate_pod_status_update_spec_node_change_quirk() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "n1"
    assert [str(e) for e in validate_status_update(new, old)] == ["status.nodeName: Forbidden: may not be changed directly"]


@pytest.mark.parametrize(
    "status,ips",
    [
        ({}, []),
        ({"podIP": "1.1.1.1"}, ["1.1.1.1"]),
        ({"podIPs": [{"ip": "1.1.1.1"}, {"ip": "::1"}]}, ["1.1.1.1", "::1"]),
        ({"podIP": "2.2.2.2", "podIPs": [{"ip": "1.1.1.1"}]}, ["2.2.2.2"]),
    ],
)
def test_effective_pod_ips(status: dict, ips: list[str]) -> None:
    assert effective_pod_ips(status) == ips
