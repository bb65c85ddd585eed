"""svcnet.api.errors: Go value formatting, field error rendering, aggregation, Status bodies.

Expectations follow k8s.io/apimachinery/pkg/util/validation/field/errors.go (ErrorBody),
k8s.io/apimachinery/pkg/util/errors (aggregate) and pkg/api/errors (NewInvalid, NewNotFound ...).
"""

from __future__ import annotations

import pytest

from svcnet.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    FieldError,
    GoRepr,
    InternalError,
    Invalid,
    NotFound,
    aggregate_message,
    duplicate,
    forbidden,
    from_status,
    go_quote,
    go_value,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)


@pytest.mark.parametrize(
    "s,quoted",
    [
        ("abc", '"abc"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb\tc", '"a\\nb\\tc"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("héllo", '"héllo"'),
    ],
)
def test_go_quote(s: str, quoted: str) -> None:
    assert go_quote(s) == quoted


@pytest.mark.parametrize(
    "value,text",
    [
        ("x", '"x"'),
        (0, "0"),
        (-1, "-1"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (1.5, "1.5"),
        (["10.0.0.1", "2001::1"], '[]string{"10.0.0.1", "2001::1"}'),
        ([], "[]string{}"),
        ([1, 2], "[]int{1, 2}"),
        ({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}'),
        (GoRepr("core.ServicePort{}"), "core.ServicePort{}"),
    ],
)
def test_go_value(value: object, text: str) -> None:
    assert go_value(value) == text


@pytest.mark.parametrize(
    "err,text",
    [
        (required("spec.ports"), "spec.ports: Required value"),
        (required("metadata.name", "name or generateName is required"), "metadata.name: Required value: name or generateName is required"),
        (forbidden("spec.x", "may not be set"), "spec.x: Forbidden: may not be set"),
        (invalid("spec.ports[0].port", 0, "must be between 1 and 65535, inclusive"), "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
        (invalid("spec.name", "-x", "bad"), 'spec.name: Invalid value: "-x": bad'),
        (invalid("spec.ipFamilyPolicy", None, "must be set"), "spec.ipFamilyPolicy: Invalid value: null: must be set"),
        (duplicate("spec.ports[1].name", "p"), 'spec.ports[1].name: Duplicate value: "p"'),
        (not_supported("spec.type", "X", ["NodePort", "ClusterIP", "LoadBalancer", "ExternalName"]), 'spec.type: Unsupported value: "X": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
        (too_many("endpoints", 1001, 1000), "endpoints: Too many: 1001: must have at most 1000 items"),
    ],
)
def test_field_error_rendering(err: FieldError, text: str) -> None:
    assert str(err) == text


def test_too_long_never_prints_the_value() -> None:
    # the detail wording differs between releases ("may not be longer than", "must have at most N
    # bytes"); what is stable is the type text and that the (huge) value is omitted
    e = too_long("metadata.annotations", 262144)
    assert str(e).startswith("metadata.annotations: Too long: ")
    assert "262144" in str(e)


def test_field_error_cause() -> None:
    e = invalid("spec.ports[0].port", 0, "must be between 1 and 65535, inclusive")
    assert e.cause() == {"reason": "FieldValueInvalid", "message": "Invalid value: 0: must be between 1 and 65535, inclusive", "field": "spec.ports[0].port"}
    assert required("a").reason == "FieldValueRequired"
    assert not_supported("a", "b", ["c"]).reason == "FieldValueNotSupported"


def test_aggregate_message() -> None:
    a = invalid("spec.ports[0].port", 0, "must be between 1 and 65535, inclusive")
    b = invalid("spec.ports[0].targetPort", 0, "must be between 1 and 65535, inclusive")
    assert aggregate_message([a]) == str(a)
    assert aggregate_message([a, b, a]) == f"[{a}, {b}]"


def test_invalid_status_body() -> None:
    errs = [required("spec.ports"), invalid("metadata.name", "-x", "bad")]
    err = Invalid("Service", "svc", errs)
    assert err.code == 422
    assert err.status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Service "svc" is invalid: [spec.ports: Required value, metadata.name: Invalid value: "-x": bad]',
        "reason": "Invalid",
        "details": {
            "name": "svc",
            "kind": "Service",
            "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports"},
                {"reason": "FieldValueInvalid", "message": 'Invalid value: "-x": bad', "field": "metadata.name"},
            ],
        },
        "code": 422,
    }


def test_invalid_status_with_group() -> None:
    err = Invalid("EndpointSlice", "e", [required("addressType")], group="discovery.k8s.io")
    assert err.message == 'EndpointSlice.discovery.k8s.io "e" is invalid: addressType: Required value'
    assert err.status["details"]["group"] == "discovery.k8s.io"


def test_from_status_round_trip_invalid() -> None:
    err = Invalid("Service", "svc", [required("spec.ports")])
    back = from_status(err.status)
    assert isinstance(back, Invalid)
    assert back.message == err.message
    assert [str(e) for e in back.errors] == ["spec.ports: Required value"]


@pytest.mark.parametrize(
    "err,code,reason,message",
    [
        (NotFound.of("services", "web"), 404, "NotFound", 'services "web" not found'),
        (NotFound.of("endpointslices", "e", "discovery.k8s.io"), 404, "NotFound", 'endpointslices.discovery.k8s.io "e" not found'),
        (AlreadyExists.of("services", "web"), 409, "AlreadyExists", 'services "web" already exists'),
        (
            Conflict.stale("services", "web"),
            409,
            "Conflict",
            'Operation cannot be fulfilled on services "web": the object has been modified; please apply your changes to the latest version and try again',
        ),
        (Expired.too_old(1, 5), 410, "Expired", "too old resource version: 1 (5)"),
        (InternalError.of("failed to allocate a serviceIP: range is full"), 500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full"),
        (BadRequest("unable to parse requirement: found '', expected: identifier"), 400, "BadRequest", "unable to parse requirement: found '', expected: identifier"),
    ],
)
def test_api_error_status(err, code: int, reason: str, message: str) -> None:
    assert err.code == code
    assert err.status["code"] == code
    assert err.status["reason"] == reason
    assert err.status["message"] == message
    assert err.status["kind"] == "Status" and err.status["status"] == "Failure"
    back = from_status(err.status)
    assert type(back) is type(err) and back.message == message
