"""``svcnet describe`` against the in-process API, in kubectl's layout (k8s.io/kubectl/pkg/describe).

The service and EndpointSlice layouts were compared with kubectl 1.33's ``describe`` of the same
objects (including the tabwriter quirks: a line without a tab ends an alignment block).
"""

from __future__ import annotations

import datetime as dt
import io

from svcnet.cli.cmd_describe import describe_endpointslice, describe_service, format_endpoint_slices, run_describe
from svcnet.client.inprocess import local_client

NOW = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.timezone.utc)


def ts(**kw) -> str:
    return (NOW - dt.timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def describe(client, *args, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    kw.setdefault("now", NOW)
    rc = await run_describe(client, list(args), out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


def endpoint(ip: str, ready: bool | None = True, **kw) -> dict:
    ep: dict = {"addresses": [ip], **kw}
    if ready is not None:
        ep["conditions"] = {"ready": ready}
    return ep


async def web_service(client) -> dict:
    await client.create("services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "hello", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090, "targetPort": "metrics"}]},
    })
    await client.create("endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9100, "protocol": "TCP"}],
        "endpoints": [endpoint("10.244.1.1"), endpoint("10.244.1.2"), endpoint("10.244.1.3", None), endpoint("10.244.1.4", False), endpoint("10.244.1.5")],
    })
    return await client.get("services", "web")


async def test_describe_service_layout_with_endpoints_and_events() -> None:
    c = local_client()
    svc = await web_service(c)
    await c.create("events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Service", "name": "web", "namespace": "default", "uid": svc["metadata"]["uid"]},
        "type": "Normal", "reason": "EnsuringLoadBalancer", "message": "Ensuring load balancer ", "source": {"component": "service-controller"},
        "firstTimestamp": ts(minutes=10), "lastTimestamp": ts(minutes=2), "count": 3,
    })
    await c.create("events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "other.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"}, "type": "Warning", "reason": "Nope", "message": "not ours",
        "firstTimestamp": ts(minutes=1),
    })
    ip = svc["spec"]["clusterIP"]
    rc, out, err = await describe(c, "svc", "web")
    assert (rc, err) == (0, "")
    assert out == (
        "Name:                     web\n"
        "Namespace:                default\n"
        "Labels:                   app=web\n"
        "                          tier=front\n"
        "Annotations:              note: hello\n"
        "Selector:                 app=web\n"
        "Type:                     ClusterIP\n"
        "IP Family Policy:         SingleStack\n"
        "IP Families:              IPv4\n"
        f"IP:                       {ip}\n"
        f"IPs:                      {ip}\n"
        "Port:                     http  80/TCP\n"
        "TargetPort:               8080/TCP\n"
        "Endpoints:                10.244.1.1:8080,10.244.1.2:8080,10.244.1.3:8080 + 1 more...\n"
        "Port:                     metrics  9090/TCP\n"
        "TargetPort:               metrics/TCP\n"
        "Endpoints:                10.244.1.1:9100,10.244.1.2:9100,10.244.1.3:9100 + 1 more...\n"
        "Session Affinity:         None\n"
        "Internal Traffic Policy:  Cluster\n"
        "Events:\n"
        "  Type    Reason                Age               From                Message\n"
        "  ----    ------                ----              ----                -------\n"
        "  Normal  EnsuringLoadBalancer  2m (x3 over 10m)  service-controller  Ensuring load balancer\n"
    )


async def test_describe_service_load_balancer_and_node_ports() -> None:
    c = local_client()
    await c.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "externalIPs": ["192.0.2.10"], "ports": [{"port": 443, "protocol": "TCP"}]},
    })
    svc = await c.get("services", "lb")
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.5", "ipMode": "VIP"}, {"hostname": "lb.example.com"}]}}
    svc = await c.update_status("services", svc)
    np_ = svc["spec"]["ports"][0]["nodePort"]
    hc = svc["spec"]["healthCheckNodePort"]
    ip = svc["spec"]["clusterIP"]
    rc, out, _ = await describe(c, "service/lb", show_events=False)
    assert out == (
        "Name:                     lb\n"
        "Namespace:                default\n"
        "Labels:                   <none>\n"
        "Annotations:              <none>\n"
        "Selector:                 <none>\n"
        "Type:                     LoadBalancer\n"
        "IP Family Policy:         SingleStack\n"
        "IP Families:              IPv4\n"
        f"IP:                       {ip}\n"
        f"IPs:                      {ip}\n"
        "External IPs:             192.0.2.10\n"
        "LoadBalancer Ingress:     203.0.113.5 (VIP), lb.example.com\n"
        "Port:                     <unset>  443/TCP\n"
        "TargetPort:               443/TCP\n"
        f"NodePort:                 <unset>  {np_}/TCP\n"
        "Endpoints:                <none>\n"
        "Session Affinity:         None\n"
        "External Traffic Policy:  Local\n"
        "Internal Traffic Policy:  Cluster\n"
        f"HealthCheck NodePort:     {hc}\n"
    )


