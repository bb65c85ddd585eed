"""Server-side Tables: columns and cells as the kube-apiserver prints them.

Most cases are ported from kubernetes/kubernetes pkg/printers/internalversion/printers_test.go
(test function named in each case id) and staging/src/k8s.io/apimachinery/pkg/util/duration/
duration_test.go; Go structs are written as the JSON the API serves.
"""

from __future__ import annotations

import datetime as dt

import pytest

from svcnet.api.resources import by_name
from svcnet.apiserver.tables import human_duration, row_for, table_row_for_watch, to_table, translate_timestamp_since

NOW = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.timezone.utc)


def ago(**kw: float) -> str:
    return (NOW - dt.timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(resource: str, obj: dict, *, wide: bool = False) -> list:
    return row_for(resource, obj, wide=wide, now=NOW)["cells"]


# --------------------------------------------------------------------------------------------
# HumanDuration (duration_test.go TestHumanDuration, TestHumanDurationBoundaries)

S, M, H, D = 1, 60, 3600, 86400
MS = 0.001

DURATIONS = [
    pytest.param(1 * S, "1s", id="TestHumanDuration/1s"),
    pytest.param(70 * S, "70s", id="TestHumanDuration/70s"),
    pytest.param(190 * S, "3m10s", id="TestHumanDuration/190s"),
    pytest.param(70 * M, "70m", id="TestHumanDuration/70m"),
    pytest.param(47 * H, "47h", id="TestHumanDuration/47h"),
    pytest.param(49 * H, "2d1h", id="TestHumanDuration/49h"),
    pytest.param((8 * 24 + 2) * H, "8d", id="TestHumanDuration/8d2h"),
    pytest.param(367 * 24 * H, "367d", id="TestHumanDuration/367d"),
    pytest.param((365 * 2 * 24 + 25) * H, "2y1d", id="TestHumanDuration/2y25h"),
    pytest.param((365 * 8 * 24 + 2) * H, "8y", id="TestHumanDuration/8y2h"),
    pytest.param(-2 * S, "<invalid>", id="TestHumanDurationBoundaries/-2s"),
    pytest.param(-2 * S + 1e-6, "0s", id="TestHumanDurationBoundaries/-2s+1"),
    pytest.param(0, "0s", id="TestHumanDurationBoundaries/0"),
    pytest.param(S - MS, "0s", id="TestHumanDurationBoundaries/1s-1ms"),
    pytest.param(2 * M - MS, "119s", id="TestHumanDurationBoundaries/2m-1ms"),
    pytest.param(2 * M, "2m", id="TestHumanDurationBoundaries/2m"),
    pytest.param(2 * M + S, "2m1s", id="TestHumanDurationBoundaries/2m1s"),
    pytest.param(10 * M - MS, "9m59s", id="TestHumanDurationBoundaries/10m-1ms"),
    pytest.param(10 * M, "10m", id="TestHumanDurationBoundaries/10m"),
    pytest.param(10 * M + S, "10m", id="TestHumanDurationBoundaries/10m1s"),
    pytest.param(3 * H - MS, "179m", id="TestHumanDurationBoundaries/3h-1ms"),
    pytest.param(3 * H, "3h", id="TestHumanDurationBoundaries/3h"),
    pytest.param(3 * H + M, "3h1m", id="TestHumanDurationBoundaries/3h1m"),
    pytest.param(8 * H - MS, "7h59m", id="TestHumanDurationBoundaries/8h-1ms"),
    pytest.param(8 * H, "8h", id="TestHumanDurationBoundaries/8h"),
    pytest.param(8 * H + 59 * M, "8h", id="TestHumanDurationBoundaries/8h59m"),
    pytest.param(2 * D - MS, "47h", id="TestHumanDurationBoundaries/48h-1ms"),
    pytest.param(2 * D, "2d", id="TestHumanDurationBoundaries/48h"),
    pytest.param(2 * D + H, "2d1h", id="TestHumanDurationBoundaries/49h"),
    pytest.param(8 * D - MS, "7d23h", id="TestHumanDurationBoundaries/8d-1ms"),
    pytest.param(8 * D, "8d", id="TestHumanDurationBoundaries/8d"),
    pytest.param(8 * D + 23 * H, "8d", id="TestHumanDurationBoundaries/8d23h"),
    pytest.param(2 * 365 * D - MS, "729d", id="TestHumanDurationBoundaries/2y-1ms"),
    pytest.param(2 * 365 * D, "2y", id="TestHumanDurationBoundaries/2y"),
    pytest.param(2 * 365 * D + 23 * H, "2y", id="TestHumanDurationBoundaries/2y23h"),
    pytest.param(2 * 365 * D + 23 * H + 59 * M, "2y", id="TestHumanDurationBoundaries/2y23h59m"),
    pytest.param(2 * 365 * D + D - MS, "2y", id="TestHumanDurationBoundaries/2y1d-1ms"),
    pytest.param(2 * 365 * D + D, "2y1d", id="TestHumanDurationBoundaries/2y1d"),
    pytest.param(3 * 365 * D, "3y", id="TestHumanDurationBoundaries/3y"),
    pytest.param(4 * 365 * D, "4y", id="TestHumanDurationBoundaries/4y"),
    pytest.param(5 * 365 * D, "5y", id="TestHumanDurationBoundaries/5y"),
    pytest.param(6 * 365 * D, "6y", id="TestHumanDurationBoundaries/6y"),
    pytest.param(7 * 365 * D, "7y", id="TestHumanDurationBoundaries/7y"),
    pytest.param(8 * 365 * D - MS, "7y364d", id="TestHumanDurationBoundaries/8y-1ms"),
    pytest.param(8 * 365 * D, "8y", id="TestHumanDurationBoundaries/8y"),
    pytest.param(8 * 365 * D + 364 * D, "8y", id="TestHumanDurationBoundaries/8y364d"),
    pytest.param(9 * 365 * D, "9y", id="TestHumanDurationBoundaries/9y"),
    # the brief's examples
    pytest.param(5 * S, "5s", id="svcnet/5s"),
    pytest.param(3 * M + 20 * S, "3m20s", id="svcnet/3m20s"),
    pytest.param(5 * H + 3 * M, "5h3m", id="svcnet/5h3m"),
    pytest.param(2 * D + 3 * H, "2d3h", id="svcnet/2d3h"),
    pytest.param(400 * D, "400d", id="svcnet/400d"),
    pytest.param(3 * 365 * D + 20 * D, "3y20d", id="svcnet/3y20d"),
]


@pytest.mark.parametrize("seconds,want", DURATIONS)
def test_human_duration_upstream_vectors(seconds: float, want: str) -> None:
    assert human_duration(seconds) == want
    assert human_duration(dt.timedelta(seconds=seconds)) == want


# printers_test.go TestTranslateTimestampSince
@pytest.mark.parametrize(
    "offset,want",
    [
        pytest.param(2.1, "<invalid>", id="a while from now"),
        pytest.param(1.9, "0s", id="almost now"),
        pytest.param(0, "0s", id="now"),
        pytest.param(-30, "30s", id="30 seconds ago"),
        pytest.param(-300, "5m", id="5 minutes ago"),
        pytest.param(-6000, "100m", id="an hour ago"),
        pytest.param(-2 * D, "2d", id="2 days ago"),
        pytest.param(-90 * D, "90d", id="months ago"),
        pytest.param(-10 * 365 * D, "10y", id="10 years ago"),
    ],
)
def test_translate_timestamp_since_upstream(offset: float, want: str) -> None:
    t = (NOW + dt.timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
    assert translate_timestamp_since(t, NOW) == want


def test_translate_timestamp_since_unset_is_unknown() -> None:
    assert translate_timestamp_since(None, NOW) == "<unknown>"
    assert translate_timestamp_since("", NOW) == "<unknown>"


# --------------------------------------------------------------------------------------------
# Services


def svc(name: str, typ: str, *, ips=("10.9.8.7",), ports=(), external=None, ingress=None, selector=None, extname=None, created=None) -> dict:
    spec: dict = {"type": typ, "ports": list(ports)}
    if ips:
        spec["clusterIP"] = ips[0]
        spec["clusterIPs"] = list(ips)
    if external:
        spec["externalIPs"] = list(external)
    if selector:
        spec["selector"] = selector
    if extname:
        spec["externalName"] = extname
    md: dict = {"name": name}
    if created:
        md["creationTimestamp"] = created
    obj = {"metadata": md, "spec": spec}
    if ingress is not None:
        obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


TCP80 = {"port": 80, "protocol": "TCP"}

SERVICES = [
    # printers_test.go TestPrintService
    pytest.param(svc("test1", "ClusterIP", ports=[{"protocol": "tcp", "port": 2233}]), False,
                 ["test1", "ClusterIP", "10.9.8.7", "<none>", "2233/tcp", "<unknown>"], id="TestPrintService/test1"),
    pytest.param(svc("test2", "NodePort", ports=[{"protocol": "tcp", "port": 8888, "nodePort": 9999}]), False,
                 ["test2", "NodePort", "10.9.8.7", "<none>", "8888:9999/tcp", "<unknown>"], id="TestPrintService/test2"),
    pytest.param(svc("test3", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}]), False,
                 ["test3", "LoadBalancer", "10.9.8.7", "<pending>", "8888/tcp", "<unknown>"], id="TestPrintService/test3"),
    pytest.param(svc("test4", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], external=["80.11.12.10"]), False,
                 ["test4", "LoadBalancer", "10.9.8.7", "80.11.12.10", "8888/tcp", "<unknown>"], id="TestPrintService/test4"),
    pytest.param(svc("test5", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], external=["80.11.12.10"],
                     ingress=[{"ip": "3.4.5.6", "hostname": "test.cluster.com"}]), False,
                 ["test5", "LoadBalancer", "10.9.8.7", "3.4.5.6,80.11.12.10", "8888/tcp", "<unknown>"], id="TestPrintService/test5"),
    pytest.param(svc("test6", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], external=["80.11.12.10", "80.11.12.11"],
                     ingress=[{"ip": "2.3.4.5", "hostname": "test.cluster.local"}, {"ip": "3.4.5.6", "hostname": "test.cluster.com"}]), False,
                 ["test6", "LoadBalancer", "10.9.8.7", "2.3.4.5,3.4.5.6,80.11.12.10,80.11.12.11", "8888/tcp", "<unknown>"], id="TestPrintService/test6"),
    pytest.param(svc("test7", "ExternalName", ips=(), extname="my.database.example.com"), False,
                 ["test7", "ExternalName", "<none>", "my.database.example.com", "<none>", "<unknown>"], id="TestPrintService/test7"),
    # printers_test.go TestPrintServiceLoadBalancer
    pytest.param(svc("service1", "LoadBalancer", ips=("1.2.3.4",), ports=[TCP80], ingress=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}]), False,
                 ["service1", "LoadBalancer", "1.2.3.4", "2.3.4.5,3.4.5.6", "80/TCP", "<unknown>"], id="TestPrintServiceLoadBalancer/multiple-external-ips"),
    pytest.param(svc("service2", "LoadBalancer", ips=("1.3.4.5",), ports=[TCP80, {"port": 8090, "protocol": "UDP"}, {"port": 8000, "protocol": "TCP"}, {"port": 7777, "protocol": "SCTP"}]), False,
                 ["service2", "LoadBalancer", "1.3.4.5", "<pending>", "80/TCP,8090/UDP,8000/TCP,7777/SCTP", "<unknown>"], id="TestPrintServiceLoadBalancer/pending"),
    pytest.param(svc("service3", "LoadBalancer", ips=("1.4.5.6",), ports=[TCP80, {"port": 8090, "protocol": "UDP"}, {"port": 8000, "protocol": "TCP"}], ingress=[{"ip": "2.3.4.5"}]), False,
                 ["service3", "LoadBalancer", "1.4.5.6", "2.3.4.5", "80/TCP,8090/UDP,8000/TCP", "<unknown>"], id="TestPrintServiceLoadBalancer/multiple-ports"),
    pytest.param(svc("service4", "LoadBalancer", ips=("1.5.6.7",), ports=[TCP80, {"port": 8090, "protocol": "UDP"}, {"port": 8000, "protocol": "TCP"}],
                     ingress=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}, {"ip": "5.6.7.8", "hostname": "host5678"}]), False,
                 ["service4", "LoadBalancer", "1.5.6.7", "2.3.4.5,3.4.5...", "80/TCP,8090/UDP,8000/TCP", "<unknown>"], id="TestPrintServiceLoadBalancer/elided"),
    pytest.param(svc("service4", "LoadBalancer", ips=("1.5.6.7",), ports=[TCP80, {"port": 8090, "protocol": "UDP"}, {"port": 8000, "protocol": "TCP"}], selector={"foo": "bar"},
                     ingress=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}, {"ip": "5.6.7.8", "hostname": "host5678"}]), True,
                 ["service4", "LoadBalancer", "1.5.6.7", "2.3.4.5,3.4.5.6,5.6.7.8", "80/TCP,8090/UDP,8000/TCP", "<unknown>", "foo=bar"], id="TestPrintServiceLoadBalancer/wide"),
    # svcnet cases: each External-IP rule, ports, selector
    pytest.param(svc("c", "ClusterIP", ports=[TCP80], external=["1.1.1.1", "2.2.2.2"]), True,
                 ["c", "ClusterIP", "10.9.8.7", "1.1.1.1,2.2.2.2", "80/TCP", "<unknown>", "<none>"], id="svcnet/clusterip-external-ips"),
    pytest.param(svc("n", "NodePort", ports=[{"port": 80, "protocol": "TCP", "nodePort": 30080}], external=["1.1.1.1"]), False,
                 ["n", "NodePort", "10.9.8.7", "1.1.1.1", "80:30080/TCP", "<unknown>"], id="svcnet/nodeport-external-ip"),
    pytest.param(svc("h", "LoadBalancer", ports=[TCP80], ingress=[{"hostname": "a.example.com"}, {"ip": "9.9.9.9"}]), True,
                 ["h", "LoadBalancer", "10.9.8.7", "9.9.9.9,a.example.com", "80/TCP", "<unknown>", "<none>"], id="svcnet/lb-hostname-sorted-set"),
    pytest.param(svc("hl", "ClusterIP", ips=("None",), ports=[], selector={"b": "2", "a": "1"}), True,
                 ["hl", "ClusterIP", "None", "<none>", "<none>", "<unknown>", "a=1,b=2"], id="svcnet/headless-no-ports"),
    pytest.param(svc("odd", "", ports=[TCP80]), False,
                 ["odd", "", "10.9.8.7", "<unknown>", "80/TCP", "<unknown>"], id="svcnet/unknown-type"),
]


