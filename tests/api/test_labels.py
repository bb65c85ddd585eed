"""Label and field selectors (k8s.io/apimachinery/pkg/labels and pkg/fields).

Parse cases are ported from selector_test.go (TestSelectorParse, TestSelectorMatches, TestLexer,
TestParserLookahead) in staging/src/k8s.io/apimachinery/pkg/labels, expressed as data.
"""

from __future__ import annotations

import pytest

from svcnet.api.labels import (
    FieldRequirement,
    object_fields,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
    selector_from_label_selector,
    selector_from_match_labels,
)

# (input, canonical string) - TestSelectorParse "testGoodStrings"
GOOD = [
    ("x=a,y=b,z=c", "x=a,y=b,z=c"),
    ("", ""),
    ("x!=a,y=b", "x!=a,y=b"),
    ("x=", "x="),
    ("x= ", "x="),
    ("x=,z= ", "x=,z="),
    ("x= ,z= ", "x=,z="),
    ("!x", "!x"),
    ("x>1", "x>1"),
    ("x>1,z<5", "x>1,z<5"),
    ("x in (a,b)", "x in (a,b)"),
    ("x in (b,a)", "x in (a,b)"),
    ("x notin (a)", "x notin (a)"),
    ("x in ()", "x in ()"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("a==b", "a==b"),
    ("b=c,a==b", "a==b,b=c"),
    ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
]

BAD = [
    ("x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ("x==a==b", "found '==', expected: ',' or 'end of string'"),
    ("!x=a", "found '=', expected: ',' or 'end of string'"),
    ("x>", "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ("x>a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ("x>1,z<5a", "unable to parse requirement: values[0]: Invalid value: \"5a\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("x in a)", "unable to parse requirement: found 'a' expected: '('"),
    ("a,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("x/y/z=1", "unable to parse requirement: <nil>: Invalid value: \"x/y/z\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
]


@pytest.mark.parametrize("text,canonical", GOOD, ids=[g[0] or "<empty>" for g in GOOD])
def test_parse_label_selector_good(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize("text,message", BAD, ids=[b[0] for b in BAD])
def test_parse_label_selector_bad(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message


# (selector, labels, matches) - TestSelectorMatches
MATCHES = [
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False),
    ("x<1", {"x": "2"}, False),
    ("x>1", {"x": "abc"}, False),
    ("x in (a,b)", {"x": "b"}, True),
    ("x in (a,b)", {}, False),
    ("x notin (a,b)", {}, True),
    ("x notin (a,b)", {"x": "a"}, False),
    ("x in ()", {"x": ""}, True),
]


@pytest.mark.parametrize("text,labels,want", MATCHES)
def test_label_selector_matches(text: str, labels: dict, want: bool) -> None:
    assert parse_label_selector(text).matches(labels) is want


def test_selector_from_match_labels_equality_on_all_keys() -> None:
    sel = selector_from_match_labels({"app": "web", "tier": "fe"})
    assert str(sel) == "app=web,tier=fe"
    assert sel.matches({"app": "web", "tier": "fe", "extra": "x"})
    assert not sel.matches({"app": "web"})
    assert not sel.matches(None)


@pytest.mark.parametrize("value", [None, {}])
def test_selector_from_match_labels_empty_selects_everything(value: dict | None) -> None:
    sel = selector_from_match_labels(value)
    assert sel.empty
    assert sel.matches({}) and sel.matches({"a": "b"})


def test_selector_from_label_selector_nil_selects_nothing() -> None:
    sel = selector_from_label_selector(None)
    assert not sel.empty
    assert not sel.matches({"a": "b"})
    assert str(sel) == ""


def test_selector_from_label_selector_empty_selects_everything() -> None:
    assert selector_from_label_selector({}).matches({"a": "b"})


def test_selector_from_label_selector_expressions() -> None:
    sel = selector_from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
            ],
        }
    )
    assert str(sel) == "app=web,!canary,env notin (dev),tier in (be,fe),zone"
    assert sel.matches({"app": "web", "tier": "fe", "zone": "a"})
    assert not sel.matches({"app": "web", "tier": "fe", "zone": "a", "canary": "1"})
    assert not sel.matches({"app": "web", "tier": "fe", "zone": "a", "env": "dev"})


def test_selector_from_label_selector_bad_operator() -> None:
    with pytest.raises(ValueError, match='^"Near" is not a valid label selector operator$'):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "Near"}]})