def test_format_endpoint_slices_rules() -> None:
    slices = [{"ports": [{"name": "http", "port": 80}], "endpoints": [endpoint("fd00::1"), endpoint("10.0.0.1", False)]}]
    assert format_endpoint_slices([], "http") == "<none>"
    assert format_endpoint_slices(slices, "http") == "[fd00::1]:80"
    assert format_endpoint_slices(slices, "other") == ""
    headless = [{"endpoints": [endpoint(f"10.0.0.{i}") for i in range(5)]}]
    assert format_endpoint_slices(headless, "") == "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more..."


async def test_describe_prefix_match_several_names_and_errors() -> None:
    c = local_client()
    await web_service(c)
    rc, out, _ = await describe(c, "svc", "kube", show_events=False)
    assert rc == 0 and out.startswith("Name:                     kubernetes\n") and out.endswith("Session Affinity:         None\nInternal Traffic Policy:  Cluster\n\n")
    rc, out, err = await describe(c, "svc", "web", "kubernetes", "nope")
    assert rc == 1 and err == 'Error from server (NotFound): services "nope" not found\n'
    parts = out.split("\n\n\n")
    assert [p.splitlines()[0] for p in parts] == ["Name:                     web", "Name:                     kubernetes"]
    assert out.endswith("Events:                   <none>\n")
    assert await describe(c, "svc", "zzz") == (1, "", 'Error from server (NotFound): services "zzz" not found\n')
    assert await describe(c, "pods") == (0, "", "No resources found in default namespace.\n")
    rc, out, _ = await describe(c, "svc", selector="app=web", show_events=False)
    assert out.splitlines()[0] == "Name:                     web"


def test_describe_endpointslice_layout_like_kubectl() -> None:
    es = {
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice.reconciler.svcnet.io", "kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "ports": [{"name": "https", "port": 38413, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }
    assert describe_endpointslice(es, []) == (
        "Name:         kubernetes\n"
        "Namespace:    default\n"
        "Labels:       endpointslice.kubernetes.io/managed-by=endpointslice.reconciler.svcnet.io\n"
        "              kubernetes.io/service-name=kubernetes\n"
        "Annotations:  <none>\n"
        "AddressType:  IPv4\n"
        "Ports:\n"
        "  Name   Port   Protocol\n"
        "  ----   ----   --------\n"
        "  https  38413  TCP\n"
        "Endpoints:\n"
        "  - Addresses:  127.0.0.1\n"
        "    Conditions:\n"
        "      Ready:   true\n"
        "    Hostname:  <unset>\n"
        "    NodeName:  <unset>\n"
        "    Zone:      <unset>\n"
        "Events:        <none>\n"
    )
    empty = {"metadata": {"name": "e", "namespace": "default"}, "addressType": "IPv6"}
    assert describe_endpointslice(empty, None).endswith("AddressType:  IPv6\nPorts: <unset>\nEndpoints: <none>\n")


def test_describe_service_long_and_multiline_annotations() -> None:
    long = "x" * 150
    svc = {"metadata": {"name": "s", "namespace": "n", "annotations": {"a": "short", "b": long, "c": "one\ntwo\n"}}, "spec": {"type": "ClusterIP"}}
    out = describe_service(svc, [], None)
    assert "Annotations:       a: short\n                   b:\n                     " + "x" * 138 + "...\n" in out
    assert "                   c:\n                     one\n                     two\n" in out
    assert "IPs:               <none>\n" in out and "IP Families:       <none>\n" in out


async def test_describe_pod_and_generic() -> None:
    c = local_client()
    await c.create("pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [{"name": "A", "value": "1"}]}]},
    })
    rc, out, _ = await describe(c, "pod", "p")
    assert rc == 0
    # the same layout kubectl 1.33 prints for this pod (checked side by side)
    assert out == (
        "Name:         p\nNamespace:    default\nNode:         <none>\nLabels:       app=web\nAnnotations:  <none>\nStatus:       Pending\n"
        "IP:           \nIPs:          <none>\nContainers:\n  app:\n    Image:      nginx\n    Port:       80/TCP\n    Host Port:  0/TCP\n"
        "    Environment:\n      A:         1\n    Mounts:      <none>\nVolumes:         <none>\nQoS Class:       BestEffort\n"
        "Node-Selectors:  <none>\nTolerations:     <none>\nEvents:          <none>\n"
    )
    rc, out, _ = await describe(c, "ns", "default")
    assert out == "Name:         default\nLabels:       kubernetes.io/metadata.name=default\nAnnotations:  <none>\nStatus:       Active\n"
    await c.create("deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}}}})
    rc, out, _ = await describe(c, "deploy", "d", show_events=False)
    assert "API Version:  apps/v1\n" in out and "Kind:         Deployment\n" in out and "\n  Replicas:" in out