@pytest.mark.parametrize("obj,wide,want", SERVICES)
def test_service_cells(obj: dict, wide: bool, want: list) -> None:
    assert cells("services", obj, wide=wide) == want


def test_service_cluster_ip_falls_back_to_cluster_ip_field() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9", "ports": [TCP80]}}
    assert cells("services", obj)[2] == "10.0.0.9"


def test_service_long_lb_hostname_not_clipped_on_the_server_path() -> None:
    host = "a0123456789abcdef-1234567890.eu-west-1.elb.amazonaws.com"
    t = to_table(by_name("services"), [svc("lb", "LoadBalancer", ports=[TCP80], ingress=[{"hostname": host}])], now=NOW)
    assert t["rows"][0]["cells"][3] == host


# --------------------------------------------------------------------------------------------
# Pods (printers_test.go TestPrintPod and friends)


def run() -> dict:
    return {"running": {}}


def cst(*, ready=False, restarts=0, state=None, finished=None, name=None, started=None) -> dict:
    c: dict = {"ready": ready, "restartCount": restarts, "state": state if state is not None else {}}
    if finished is not None:
        c["lastState"] = {"terminated": {"finishedAt": ago(seconds=finished)}}
    if name is not None:
        c["name"] = name
    if started is not None:
        c["started"] = started
    return c


