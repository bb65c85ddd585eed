"""kubectl's JSONPath templates: the outputs below are what kubectl 1.33 prints for the same
object (checked against it live in tests/e2e/test_kubectl.py)."""

from __future__ import annotations

import pytest

from svcnet.cli.jsonpath import JSONPathError, render

SVC = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "echo-lb", "namespace": "default", "labels": {"app": "echo", "tier": "web"}},
    "spec": {"type": "LoadBalancer", "selector": {"app": "echo"}, "allocateLoadBalancerNodePorts": True,
             "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP", "nodePort": 32388},
                       {"name": "admin", "port": 9090, "protocol": "TCP", "nodePort": 32389}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1", "ipMode": "VIP"}]}},
}
LIST = {"apiVersion": "v1", "kind": "List", "items": [
    {"kind": "Service", "metadata": {"name": "echo"}, "spec": {"type": "ClusterIP", "ports": [{"port": 8080}]}},
    {"kind": "Service", "metadata": {"name": "echo-np"}, "spec": {"type": "NodePort", "ports": [{"port": 8080, "nodePort": 30080}]}},
    {"kind": "Service", "metadata": {"name": "kubernetes"}, "spec": {"type": "ClusterIP", "ports": [{"port": 443}]}},
]}


@pytest.mark.parametrize(
    "template, data, want",
    [
        ("{.status.loadBalancer.ingress[0].ip}", SVC, "127.240.0.1"),
        ("{.metadata.name}", SVC, "echo-lb"),
        ("name={.metadata.name} ns={.metadata.namespace}", SVC, "name=echo-lb ns=default"),
        ("{.spec.ports[*].port}", SVC, "8080 9090"),
        ("{.spec.ports[-1].name}", SVC, "admin"),
        ("{.spec.ports[0].port}{.spec.ports[0].nodePort}", SVC, "808032388"),
        ("{.metadata.labels['app']}", SVC, "echo"),
        ('{.metadata.labels["tier"]}', SVC, "web"),
        ("{.metadata.labels}", SVC, '{"app":"echo","tier":"web"}'),
        ("{.spec.ports[1]}", SVC, '{"name":"admin","nodePort":32389,"port":9090,"protocol":"TCP"}'),
        ("{.spec.allocateLoadBalancerNodePorts}", SVC, "true"),
        ("{$.kind}", SVC, "Service"),
        ("{.missing.field}", SVC, ""),
        ("{..name}", SVC, "echo-lb http admin"),
        ("{..ip}", SVC, "127.240.0.1"),
        ('{"a\\tb\\n"}', SVC, "a\tb\n"),
        ("{.a}}", SVC, "}"),
        ("{.items[*].metadata.name}", LIST, "echo echo-np kubernetes"),
        ("{.items[1:].metadata.name}", LIST, "echo-np kubernetes"),
        ("{.items[-1:].metadata.name}", LIST, "kubernetes"),
        ("{.items[0:2].spec.type}", LIST, "ClusterIP NodePort"),
        ('{range .items[*]}{.metadata.name}{"\\t"}{.spec.type}{"\\n"}{end}', LIST, "echo\tClusterIP\necho-np\tNodePort\nkubernetes\tClusterIP\n"),
        ("{range .items[*]}[{.metadata.name}]{end}", LIST, "[echo][echo-np][kubernetes]"),
        ('{.items[?(@.spec.type=="NodePort")].spec.ports[0].nodePort}', LIST, "30080"),
        ('{.items[?(@.metadata.name!="kubernetes")].metadata.name}', LIST, "echo echo-np"),
        ("{.items[?(@.spec.ports[0].port>1000)].metadata.name}", LIST, "echo echo-np"),
        ("{.items[?(@.spec.ports[0].nodePort)].metadata.name}", LIST, "echo-np"),
        ("{.items[*].spec.ports[0].nodePort}", LIST, "30080"),
        ("{.items[::2].metadata.name}", LIST, "echo kubernetes"),
        ('{.items[?(@.spec.ports[0].nodePort!=1)].metadata.name}', LIST, "echo-np"),  # items without the field are skipped
        ("{.metadata.labels.app\\.kubernetes\\.io/name}", {"metadata": {"labels": {"app.kubernetes.io/name": "web"}}}, "web"),
    ],
)
def test_render(template, data, want):
    assert render(template, data) == want


@pytest.mark.parametrize(
    "template, error",
    [
        ("{.items[", "unclosed action"),
        ("{.items[x]}", "invalid array index x"),
        ("{.items[1:x]}", "invalid array index 1:x"),
        ("{.items[::0]}", "invalid array index ::0"),
        ("{end}", "not in range, nothing to end"),
        ("{foo}", "unrecognized identifier foo"),
        ("{.items[?(@.a ~ 1)]}", "unrecognized character"),
    ],
)
def test_render_errors(template, error):
    with pytest.raises(JSONPathError) as e:
        render(template, SVC)
    assert str(e.value).startswith(error)
