"""Unknown-field detection and pruning (svcnet.apiserver.fieldvalidation), as tables."""

from __future__ import annotations

import pytest

from svcnet.apiserver.fieldvalidation import SCHEMAS, check_body, check_patch, parse_directive, prune, unknown_fields

SERVICE = SCHEMAS["services"]

CASES = [
    pytest.param({"spec": {"ports": [{"port": 80}]}}, [], id="clean"),
    pytest.param({"spec": {"selector": {"anything": "goes"}}}, [], id="maps-are-open"),
    pytest.param({"spec": {"ports": [{"port": 80}, {"port": 81, "x": 1}]}}, ["spec.ports[1].x"], id="list-item"),
    pytest.param({"foo": 1, "metadata": {"name": "a", "labelz": {}}}, ["foo", "metadata.labelz"], id="top-and-metadata"),
    pytest.param({"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 1, "t": 2}}}}, ["spec.sessionAffinityConfig.clientIP.t"], id="nested"),
    pytest.param({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4", "ipMode": "VIP", "ports": [{"port": 1, "protocol": "TCP", "err": ""}]}]}}},
                 ["status.loadBalancer.ingress[0].ports[0].err"], id="status"),
    pytest.param({"metadata": {"ownerReferences": [{"kind": "X", "controller": True, "foo": 1}]}}, ["metadata.ownerReferences[0].foo"], id="owner-references"),
]


@pytest.mark.parametrize(("obj", "want"), CASES)
def test_unknown_fields_service(obj, want):
    assert unknown_fields(obj, SERVICE) == want


def test_unknown_fields_endpointslice_and_endpoints():
    es = {"addressType": "IPv4", "endpoints": [{"addresses": ["1.2.3.4"], "conditions": {"ready": True, "x": 1}, "hints": {"forZones": [{"name": "a"}]}}],
          "ports": [{"port": 1, "nope": 2}]}
    assert unknown_fields(es, SCHEMAS["endpointslices"]) == ["endpoints[0].conditions.x", "ports[0].nope"]
    ep = {"subsets": [{"addresses": [{"ip": "1.2.3.4", "targetRef": {"kind": "Pod", "bad": 1}}], "notReadyAddresses": [{"ipp": "x"}]}]}
    assert unknown_fields(ep, SCHEMAS["endpoints"]) == ["subsets[0].addresses[0].targetRef.bad", "subsets[0].notReadyAddresses[0].ipp"]


def test_pods_are_checked_only_at_the_top():
    assert unknown_fields({"spec": {"anything": 1}, "extra": 2}, SCHEMAS["pods"]) == ["extra"]


def test_prune_drops_unknown_fields_and_keeps_the_input():
    obj = {"spec": {"foo": 1, "ports": [{"port": 80, "bar": 2}], "selector": {"a": "b"}}}
    assert prune(obj, SERVICE) == {"spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    assert obj["spec"]["foo"] == 1


def test_patch_directives_are_not_fields():
    patch = {"spec": {"$setElementOrder/ports": [{"port": 1}], "ports": [{"$patch": "delete", "port": 2}, {"port": 3, "zz": 1}]}}
    assert unknown_fields(patch, SERVICE, patch=True) == ["spec.ports[1].zz"]
    pruned, warnings, err = check_patch("services", patch, "Warn")
    assert err is None and warnings == ['unknown field "spec.ports[1].zz"']
    assert pruned["spec"]["ports"] == [{"$patch": "delete", "port": 2}, {"port": 3}]
    assert check_patch("services", [{"op": "add", "path": "/x", "value": 1}], "Strict")[2] is None  # JSON patch


def test_check_body_directives():
    body = {"spec": {"foo": 1}}
    assert check_body("services", "Service", "v1", body, "Strict")[2] == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo"'
    )
    assert check_body("services", "Service", "v1", body, "Warn")[:2] == ({"spec": {}}, ['unknown field "spec.foo"'])
    assert check_body("services", "Service", "v1", body, "Ignore")[:2] == ({"spec": {}}, [])
    assert check_body("events", "Event", "v1", {"whatever": 1}, "Strict") == ({"whatever": 1}, [], None)
    assert parse_directive(None) == "Warn" and parse_directive("Strict") == "Strict"
    with pytest.raises(ValueError):
        parse_directive("strict")