def pod(name: str, *, containers=1, init=0, init_specs=None, phase="", reason=None, statuses=(), init_statuses=(), conditions=None, deleted=False, **extra) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}"} for i in range(containers)]}
    if init_specs is not None:
        spec["initContainers"] = init_specs
    elif init:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(init)]
    status: dict = {"phase": phase, "containerStatuses": list(statuses)}
    if init_statuses:
        status["initContainerStatuses"] = list(init_statuses)
    if reason:
        status["reason"] = reason
    if conditions:
        status["conditions"] = conditions
    md: dict = {"name": name}
    if deleted:
        md["deletionTimestamp"] = ago(seconds=10)
    spec.update(extra.pop("spec", {}))
    status.update(extra.pop("status", {}))
    return {"metadata": md, "spec": spec, "status": status}


SUCCESS = [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]
FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
SIDECARS = [{"name": "restartable-init-1", "restartPolicy": "Always"}, {"name": "restartable-init-2", "restartPolicy": "Always"}]

PODS = [
    pytest.param(pod("test1", containers=2, phase="podPhase", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)]),
                 ["test1", "1/2", "podPhase", "6", "<unknown>"], None, id="TestPrintPod/test1"),
    pytest.param(pod("test2", containers=2, phase="podPhase", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}})]),
                 ["test2", "1/2", "ContainerWaitingReason", "6", "<unknown>"], None, id="TestPrintPod/test2"),
    pytest.param(pod("test3", containers=2, phase="podPhase", statuses=[cst(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}}), cst(restarts=3, state={"terminated": {"reason": "ContainerTerminatedReason"}})]),
                 ["test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"], None, id="TestPrintPod/test3"),
    pytest.param(pod("test4", containers=2, phase="podPhase", statuses=[cst(ready=True, restarts=3, state=run()), cst(ready=True, restarts=3)]),
                 ["test4", "1/2", "podPhase", "6", "<unknown>"], None, id="TestPrintPod/test4"),
    pytest.param(pod("test5", containers=2, phase="podPhase", reason="podReason", statuses=[cst(ready=True, restarts=3, state=run()), cst(ready=True, restarts=3)]),
                 ["test5", "1/2", "podReason", "6", "<unknown>"], None, id="TestPrintPod/test5"),
    pytest.param(pod("test6", containers=2, phase="Running", statuses=[cst(ready=True, restarts=3, state={"terminated": {"reason": "Completed", "exitCode": 0}}), cst(ready=True, restarts=3, state=run())]),
                 ["test6", "1/2", "NotReady", "6", "<unknown>"], None, id="TestPrintPod/test6-no-ready-condition"),
    pytest.param(pod("test6", containers=2, phase="Running", conditions=[{"type": "Ready", "status": "True"}],
                     statuses=[cst(ready=True, restarts=3, state={"terminated": {"reason": "Completed", "exitCode": 0}}), cst(ready=True, restarts=3, state=run())]),
                 ["test6", "1/2", "Running", "6", "<unknown>"], None, id="TestPrintPod/test6-ready-condition"),
    pytest.param(pod("test7", init=1, phase="podPhase", init_statuses=[cst(restarts=3, state=run(), finished=10)], statuses=[cst(state={"waiting": {}})]),
                 ["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"], None, id="TestPrintPod/test7"),
    pytest.param(pod("test8", init=2, phase="podPhase", init_statuses=[cst(restarts=3, state=run(), finished=10), cst(state={"waiting": {}})], statuses=[cst(state={"waiting": {}})]),
                 ["test8", "0/1", "Init:0/2", "3 (10s ago)", "<unknown>"], None, id="TestPrintPod/test8"),
    pytest.param(pod("test9", init=2, phase="podPhase", init_statuses=[cst(state={"terminated": {}}), cst(restarts=3, state=run(), finished=10)], statuses=[cst(state={"waiting": {}})]),
                 ["test9", "0/1", "Init:1/2", "3 (10s ago)", "<unknown>"], None, id="TestPrintPod/test9"),
    pytest.param(pod("test10", init=2, phase="podPhase", init_statuses=[cst(restarts=2, state={"terminated": {}}, finished=120), cst(restarts=3, state=run(), finished=10)], statuses=[cst(state={"waiting": {}})]),
                 ["test10", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"], None, id="TestPrintPod/test10"),
    pytest.param(pod("test11", init=1, phase="Running", init_statuses=[cst(restarts=2, state={"terminated": {}}, finished=120)], statuses=[cst(restarts=4, state=run(), finished=20)]),
                 ["test11", "0/1", "Running", "4 (20s ago)", "<unknown>"], None, id="TestPrintPod/test11"),
    pytest.param(pod("test12", phase="Running", statuses=[cst(ready=True, restarts=3, state=run(), finished=5 * D)]),
                 ["test12", "1/1", "Running", "3 (5d ago)", "<unknown>"], None, id="TestPrintPod/test12"),
    pytest.param(pod("test13", containers=2, phase="Running", statuses=[cst(ready=True, state=run()), cst(ready=True, restarts=3, state=run(), finished=10 * D)]),
                 ["test13", "2/2", "Running", "3 (10d ago)", "<unknown>"], None, id="TestPrintPod/test13"),
    pytest.param(pod("test14", containers=2, phase="Running", statuses=[cst(ready=True, restarts=6, state=run(), finished=5 * D), cst(ready=True, restarts=3, state=run(), finished=20 * D)]),
                 ["test14", "2/2", "Running", "9 (5d ago)", "<unknown>"], None, id="TestPrintPod/test14"),
    pytest.param(pod("test15", containers=2, phase="podPhase", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
                 ["test15", "0/2", "SchedulingGated", "0", "<unknown>"], None, id="TestPrintPod/test15"),
    pytest.param(pod("test16", phase="Succeeded", statuses=[cst(state={"terminated": {"reason": "Completed", "exitCode": 0}})]),
                 ["test16", "0/1", "Completed", "0", "<unknown>"], SUCCESS, id="TestPrintPod/test16"),
    pytest.param(pod("test17", phase="Failed", statuses=[cst(state={"terminated": {"reason": "Error", "exitCode": 1}})]),
                 ["test17", "0/1", "Error", "0", "<unknown>"], FAILED, id="TestPrintPod/test17"),
    pytest.param(pod("test18", phase="Succeeded", deleted=True, statuses=[cst(state={"terminated": {"reason": "Completed", "exitCode": 0}})]),
                 ["test18", "0/1", "Completed", "0", "<unknown>"], SUCCESS, id="TestPrintPod/test18"),
    pytest.param(pod("test19", phase="Running", deleted=True, statuses=[cst(state=run())]),
                 ["test19", "0/1", "Terminating", "0", "<unknown>"], None, id="TestPrintPod/test19"),
    pytest.param(pod("test20", phase="Pending", deleted=True),
                 ["test20", "0/1", "Terminating", "0", "<unknown>"], None, id="TestPrintPod/test20"),
    # TestPrintPodWithRestartableInitContainer
    pytest.param(pod("test1", init_specs=SIDECARS, phase="Pending", conditions=[{"type": "Initialized", "status": "False"}],
                     init_statuses=[cst(name="restartable-init-1", restarts=3, state=run(), started=False, finished=10), cst(name="restartable-init-2", state={"waiting": {}}, started=False)],
                     statuses=[cst(state={"waiting": {}})]),
                 ["test1", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>"], None, id="TestPrintPodWithRestartableInitContainer/first-not-started"),
    pytest.param(pod("test1", init_specs=SIDECARS, phase="Pending", conditions=[{"type": "Initialized", "status": "False"}],
                     init_statuses=[cst(name="restartable-init-1", restarts=3, state=run(), started=True, finished=10), cst(name="restartable-init-2", state=run(), started=False)],
                     statuses=[cst(state={"waiting": {}})]),
                 ["test1", "0/3", "Init:1/2", "3 (10s ago)", "<unknown>"], None, id="TestPrintPodWithRestartableInitContainer/second-not-started"),
    pytest.param(pod("test2", init_specs=SIDECARS, phase="Running", conditions=[{"type": "Initialized", "status": "True"}],
                     init_statuses=[cst(name="restartable-init-1", restarts=3, state=run(), started=True, finished=10), cst(name="restartable-init-2", state=run(), started=True)],
                     statuses=[cst(ready=True, restarts=4, state=run(), finished=20)]),
                 ["test2", "1/3", "Running", "7 (10s ago)", "<unknown>"], None, id="TestPrintPodWithRestartableInitContainer/all-started"),
    pytest.param(pod("test3", init_specs=SIDECARS, phase="Succeeded", conditions=[{"type": "Initialized", "status": "True"}],
                     init_statuses=[cst(name="restartable-init-1", restarts=3, state={"terminated": {"reason": "Error", "exitCode": 137}}, started=False, finished=10),
                                    cst(name="restartable-init-2", state={"terminated": {"reason": "Error", "exitCode": 137}}, started=False)],
                     statuses=[cst(restarts=4, state={"terminated": {"reason": "Completed", "exitCode": 0}}, finished=20)]),
                 ["test3", "0/3", "Completed", "7 (10s ago)", "<unknown>"], SUCCESS, id="TestPrintPodWithRestartableInitContainer/completed"),
    pytest.param(pod("test4", init_specs=[{"name": "init1", "image": "initimage"}, {"name": "sidecar1", "image": "sidecarimage", "restartPolicy": "Always"}], phase="Running",
                     init_statuses=[{"name": "initinvalid"}, {"name": "init1"}, {"name": "sidecar1"}],
                     statuses=[{"name": "containerinvalid"}, {"name": "container1"}]),
                 ["test4", "0/2", "Init:0/2", "0", "<unknown>"], None, id="TestPrintPodWithRestartableInitContainer/unknown-statuses"),
    # TestPrintNonTerminatedPod / TestPrintPodConditions
    pytest.param(pod("test1", containers=2, phase="Running", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)]),
                 ["test1", "1/2", "Running", "6", "<unknown>"], None, id="TestPrintNonTerminatedPod/running"),
    pytest.param(pod("test2", containers=2, phase="Pending", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)]),
                 ["test2", "1/2", "Pending", "6", "<unknown>"], None, id="TestPrintNonTerminatedPod/pending"),
    pytest.param(pod("test3", containers=2, phase="Unknown", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)]),
                 ["test3", "1/2", "Unknown", "6", "<unknown>"], None, id="TestPrintNonTerminatedPod/unknown"),
    pytest.param(pod("test4", containers=2, phase="Succeeded", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)]),
                 ["test4", "1/2", "Succeeded", "6", "<unknown>"], SUCCESS, id="TestPrintNonTerminatedPod/succeeded"),
    pytest.param(pod("test5", containers=2, phase="Failed", statuses=[cst(ready=True, restarts=3, state=run()), cst(ready=True, restarts=3)]),
                 ["test5", "1/2", "Failed", "6", "<unknown>"], FAILED, id="TestPrintNonTerminatedPod/failed"),
    # svcnet: other reason paths of printPod
    pytest.param(pod("sig", phase="Running", statuses=[cst(state={"terminated": {"signal": 9, "exitCode": 137}})]),
                 ["sig", "0/1", "Signal:9", "0", "<unknown>"], None, id="svcnet/terminated-signal"),
    pytest.param(pod("code", phase="Running", statuses=[cst(state={"terminated": {"exitCode": 2}})]),
                 ["code", "0/1", "ExitCode:2", "0", "<unknown>"], None, id="svcnet/terminated-exit-code"),
    pytest.param(pod("initfail", init=1, phase="Pending", init_statuses=[cst(state={"terminated": {"exitCode": 1, "reason": "Error"}})]),
                 ["initfail", "0/1", "Init:Error", "0", "<unknown>"], None, id="svcnet/init-terminated-reason"),
    pytest.param(pod("initcode", init=1, phase="Pending", init_statuses=[cst(state={"terminated": {"exitCode": 3}})]),
                 ["initcode", "0/1", "Init:ExitCode:3", "0", "<unknown>"], None, id="svcnet/init-exit-code"),
    pytest.param(pod("initsig", init=1, phase="Pending", init_statuses=[cst(state={"terminated": {"exitCode": 1, "signal": 15}})]),
                 ["initsig", "0/1", "Init:Signal:15", "0", "<unknown>"], None, id="svcnet/init-signal"),
    pytest.param(pod("initwait", init=1, phase="Pending", init_statuses=[cst(state={"waiting": {"reason": "ImagePullBackOff"}})]),
                 ["initwait", "0/1", "Init:ImagePullBackOff", "0", "<unknown>"], None, id="svcnet/init-waiting-reason"),
    pytest.param(pod("crash", phase="Running", statuses=[cst(restarts=5, state={"waiting": {"reason": "CrashLoopBackOff"}}, finished=300)]),
                 ["crash", "0/1", "CrashLoopBackOff", "5 (5m ago)", "<unknown>"], None, id="svcnet/crashloop"),
    pytest.param(pod("lost", phase="Running", reason="NodeLost", deleted=True, statuses=[cst(state=run())]),
                 ["lost", "0/1", "Unknown", "0", "<unknown>"], None, id="svcnet/node-lost"),
]


