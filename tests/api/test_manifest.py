"""Manifest loading (kubectl -f semantics) and printing (kubectl get -o yaml|json)."""

from __future__ import annotations

import io
import textwrap

import pytest

from svcnet.api.manifest import ManifestError, dump_json, dump_yaml, list_object, load_manifests, read_manifest_paths

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}


def t(s: str) -> str:
    return textwrap.dedent(s).lstrip("\n")


# One table for loading and for the dump/load round trip: (text, objects)
LOAD_CASES = [
    pytest.param(
        t("""
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          ports:
          - port: 80
            targetPort: http
        """),
        [SVC],
        id="block yaml",
    ),
    pytest.param("{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {ports: [{port: 80, targetPort: http}]}}", [SVC], id="flow yaml"),
    pytest.param(
        '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}',
        [SVC],
        id="json object",
    ),
    pytest.param('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}\n{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}', [POD, POD], id="json stream"),
    pytest.param('[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}]', [POD], id="json array"),
    pytest.param(
        t("""
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        ---
        # only a comment
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {ports: [{port: 80, targetPort: http}]}
        """),
        [POD, SVC],
        id="multi-document with empty documents",
    ),
    pytest.param(
        t("""
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: Pod, metadata: {name: p}}
        - apiVersion: v1
          kind: ServiceList
          items:
          - {apiVersion: v1, kind: Service, metadata: {name: web}, spec: {ports: [{port: 80, targetPort: http}]}}
        """),
        [POD, SVC],
        id="List flattened recursively",
    ),
    pytest.param(
        "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\nunknownField: {deep: [1, 2]}\n",
        [{"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}, "unknownField": {"deep": [1, 2]}}],
        id="unknown fields kept",
    ),
    pytest.param(
        t("""
        apiVersion: v1
        kind: Service
        metadata:
          name: s
          creationTimestamp: 2024-01-02T03:04:05Z
          annotations: {a: "80", b: "true", c: "", d: "null", e: 'x: y'}
        spec:
          ports: [{port: 80, name: "80", targetPort: 8080}]
        """),
        [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "s",
                    "creationTimestamp": "2024-01-02T03:04:05Z",
                    "annotations": {"a": "80", "b": "true", "c": "", "d": "null", "e": "x: y"},
                },
                "spec": {"ports": [{"port": 80, "name": "80", "targetPort": 8080}]},
            }
        ],
        id="types kept (ints, quoted strings, timestamps as strings)",
    ),
    pytest.param("", [], id="empty input"),
    pytest.param("---\n---\n", [], id="only separators"),
]


@pytest.mark.parametrize("text,objects", LOAD_CASES)
def test_load_manifests(text: str, objects: list[dict]) -> None:
    assert load_manifests(text, "x.yaml") == objects


@pytest.mark.parametrize("text,objects", LOAD_CASES)
def test_dump_load_round_trip(text: str, objects: list[dict]) -> None:
    for obj in objects:
        assert load_manifests(dump_yaml(obj)) == [obj]
        assert load_manifests(dump_json(obj)) == [obj]
    if len(objects) > 1:
        assert load_manifests(dump_yaml(list_object(objects))) == objects


def test_load_manifests_int_vs_string() -> None:
    (obj,) = load_manifests('apiVersion: v1\nkind: Service\nspec: {ports: [{port: "80", targetPort: 8080}, {port: 81, targetPort: http}]}\n')
    ports = obj["spec"]["ports"]
    assert ports[0]["port"] == "80" and isinstance(ports[0]["targetPort"], int)
    assert ports[1]["port"] == 81 and ports[1]["targetPort"] == "http"