def test_selector_from_label_selector_in_without_values() -> None:
    with pytest.raises(ValueError, match=r"^values: Invalid value: \[\]string\{\}: for 'in', 'notin' operators, values set can't be empty$"):
        selector_from_label_selector({"matchExpressions": [{"key": "a", "operator": "In"}]})


FIELD_GOOD = [
    ("", ""),
    ("a=b", "a=b"),
    ("a==b", "a=b"),
    ("a!=b", "a!=b"),
    ("spec.nodeName=n1,status.phase!=Failed", "spec.nodeName=n1,status.phase!=Failed"),
    ("b=2,a=1", "a=1,b=2"),
    (r"a=x\,y", r"a=x\,y"),
    (r"a=x\=y\\z", r"a=x\=y\\z"),
    ("a=", "a="),
]


@pytest.mark.parametrize("text,canonical", FIELD_GOOD)
def test_parse_field_selector_good(text: str, canonical: str) -> None:
    assert str(parse_field_selector(text)) == canonical


FIELD_BAD = [
    ("a", "invalid selector: 'a'; can't understand 'a'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    (r"a=b\n", r"invalid field selector: invalid escape sequence: \n"),
    ("a=b=c", "invalid field selector: unescaped character in value: ="),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
]


@pytest.mark.parametrize("text,message", FIELD_BAD)
def test_parse_field_selector_bad(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_field_selector(text)
    assert str(exc.value) == message


def test_field_selector_requirements_and_matching() -> None:
    sel = parse_field_selector(r"spec.nodeName=n1,status.phase!=Failed,metadata.name=a\,b")
    assert sel.requirements == (
        FieldRequirement("metadata.name", "=", "a,b"),
        FieldRequirement("spec.nodeName", "=", "n1"),
        FieldRequirement("status.phase", "!=", "Failed"),
    )
    assert sel.matches({"spec.nodeName": "n1", "status.phase": "Running", "metadata.name": "a,b"})
    assert not sel.matches({"spec.nodeName": "n1", "status.phase": "Failed", "metadata.name": "a,b"})
    # a missing field reads as ""
    assert parse_field_selector("spec.nodeName=").matches({})
    assert parse_field_selector("").matches({})


def test_object_fields_pod() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
        "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]},
    }
    assert object_fields(pod) == {
        "metadata.name": "p",
        "metadata.namespace": "ns",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "",
        "spec.hostNetwork": "false",
        "status.phase": "Running",
        "status.podIP": "10.0.0.1",
        "status.nominatedNodeName": "",
    }


@pytest.mark.parametrize(
    "obj,fields",
    [
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "d"}}, {"metadata.name": "s", "metadata.namespace": "d"}),
        ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {"unschedulable": True}}, {"metadata.name": "n", "spec.unschedulable": "true"}),
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "d"}, "status": {"phase": "Active"}}, {"metadata.name": "d", "status.phase": "Active", "name": "d"}),
        ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}}, {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "3"}),
    ],
)
def test_object_fields_other_kinds(obj: dict, fields: dict) -> None:
    assert object_fields(obj) == fields


def test_object_fields_event() -> None:
    ev = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e", "namespace": "d"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u"},
        "reason": "Started",
        "source": {"component": "kubelet"},
        "type": "Normal",
    }
    f = object_fields(ev)
    assert f["involvedObject.kind"] == "Pod" and f["involvedObject.name"] == "p" and f["involvedObject.uid"] == "u"
    assert f["reason"] == "Started" and f["source"] == "kubelet" and f["type"] == "Normal"
    assert f["involvedObject.fieldPath"] == ""


def test_selectable_fields() -> None:
    assert "spec.nodeName" in selectable_fields("v1", "Pod")
    assert selectable_fields("v1", "Service") == frozenset({"metadata.name", "metadata.namespace"})