@pytest.mark.parametrize("obj,want,conditions", PODS)
def test_pod_cells(obj: dict, want: list, conditions: list | None) -> None:
    row = row_for("pods", obj, wide=False, now=NOW)
    assert row["cells"] == want
    assert row.get("conditions") == conditions


GATES = {"readinessGates": [{"conditionType": "condition1"}, {"conditionType": "condition2"}, {"conditionType": "condition3"}]}
GATE_CONDS = [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}]


@pytest.mark.parametrize(
    "obj,want",
    [
        pytest.param(pod("test1", containers=2, phase="podPhase", conditions=GATE_CONDS, statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)],
                         spec={"nodeName": "test1", **GATES}, status={"podIPs": [{"ip": "1.1.1.1"}], "nominatedNodeName": "node1"}),
                     ["test1", "1/2", "podPhase", "6", "<unknown>", "1.1.1.1", "test1", "node1", "1/3"], id="TestPrintPodwide/node-and-ip"),
        pytest.param(pod("test1", containers=2, phase="podPhase", conditions=GATE_CONDS, statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3)],
                         spec={"nodeName": "test1", **GATES}, status={"podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}], "nominatedNodeName": "node1"}),
                     ["test1", "1/2", "podPhase", "6", "<unknown>", "1.1.1.1", "test1", "node1", "1/3"], id="TestPrintPodwide/dual-stack"),
        pytest.param(pod("test2", containers=2, phase="podPhase", statuses=[cst(ready=True, restarts=3, state=run()), cst(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}})]),
                     ["test2", "1/2", "ContainerWaitingReason", "6", "<unknown>", "<none>", "<none>", "<none>", "<none>"], id="TestPrintPodwide/none"),
        pytest.param(pod("ip", phase="Running", status={"podIP": "10.244.1.5"}),
                     ["ip", "0/1", "Running", "0", "<unknown>", "10.244.1.5", "<none>", "<none>", "<none>"], id="svcnet/podIP-only"),
    ],
)
def test_pod_wide_cells(obj: dict, want: list) -> None:
    assert cells("pods", obj, wide=True) == want


