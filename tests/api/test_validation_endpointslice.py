"""EndpointSlice and Endpoints validation (pkg/apis/discovery/validation, core ValidateEndpoints)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from svcnet.api.defaults import apply_defaults
from svcnet.api.validation import ValidationOptions, validate

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
STRICT = ValidationOptions(allow_loopback_endpoints=False)


def slice_(endpoints: list | None = None, *, ports: list | None = None, address_type: str = "IPv4", name: str = "web-abcde") -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": address_type,
        "endpoints": endpoints if endpoints is not None else [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}],
        "ports": ports if ports is not None else [{"name": "http", "port": 8080}],
    }
    return apply_defaults(obj)


def ep(addresses: list[str], **extra: Any) -> dict:
    return {"addresses": addresses, **extra}


def errs(obj: dict, old: dict | None = None, opts: ValidationOptions | None = None) -> list[str]:
    return [str(e) for e in validate(obj, old, opts=opts)]


CASES = [
    pytest.param(slice_(), None, [], id="valid slice"),
    pytest.param(slice_([], ports=[]), None, [], id="placeholder slice"),
    pytest.param(slice_(name="Web"), None, [f'metadata.name: Invalid value: "Web": {SUBDOMAIN}'], id="name subdomain"),
    pytest.param(slice_(address_type=""), None, ["addressType: Required value"], id="addressType required"),
    pytest.param(slice_(address_type="IP"), None, ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'], id="addressType unsupported"),
    pytest.param(slice_([ep([])]), None, ["endpoints[0].addresses: Required value: must contain at least 1 address"], id="addresses required"),
    pytest.param(slice_([ep([f"10.0.0.{i % 250 + 1}" for i in range(101)])]), None, ["endpoints[0].addresses: Too many: 101: must have at most 100 items"], id="addresses too many"),
    pytest.param(slice_([ep(["10.0.0.1"])] * 1001), None, ["endpoints: Too many: 1001: must have at most 1000 items"], id="endpoints too many"),
    pytest.param(slice_([ep(["10.0.0.1"])] * 1000), None, [], id="endpoints 1000"),
    pytest.param(
        slice_([ep(["fd00::1"])]), None,
        ['endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address'], id="IPv6 in IPv4 slice",
    ),
    pytest.param(
        slice_([ep(["garbage"])]), None,
        [
            'endpoints[0].addresses[0]: Invalid value: "garbage": must be a valid IPv4 address',
            'endpoints[0].addresses[0]: Invalid value: "garbage": must be a valid IP address',
        ],
        id="garbage address gets both errors",
    ),
    pytest.param(slice_([ep(["10.0.0.1"])], address_type="IPv6"), None, ['endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address'], id="IPv4 in IPv6 slice"),
    pytest.param(slice_([ep(["fd00::1"])], address_type="IPv6"), None, [], id="IPv6 slice"),
    pytest.param(slice_([ep(["169.254.1.1"])]), None, ['endpoints[0].addresses[0]: Invalid value: "169.254.1.1": may not be in the link-local range (169.254.0.0/16, fe80::/10)'], id="link-local"),
    pytest.param(slice_([ep(["0.0.0.0"])]), None, ['endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'], id="unspecified"),
    pytest.param(slice_([ep(["127.244.0.5"])]), STRICT, ['endpoints[0].addresses[0]: Invalid value: "127.244.0.5": may not be in the loopback range (127.0.0.0/8, ::1/128)'], id="loopback, upstream-strict"),
    pytest.param(slice_([ep(["127.244.0.5"])]), None, [], id="loopback allowed by default (local mode)"),
    pytest.param(slice_([ep(["db.example.com"])], address_type="FQDN"), None, [], id="FQDN"),
    pytest.param(slice_([ep(["example"])], address_type="FQDN"), None, ['endpoints[0].addresses[0]: Invalid value: "example": should be a domain with at least two segments separated by dots'], id="FQDN one label"),
    pytest.param(slice_([ep(["10.0.0.1"], nodeName="n_1")]), None, [f'endpoints[0].nodeName: Invalid value: "n_1": {SUBDOMAIN}'], id="nodeName"),
    pytest.param(slice_([ep(["10.0.0.1"], hostname="web.0")]), None, ['endpoints[0].hostname: Invalid value: "web.0": must not contain dots'], id="hostname"),
    pytest.param(slice_([ep(["10.0.0.1"], hostname="web-0", nodeName="n1", zone="z1", conditions={"ready": False, "serving": True, "terminating": True})]), None, [], id="full endpoint"),
    pytest.param(slice_([ep(["10.0.0.1"], hints={"forZones": [{"name": "z1"}, {"name": "z1"}]})]), None, ['endpoints[0].hints.forZones[1].name: Duplicate value: "z1"'], id="zone hints"),
    pytest.param(slice_(ports=[{"port": 80}, {"port": 81}]), None, ['ports[1].name: Duplicate value: ""'], id="two unnamed ports"),
    pytest.param(slice_(ports=[{"name": "HTTP", "port": 80}]), None, [f'ports[0].name: Invalid value: "HTTP": {DNS1123_LABEL}'], id="port name"),
    pytest.param(slice_(ports=[{"name": "a", "port": 80, "protocol": "HTTP"}]), None, ['ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'], id="port protocol"),
    pytest.param(slice_(ports=[{"name": "a", "port": 80, "appProtocol": "kubernetes.io/h2c"}]), None, [], id="appProtocol"),
    pytest.param(slice_(ports=[{"name": f"p{i}", "port": 80} for i in range(20001)]), None, ["ports: Too many: 20001: must have at most 20000 items"], id="ports too many"),
]


@pytest.mark.parametrize("obj,opts,expected", CASES)
def test_validate_endpoint_slice(obj: dict, opts: ValidationOptions | None, expected: list[str]) -> None:
    assert errs(obj, opts=opts) == expected


def test_validate_endpoint_slice_update_address_type_immutable() -> None:
    old = slice_()
    new = copy.deepcopy(old)
    new["addressType"] = "IPv6"
    new["endpoints"] = [ep(["fd00::1"])]
    assert errs(new, old) == ['addressType: Invalid value: "IPv6": field is immutable']


def endpoints(subsets: list) -> dict:
    return apply_defaults({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"}, "subsets": subsets})


ENDPOINTS_CASES = [
    pytest.param(endpoints([{"addresses": [{"ip": "10.244.1.5", "nodeName": "n1"}], "ports": [{"name": "http", "port": 8080}]}]), [], id="valid"),
    pytest.param(endpoints([{"ports": [{"port": 80}]}]), ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"], id="addresses required"),
    pytest.param(
        endpoints([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"name": "b", "port": 81}]}]),
        ["subsets[0].ports[0].name: Required value"], id="port names required with several ports",
    ),
    pytest.param(
        endpoints([{"notReadyAddresses": [{"ip": "x"}]}]),
        [
            'subsets[0].notReadyAddresses[0].ip: Invalid value: "x": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
            'subsets[0].notReadyAddresses[0].ip: Invalid value: "x": must be a valid IP address',
        ],
        id="bad ip",
    ),
]


@pytest.mark.parametrize("obj,expected", ENDPOINTS_CASES)
def test_validate_endpoints(obj: dict, expected: list[str]) -> None:
    assert errs(obj) == expected