ERROR_CASES = [
    pytest.param("kind: Service\n", 'error validating "f.yaml" (document 1): error validating data: apiVersion not set', id="apiVersion missing"),
    pytest.param("metadata: {name: x}\n", 'error validating "f.yaml" (document 1): error validating data: [apiVersion not set, kind not set]', id="both missing"),
    pytest.param("apiVersion: v1\nkind: Pod\n---\napiVersion: v1\n", 'error validating "f.yaml" (document 2): error validating data: kind not set', id="second document"),
    pytest.param("- a\n- b\n", "error parsing f.yaml (document 1): the document is a list, not an object (a mapping with apiVersion and kind)", id="a list"),
    pytest.param("hello\n", "error parsing f.yaml (document 1): the document is a string, not an object (a mapping with apiVersion and kind)", id="a scalar"),
    pytest.param("apiVersion: v1\nkind: List\nitems: [{kind: Pod}]\n", 'error validating "f.yaml" (document 1): error validating data: apiVersion not set', id="bad List item"),
    pytest.param("a: [1\n", "error parsing f.yaml: error converting YAML to JSON: yaml: line 2: expected ',' or ']', but got '<stream end>'", id="syntax error"),
    pytest.param("apiVersion: v1\nkind: Pod\nkind: Service\n", 'error parsing f.yaml: error converting YAML to JSON: yaml: line 3: key "kind" already set in map', id="duplicate key"),
]


@pytest.mark.parametrize("text,message", ERROR_CASES)
def test_load_manifests_errors(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as exc:
        load_manifests(text, "f.yaml")
    assert str(exc.value) == message
    assert exc.value.source == "f.yaml"


def test_dump_yaml_is_kubectl_style() -> None:
    # go-yaml v2 (under sigs.k8s.io/yaml) quotes anything YAML 1.1 reads as another type,
    # including the keys "y" and "n" (booleans in its resolve table)
    obj = {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "web", "creationTimestamp": "2024-01-02T03:04:05Z", "annotations": {"n": "80", "t": "true", "e": "", "y": "yes"}},
        "spec": {"ports": [{"port": 80, "targetPort": "http", "name": "80"}], "selector": {"app": "web"}, "clusterIP": None},
        "status": {"loadBalancer": {}},
    }
    assert dump_yaml(obj) == t("""
        apiVersion: v1
        kind: Service
        metadata:
          annotations:
            e: ""
            "n": "80"
            t: "true"
            "y": "yes"
          creationTimestamp: "2024-01-02T03:04:05Z"
          name: web
        spec:
          clusterIP: null
          ports:
          - name: "80"
            port: 80
            targetPort: http
          selector:
            app: web
        status:
          loadBalancer: {}
        """)


def test_dump_yaml_multiline_literal() -> None:
    assert dump_yaml({"data": {"script": "a\nb\n"}}) == "data:\n  script: |\n    a\n    b\n"


def test_dump_json_is_kubectl_style() -> None:
    assert dump_json({"b": [1, {"z": "<&>"}], "a": {}}) == (
        '{\n    "a": {},\n    "b": [\n        1,\n        {\n            "z": "\\u003c\\u0026\\u003e"\n        }\n    ]\n}\n'
    )


def test_list_object() -> None:
    assert list_object([POD]) == {"apiVersion": "v1", "items": [POD], "kind": "List", "metadata": {"resourceVersion": ""}}


def test_read_manifest_paths_directory_sorted_non_recursive(tmp_path) -> None:
    (tmp_path / "b.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n")
    (tmp_path / "a.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}')
    (tmp_path / "c.yml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n")
    (tmp_path / "notes.txt").write_text("not a manifest")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "d.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: d}\n")
    got = read_manifest_paths([str(tmp_path)])
    assert [(src.rsplit("/", 1)[-1], obj["metadata"]["name"]) for src, obj in got] == [("a.json", "a"), ("b.yaml", "b"), ("c.yml", "c")]


def test_read_manifest_paths_file_and_stdin(tmp_path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: f}\n")
    got = read_manifest_paths([str(f), "-"], stdin=io.StringIO('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"}}'))
    assert got == [(str(f), {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "f"}}), ("STDIN", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "s"}})]


def test_read_manifest_paths_missing(tmp_path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError, match=f'^the path "{missing}" does not exist$'):
        read_manifest_paths([missing])