# --------------------------------------------------------------------------------------------
# EndpointSlices and Endpoints


def slice_(name: str, ports: list, endpoints: list, created: str | None = None) -> dict:
    md = {"name": name}
    if created:
        md["creationTimestamp"] = created
    return {"metadata": md, "addressType": "IP", "ports": ports, "endpoints": endpoints}


ES = [
    # printers_test.go TestPrintEndpointSlice
    pytest.param(slice_("abcslice.123", [{"name": "http", "port": 80, "protocol": "TCP"}], [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}], ago(seconds=-1.9)),
                 ["abcslice.123", "IP", "80", "10.1.2.3,2001:db8::1234:5678", "0s"], id="TestPrintEndpointSlice/abcslice"),
    pytest.param(slice_("longerslicename.123", [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "https", "port": 443, "protocol": "TCP"}],
                        [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}, {"addresses": ["10.2.3.4", "2001:db8::2345:6789"]}], ago(seconds=300)),
                 ["longerslicename.123", "IP", "80,443", "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...", "5m"], id="TestPrintEndpointSlice/longer"),
    pytest.param(slice_("multiportslice.123", [{"name": n, "port": p, "protocol": "TCP"} for n, p in (("http", 80), ("https", 443), ("extra1", 3000), ("extra2", 3001))],
                        [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}, {"addresses": ["10.2.3.4", "2001:db8::2345:6789"]}], ago(seconds=300)),
                 ["multiportslice.123", "IP", "80,443,3000 + 1 more...", "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...", "5m"], id="TestPrintEndpointSlice/multiport"),
    pytest.param(slice_("empty", [], []), ["empty", "IP", "<unset>", "<unset>", "<unknown>"], id="svcnet/unset"),
    pytest.param(slice_("allports", [{"name": "", "port": None}], [{"addresses": ["10.0.0.1"]}]), ["allports", "IP", "<unset>", "10.0.0.1", "<unknown>"], id="svcnet/nil-port-empty-name"),
    pytest.param(slice_("star", [{"protocol": "TCP"}], []), ["star", "IP", "*", "<unset>", "<unknown>"], id="svcnet/nil-port-nil-name"),
]


