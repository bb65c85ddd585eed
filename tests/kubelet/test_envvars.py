"""Container environment: upstream envvars/expansion vectors, visibility rules, downward API."""

import pytest

from svcnet.kubelet.envvars import (
    EnvError,
    container_env,
    expand,
    expand_command,
    from_services,
    mapping_func_for,
    service_env_map,
    visible_services,
)


def svc(name, ip, ports, ns="default", typ="ClusterIP"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"type": typ, "clusterIP": ip, "ports": ports}}


# Ported from kubernetes pkg/kubelet/envvars/envvars_test.go TestFromServices.
UPSTREAM_SERVICES = [
    svc("foo-bar", "1.2.3.4", [{"port": 8080, "protocol": "TCP"}]),
    svc("abc-123", "5.6.7.8", [{"name": "u-d-p", "port": 8081, "protocol": "UDP"}, {"name": "t-c-p", "port": 8081, "protocol": "TCP"}]),
    svc("q-u-u-x", "9.8.7.6", [{"port": 8082, "protocol": "TCP"}, {"name": "8083", "port": 8083, "protocol": "TCP"}]),
    svc("svrc-clusterip-none", "None", [{"port": 8082, "protocol": "TCP"}]),
    svc("svrc-clusterip-empty", "", [{"port": 8082, "protocol": "TCP"}]),
    svc("super-ipv6", "2001:DB8::", [{"name": "u-d-p", "port": 8084, "protocol": "UDP"}, {"name": "t-c-p", "port": 8084, "protocol": "TCP"}]),
    svc("sctp-1", "1.2.3.4", [{"port": 777, "protocol": "SCTP"}]),
]
UPSTREAM_EXPECTED = [
    ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
    ("FOO_BAR_SERVICE_PORT", "8080"),
    ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
    ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
    ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
    ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
    ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
    ("ABC_123_SERVICE_HOST", "5.6.7.8"),
    ("ABC_123_SERVICE_PORT", "8081"),
    ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
    ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
    ("ABC_123_PORT", "udp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
    ("ABC_123_PORT_8081_UDP_PORT", "8081"),
    ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
    ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
    ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
    ("ABC_123_PORT_8081_TCP_PORT", "8081"),
    ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
    ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
    ("Q_U_U_X_SERVICE_PORT", "8082"),
    ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
    ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
    ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
    ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
    ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
    ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
    ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
    ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
    ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
    ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
    ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
    ("SUPER_IPV6_SERVICE_PORT", "8084"),
    ("SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"),
    ("SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"),
    ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"),
    ("SUPER_IPV6_PORT_8084_UDP_PORT", "8084"),
    ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
    ("SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"),
    ("SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"),
    ("SUPER_IPV6_PORT_8084_TCP_PORT", "8084"),
    ("SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"),
    ("SCTP_1_SERVICE_HOST", "1.2.3.4"),
    ("SCTP_1_SERVICE_PORT", "777"),
    ("SCTP_1_PORT", "sctp://1.2.3.4:777"),
    ("SCTP_1_PORT_777_SCTP", "sctp://1.2.3.4:777"),
    ("SCTP_1_PORT_777_SCTP_PROTO", "sctp"),
    ("SCTP_1_PORT_777_SCTP_PORT", "777"),
    ("SCTP_1_PORT_777_SCTP_ADDR", "1.2.3.4"),
]


def test_from_services_upstream_vector():
    # upstream: pkg/kubelet/envvars/envvars_test.go TestFromServices (exact order)
    assert from_services(UPSTREAM_SERVICES) == UPSTREAM_EXPECTED


def test_from_services_skips_externalname_even_with_cluster_ip():
    assert from_services([svc("ext", "10.0.0.9", [{"port": 80}], typ="ExternalName")]) == []


def test_from_services_defaults_protocol_tcp():
    assert ("A_PORT", "tcp://10.0.0.1:80") in from_services([svc("a", "10.0.0.1", [{"port": 80}])])


VIS = [
    svc("kubernetes", "10.96.0.1", [{"name": "https", "port": 443}], ns="default"),
    svc("web", "10.96.0.10", [{"port": 80}], ns="shop"),
    svc("db", "None", [{"port": 5432}], ns="shop"),
    svc("ext", "", [{"port": 80}], ns="shop", typ="ExternalName"),
    svc("other", "10.96.0.11", [{"port": 81}], ns="elsewhere"),
]


@pytest.mark.parametrize(
    "namespace, links, names",
    [
        pytest.param("shop", True, ["kubernetes", "web"], id="own-namespace-plus-kubernetes"),
        pytest.param("shop", False, ["kubernetes"], id="enableServiceLinks-false-keeps-kubernetes"),
        pytest.param("default", True, ["kubernetes"], id="default-namespace"),
        pytest.param("elsewhere", True, ["kubernetes", "other"], id="other-namespace"),
    ],
)
def test_visible_services_table(namespace, links, names):
    got = [s["metadata"]["name"] for s in visible_services(VIS, namespace, links)]
    assert got == names


def test_visible_services_own_kubernetes_service_wins_when_linked():
    own = svc("kubernetes", "10.96.9.9", [{"port": 1}], ns="shop")
    assert service_env_map(VIS + [own], "shop")["KUBERNETES_SERVICE_HOST"] == "10.96.9.9"
    assert service_env_map(VIS + [own], "shop", False)["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_service_env_map_kubernetes_https():
    env = service_env_map(VIS, "shop")
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == "10.96.0.1"
    assert env["WEB_SERVICE_HOST"] == "10.96.0.10"
    assert "DB_SERVICE_HOST" not in env and "EXT_SERVICE_HOST" not in env


# Ported from kubernetes third_party/forked/golang/expansion/expand_test.go doExpansionTest.
EXPANSION_CASES = [
    ("whole string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("backslash escape ignored 2", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
    ("value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
    ("unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
    ("bare operators are ignored", "$VAR_A", "$VAR_A"),
    ("undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"),
    ("multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"),
    ("missing open expression", "$VAR_A)", "$VAR_A)"),
    ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
    ("trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"),
    ("trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("),
    ("operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
    ("lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("),
    ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
    ("escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"),
    ("newline not expanded", "\n", "\n"),
]


@pytest.mark.parametrize("name, text, want", [pytest.param(*c, id=c[0]) for c in EXPANSION_CASES])
def test_expand_upstream_vectors_single_context(name, text, want):
    # upstream TestMapping
    m = mapping_func_for({"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""})
    assert expand(text, m) == want


@pytest.mark.parametrize("name, text, want", [pytest.param(*c, id=c[0]) for c in EXPANSION_CASES])
def test_expand_upstream_vectors_dual_context(name, text, want):
    # upstream TestMappingDual
    m = mapping_func_for({"VAR_A": "A", "VAR_EMPTY": ""}, {"VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)"})
    assert expand(text, m) == want


def test_expand_map_reference_chain():
    # upstream TestMapReference: declared variables see the ones declared before them
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}}
    c = {"env": [{"name": "FOO", "value": "bar"}, {"name": "ZOO", "value": "$(FOO)-1"}, {"name": "BLU", "value": "$(ZOO)-2"}]}
    env = container_env(pod, c, pod_ip="127.244.1.5", host_ip="127.0.0.1")
    assert (env["FOO"], env["ZOO"], env["BLU"]) == ("bar", "bar-1", "bar-1-2")


POD = {
    "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"}, "annotations": {"a/b": "c"}},
    "spec": {"nodeName": "node-1", "serviceAccountName": "sa"},
}


@pytest.mark.parametrize(
    "field_path, want",
    [
        ("metadata.name", "web-0"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['app']", "web"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['a/b']", "c"),
        ("spec.nodeName", "node-1"),
        ("spec.serviceAccountName", "sa"),
        ("status.podIP", "127.244.1.5"),
        ("status.podIPs", "127.244.1.5"),
        ("status.hostIP", "127.0.0.1"),
    ],
)
def test_container_env_field_ref_table(field_path, want):
    c = {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": field_path}}}]}
    assert container_env(POD, c, pod_ip="127.244.1.5", host_ip="127.0.0.1")["X"] == want


def test_container_env_svcnet_additions_and_precedence():
    c = {"env": [{"name": "URL", "value": "http://$(POD_IP):8080/$(WEB_SERVICE_HOST)"}, {"name": "NODE_NAME", "value": "mine"}]}
    env = container_env(POD, c, pod_ip="127.244.1.5", host_ip="127.0.0.1", services=VIS)
    assert env["POD_IP"] == "127.244.1.5"
    assert env["POD_NAME"] == env["HOSTNAME"] == "web-0"
    assert env["POD_NAMESPACE"] == "shop"
    assert env["NODE_NAME"] == "mine"  # declared beats the additions
    assert env["URL"] == "http://127.244.1.5:8080/10.96.0.10"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_container_env_declared_beats_service_vars():
    c = {"env": [{"name": "WEB_SERVICE_HOST", "value": "override"}]}
    assert container_env(POD, c, pod_ip="1", host_ip="2", services=VIS)["WEB_SERVICE_HOST"] == "override"


def test_container_env_hostname_from_spec():
    pod = {"metadata": {"name": "p"}, "spec": {"hostname": "custom"}}
    assert container_env(pod, {}, pod_ip="1", host_ip="2")["HOSTNAME"] == "custom"


def test_container_env_enable_service_links_false():
    pod = {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"enableServiceLinks": False}}
    env = container_env(pod, {}, pod_ip="1", host_ip="2", services=VIS)
    assert "WEB_SERVICE_HOST" not in env and env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


@pytest.mark.parametrize(
    "container",
    [
        pytest.param({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}, id="configmap"),
        pytest.param({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}, id="secret"),
        pytest.param({"envFrom": [{"configMapRef": {"name": "cm"}}]}, id="envFrom"),
        pytest.param({"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}, id="bad-fieldpath"),
    ],
)
def test_container_env_errors(container):
    with pytest.raises(EnvError):
        container_env(POD, container, pod_ip="1", host_ip="2")


def test_container_env_optional_refs_are_skipped():
    c = {
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": True}}}],
        "envFrom": [{"secretRef": {"name": "s", "optional": True}}],
    }
    assert "X" not in container_env(POD, c, pod_ip="1", host_ip="2")


def test_expand_command_uses_final_env():
    assert expand_command(["--bind", "$(POD_IP)", "$(NOPE)", "$$(POD_IP)"], {"POD_IP": "127.244.1.5"}) == [
        "--bind",
        "127.244.1.5",
        "$(NOPE)",
        "$(POD_IP)",
    ]