@pytest.mark.parametrize("obj,want", ES)
def test_endpointslice_cells(obj: dict, want: list) -> None:
    assert cells("endpointslices", obj) == want


@pytest.mark.parametrize(
    "subsets,want",
    [
        pytest.param([], "<none>", id="none"),
        pytest.param([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}]}], "10.0.0.1:8080,10.0.0.2:8080", id="ports"),
        pytest.param([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80", id="ipv6"),
        pytest.param([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)]}], "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...", id="headless-more"),
        pytest.param([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 1}, {"port": 2}]}], "10.0.0.1:1,10.0.0.2:1,10.0.0.1:2 + 1 more...", id="ports-more"),
    ],
)
def test_endpoints_cells(subsets: list, want: str) -> None:
    assert cells("endpoints", {"metadata": {"name": "ep"}, "subsets": subsets}) == ["ep", want, "<unknown>"]


# --------------------------------------------------------------------------------------------
# Nodes (TestPrintNodeStatus, TestPrintNodeRole, TestPrintNodeOSImage, TestPrintNodeExternalIP, ...)


def node(name: str, *, conds=None, unsched=False, labels=None, info=None, addresses=None) -> dict:
    obj: dict = {"metadata": {"name": name, **({"labels": labels} if labels else {})}, "spec": {}, "status": {}}
    if unsched:
        obj["spec"]["unschedulable"] = True
    if conds is not None:
        obj["status"]["conditions"] = conds
    if info is not None:
        obj["status"]["nodeInfo"] = info
    if addresses is not None:
        obj["status"]["addresses"] = addresses
    return obj


READY = [{"type": "Ready", "status": "True"}]
NODES = [
    pytest.param(node("foo1", conds=READY), ["foo1", "Ready", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo1"),
    pytest.param(node("foo2", conds=READY, unsched=True), ["foo2", "Ready,SchedulingDisabled", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo2"),
    pytest.param(node("foo3", conds=READY + READY), ["foo3", "Ready", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo3"),
    pytest.param(node("foo4", conds=[{"type": "Ready", "status": "False"}]), ["foo4", "NotReady", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo4"),
    pytest.param(node("foo5", conds=[{"type": "Ready", "status": "False"}], unsched=True), ["foo5", "NotReady,SchedulingDisabled", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo5"),
    pytest.param(node("foo6", conds=[{"type": "InvalidValue", "status": "True"}]), ["foo6", "Unknown", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo6"),
    pytest.param(node("foo7", conds=[{}]), ["foo7", "Unknown", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo7"),
    pytest.param(node("foo8", conds=[{"type": "InvalidValue", "status": "True"}], unsched=True), ["foo8", "Unknown,SchedulingDisabled", "<none>", "<unknown>", ""], id="TestPrintNodeStatus/foo8"),
    pytest.param(node("foo10", labels={"node-role.kubernetes.io/master": "", "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/proxy": "", "kubernetes.io/role": "node"}),
                 ["foo10", "Unknown", "control-plane,master,node,proxy", "<unknown>", ""], id="TestPrintNodeRole/foo10"),
    pytest.param(node("foo11", labels={"kubernetes.io/role": "node"}), ["foo11", "Unknown", "node", "<unknown>", ""], id="TestPrintNodeRole/foo11"),
    pytest.param(node("127.0.0.1"), ["127.0.0.1", "Unknown", "<none>", "<unknown>", ""], id="TestPrintNodeName/ip"),
]


@pytest.mark.parametrize("obj,want", NODES)
def test_node_cells(obj: dict, want: list) -> None:
    assert cells("nodes", obj) == want


@pytest.mark.parametrize(
    "obj,want",
    [
        pytest.param(node("foo1", info={"osImage": "fake-os-image"}, addresses=[{"type": "ExternalIP", "address": "1.1.1.1"}]),
                     ["foo1", "Unknown", "<none>", "<unknown>", "", "<none>", "1.1.1.1", "fake-os-image", "<unknown>", "<unknown>"], id="TestPrintNodeOSImage/foo1"),
        pytest.param(node("foo2", info={"kernelVersion": "fake-kernel-version"}, addresses=[{"type": "ExternalIP", "address": "1.1.1.1"}]),
                     ["foo2", "Unknown", "<none>", "<unknown>", "", "<none>", "1.1.1.1", "<unknown>", "fake-kernel-version", "<unknown>"], id="TestPrintNodeKernelVersion/foo2"),
        pytest.param(node("foo1", info={"containerRuntimeVersion": "foo://1.2.3"}, addresses=[{"type": "ExternalIP", "address": "1.1.1.1"}]),
                     ["foo1", "Unknown", "<none>", "<unknown>", "", "<none>", "1.1.1.1", "<unknown>", "<unknown>", "foo://1.2.3"], id="TestPrintNodeContainerRuntimeVersion/foo1"),
        pytest.param(node("foo3", addresses=[{"type": "ExternalIP", "address": "2.2.2.2"}, {"type": "InternalIP", "address": "3.3.3.3"}, {"type": "ExternalIP", "address": "4.4.4.4"}]),
                     ["foo3", "Unknown", "<none>", "<unknown>", "", "3.3.3.3", "2.2.2.2", "<unknown>", "<unknown>", "<unknown>"], id="TestPrintNodeExternalIP/foo3"),
        pytest.param(node("foo3", addresses=[{"type": "InternalIP", "address": "2.2.2.2"}, {"type": "ExternalIP", "address": "3.3.3.3"}, {"type": "InternalIP", "address": "4.4.4.4"}]),
                     ["foo3", "Unknown", "<none>", "<unknown>", "", "2.2.2.2", "3.3.3.3", "<unknown>", "<unknown>", "<unknown>"], id="TestPrintNodeInternalIP/foo3"),
    ],
)
def test_node_wide_cells(obj: dict, want: list) -> None:
    assert cells("nodes", obj, wide=True) == want


# --------------------------------------------------------------------------------------------
# Namespaces, Deployments, ReplicaSets, Events


@pytest.mark.parametrize(
    "obj,want",
    [
        pytest.param({"metadata": {"name": "namespace1", "creationTimestamp": ago(seconds=-1.9)}, "status": {"phase": "FooStatus"}},
                     ["namespace1", "FooStatus", "0s"], id="TestPrintNamespace/with-status"),
        pytest.param({"metadata": {"name": "namespace2"}}, ["namespace2", "", "<unknown>"], id="TestPrintNamespace/without"),
    ],
)
def test_namespace_cells(obj: dict, want: list) -> None:
    assert cells("namespaces", obj) == want


DEPLOY = {
    "metadata": {"name": "test1", "creationTimestamp": ago(seconds=-1.9)},
    "spec": {
        "replicas": 5,
        "template": {"spec": {"containers": [{"name": "fake-container1", "image": "fake-image1"}, {"name": "fake-container2", "image": "fake-image2"}]}},
        "selector": {"matchLabels": {"foo": "bar"}},
    },
    "status": {"replicas": 10, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 4},
}


def test_deployment_cells_upstream() -> None:
    # printers_test.go TestPrintDeployment
    assert cells("deployments", DEPLOY) == ["test1", "0/5", 2, 1, "0s"]
    assert cells("deployments", DEPLOY, wide=True) == ["test1", "0/5", 2, 1, "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"]


def test_replicaset_cells_upstream() -> None:
    # printers_test.go TestPrintReplicaSet
    rs = {
        "metadata": {"name": "test1", "creationTimestamp": ago(seconds=-1.9)},
        "spec": DEPLOY["spec"],
        "status": {"replicas": 5, "readyReplicas": 2},
    }
    assert cells("replicasets", rs) == ["test1", 5, 5, 2, "0s"]
    assert cells("replicasets", rs, wide=True) == ["test1", 5, 5, 2, "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"]


def event(**kw) -> dict:
    base = {
        "metadata": {"name": kw.pop("name", "event1")},
        "involvedObject": {"kind": kw.pop("kind", "Deployment"), "name": kw.pop("obj", "Deployment Name"), "fieldPath": "spec.containers{foo}"},
        "reason": "Event Reason",
        "message": "Message Data",
        "type": kw.pop("type", "Warning"),
    }
    base.update(kw)
    return base


EVENTS = [
    pytest.param(event(kind="Pod", obj="Pod Name", type="Normal", source={"component": "kubelet"}, firstTimestamp=ago(days=3), lastTimestamp=ago(days=2), count=6), False,
                 ["2d", "Normal", "Event Reason", "pod/Pod Name", "Message Data"], id="TestPrintEvent/basic"),
    pytest.param(event(name="event2", source={"component": "kubelet", "host": "Node1"}, firstTimestamp=ago(days=3), lastTimestamp=ago(days=2), count=6), True,
                 ["2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 6, "event2"], id="TestPrintEvent/wide"),
    pytest.param(event(name="event3", source={"component": "kubelet", "host": "Node1"}, eventTime=ago(days=3), lastTimestamp=ago(days=3), count=1), True,
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 1, "event3"], id="TestPrintEvent/no-first-timestamp"),
    pytest.param(event(name="event4", source={"component": "kubelet", "host": "Node1"}, eventTime=ago(days=3), firstTimestamp=ago(days=3), count=1), True,
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 1, "event4"], id="TestPrintEvent/no-last-timestamp"),
    pytest.param(event(name="event5", source={"component": "kubelet", "host": "Node1"}, eventTime=ago(days=3), count=1), True,
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 1, "event5"], id="TestPrintEvent/no-timestamps"),
    pytest.param(event(name="event6", source={"component": "kubelet", "host": "Node1"}, eventTime=ago(days=3), series={"count": 2, "lastObservedTime": ago(days=2)}), True,
                 ["2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 2, "event6"], id="TestPrintEvent/series"),
    pytest.param(event(name="event7", source={"component": "kubelet", "host": "Node1"}, eventTime=ago(days=3)), True,
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d", 1, "event7"], id="TestPrintEvent/singleton"),
    pytest.param(event(name="event2", reportingController="kubelet", reportingInstance="test", firstTimestamp=ago(days=3), lastTimestamp=ago(days=2), count=6), True,
                 ["2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, test", "Message Data", "3d", 6, "event2"], id="TestPrintEvent/reporting-controller"),
]


@pytest.mark.parametrize("obj,wide,want", EVENTS)
def test_event_cells(obj: dict, wide: bool, want: list) -> None:
    assert cells("events", obj, wide=wide) == want


# --------------------------------------------------------------------------------------------
# the Table envelope


def test_table_envelope_columns_rows_and_partial_metadata() -> None:
    s = svc("web", "ClusterIP", ports=[TCP80], created=ago(seconds=5), selector={"app": "web"})
    s["metadata"].update({"namespace": "default", "uid": "u1", "resourceVersion": "42", "labels": {"app": "web"}})
    t = to_table(by_name("services"), [s], resource_version="43", continue_="tok", now=NOW)
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "43", "continue": "tok"}
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 0, 0, 1]
    assert t["columnDefinitions"][0]["format"] == "name"
    assert set(t["columnDefinitions"][1]) == {"name", "type", "format", "description", "priority"}
    row = t["rows"][0]
    assert row["cells"] == ["web", "ClusterIP", "10.9.8.7", "<none>", "80/TCP", "5s", "app=web"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": s["metadata"]}
    assert row["object"]["metadata"] is not s["metadata"]


def test_table_include_object_modes() -> None:
    s = svc("web", "ClusterIP", ports=[TCP80])
    rt = by_name("services")
    assert to_table(rt, [s], include_object="Object", now=NOW)["rows"][0]["object"]["kind"] == "Service"
    assert to_table(rt, [s], include_object="None", now=NOW)["rows"][0]["object"] is None
    with pytest.raises(ValueError, match="unrecognized includeObject"):
        to_table(rt, [s], include_object="Bogus")


def test_table_empty_list_keeps_columns_and_no_headers_drops_them() -> None:
    rt = by_name("pods")
    assert len(to_table(rt, [], resource_version="7")["columnDefinitions"]) == 9
    assert to_table(rt, [], resource_version="7")["rows"] == []
    assert to_table(rt, [], no_headers=True)["columnDefinitions"] == []
    assert to_table(rt, [])["metadata"] == {}


def test_table_not_wide_drops_priority_columns_and_cells() -> None:
    t = to_table(by_name("pods"), [pod("p", phase="Running")], wide=False, now=NOW)
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert t["rows"][0]["cells"] == ["p", "0/1", "Running", "0", "<unknown>"]


def test_table_pod_conditions_on_finished_pods() -> None:
    t = to_table(by_name("pods"), [pod("done", phase="Succeeded")], now=NOW)
    assert t["rows"][0]["conditions"] == SUCCESS
    assert "conditions" not in to_table(by_name("pods"), [pod("run", phase="Running")], now=NOW)["rows"][0]


def test_table_default_columns_for_unprinted_resource() -> None:
    t = to_table("widgets", [{"metadata": {"name": "w", "creationTimestamp": ago(hours=5, minutes=3)}}], now=NOW)  # type: ignore[arg-type]
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Age"]
    assert t["rows"][0]["cells"] == ["w", "5h3m"]


def test_table_column_definitions_per_resource() -> None:
    names = {
        "endpointslices": ["Name", "AddressType", "Ports", "Endpoints", "Age"],
        "endpoints": ["Name", "Endpoints", "Age"],
        "nodes": ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
        "namespaces": ["Name", "Status", "Age"],
        "deployments": ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
        "replicasets": ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
        "events": ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"],
        "pods": ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"],
    }
    for resource, want in names.items():
        assert [c["name"] for c in to_table(by_name(resource), [])["columnDefinitions"]] == want, resource


def test_table_row_for_watch_sends_columns_only_first() -> None:
    rt = by_name("services")
    s = svc("web", "ClusterIP", ports=[TCP80])
    s["metadata"]["resourceVersion"] = "9"
    first = table_row_for_watch(rt, {"type": "ADDED", "object": s}, first=True, now=NOW)
    later = table_row_for_watch(rt, {"type": "DELETED", "object": s}, first=False, now=NOW)
    assert first["type"] == "ADDED" and first["object"]["columnDefinitions"]
    assert later["type"] == "DELETED" and later["object"]["columnDefinitions"] == []
    assert later["object"]["rows"][0]["cells"][0] == "web"
    assert later["object"]["metadata"] == {"resourceVersion": "9"}
    bm = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "10"}}}
    assert table_row_for_watch(rt, bm) is bm
