"""``svcnet apply``: client-side apply against the in-process API, and the three-way patch.

The patch vectors were produced by real kubectl 1.33 (``-v=8`` request bodies) applying the same
manifests to svcnet's API server; the outputs and error texts are kubectl's, byte for byte.
"""

from __future__ import annotations

import io
import json

import pytest

from svcnet.cli.cmd_apply import LAST_APPLIED, last_applied_configuration, run_apply, three_way_merge_patch, with_last_applied
from svcnet.client.inprocess import local_client

WEB = """apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: https
    port: 443
    targetPort: 8443
"""

MULTI = """apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: bad
spec:
  ports:
  - port: 0
  - port: 70000
    name: x
---
apiVersion: v1
kind: Service
metadata:
  name: c
spec:
  type: NodePort
  ports:
  - port: 81
"""

BAD_ERRORS = [
    "spec.ports[0].name: Required value",
    "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
    "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
    "spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
]


async def apply(client, *paths, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = await run_apply(client, list(paths), out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


async def test_apply_create_configured_unchanged(tmp_path) -> None:
    c = local_client()
    path = write(tmp_path, "web.yaml", WEB)
    assert await apply(c, path) == (0, "service/web created\n", "")
    live = await c.get("services", "web")
    assert live["metadata"]["annotations"][LAST_APPLIED] == (
        '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app":"web"},"name":"web",'
        '"namespace":"default"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080},'
        '{"name":"https","port":443,"targetPort":8443}],"selector":{"app":"web"}}}\n'
    )
    assert await apply(c, path) == (0, "service/web unchanged\n", "")

    # change a port and drop the other one: configured, and the dropped port is gone
    write(tmp_path, "web.yaml", WEB.replace("targetPort: 8080", "targetPort: 9090").replace("  - name: https\n    port: 443\n    targetPort: 8443\n", ""))
    assert await apply(c, path) == (0, "service/web configured\n", "")
    live = await c.get("services", "web")
    assert [(p["port"], p["targetPort"]) for p in live["spec"]["ports"]] == [(80, 9090)]
    assert json.loads(live["metadata"]["annotations"][LAST_APPLIED])["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 9090}]
    assert await apply(c, path) == (0, "service/web unchanged\n", "")


async def test_apply_removed_fields_are_deleted_added_ones_set(tmp_path) -> None:
    c = local_client()
    path = write(tmp_path, "web.yaml", WEB.replace("  labels:\n    app: web\n", "  labels:\n    app: web\n    tier: front\n"))
    await apply(c, path)
    write(tmp_path, "web.yaml", WEB.replace("  labels:\n    app: web\n", "  labels:\n    owner: me\n"))
    assert (await apply(c, path))[1] == "service/web configured\n"
    live = await c.get("services", "web")
    assert live["metadata"]["labels"] == {"owner": "me"}


async def test_apply_multi_document_file_with_an_invalid_document(tmp_path) -> None:
    c = local_client()
    rc, out, err = await apply(c, write(tmp_path, "multi.yaml", MULTI))
    assert rc == 1
    assert out == "service/a created\nservice/c created\n"
    assert err == 'The Service "bad" is invalid: \n' + "".join(f"* {e}\n" for e in BAD_ERRORS)
    names = [s["metadata"]["name"] for s in (await c.list("services"))["items"]]
    assert "a" in names and "c" in names and "bad" not in names
    # the valid ones are now unchanged; the invalid one is still reported
    rc, out, err = await apply(c, str(tmp_path / "multi.yaml"))
    assert (rc, out) == (1, "service/a unchanged\nservice/c unchanged\n")


async def test_apply_several_errors_are_listed_one_per_line(tmp_path) -> None:
    c = local_client()
    one_bad = write(tmp_path, "one-bad.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad1\nspec:\n  ports:\n  - port: 0\n")
    rc, out, err = await apply(c, write(tmp_path, "multi.yaml", MULTI), one_bad)
    assert rc == 1
    assert out == "service/a created\nservice/c created\n"
    assert err == (
        f'Error from server (Invalid): error when creating "{tmp_path}/multi.yaml": Service "bad" is invalid: [{", ".join(BAD_ERRORS)}]\n'
        f'Error from server (Invalid): error when creating "{one_bad}": Service "bad1" is invalid: '
        "[spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, "
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]\n"
    )


async def test_apply_dry_runs_change_nothing(tmp_path) -> None:
    c = local_client()
    path = write(tmp_path, "multi.yaml", MULTI)
    rc, out, _ = await apply(c, path, dry_run="client")  # nothing reaches the server, so nothing is validated
    assert (rc, out) == (0, "service/a created (dry run)\nservice/bad created (dry run)\nservice/c created (dry run)\n")
    rc, out, _ = await apply(c, path, dry_run="server")
    assert (rc, out) == (1, "service/a created (server dry run)\nservice/c created (server dry run)\n")
    assert [s["metadata"]["name"] for s in (await c.list("services"))["items"]] == ["kubernetes"]
    await apply(c, path)
    rc, out, _ = await apply(c, path, dry_run="client")
    assert out == "service/a configured (dry run)\nservice/bad created (dry run)\nservice/c configured (dry run)\n"
    rc, out, _ = await apply(c, path, dry_run="server")
    assert out == "service/a unchanged (server dry run)\nservice/c unchanged (server dry run)\n"
    assert (await apply(c, path, dry_run="bogus"))[2] == 'error: Invalid dry-run value (bogus). Must be "none", "server", or "client".\n'


async def test_apply_to_an_object_without_the_annotation_warns_and_adds_it(tmp_path) -> None:
    c = local_client()
    await c.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    rc, out, err = await apply(c, write(tmp_path, "w.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"))
    assert (rc, out) == (0, "service/web configured\n")
    assert err == (
        "Warning: resource services/web is missing the kubectl.kubernetes.io/last-applied-configuration annotation "
        "which is required by svcnet apply. svcnet apply should only be used on resources created declaratively by "
        "either svcnet create --save-config or svcnet apply. The missing annotation will be patched automatically.\n"
    )
    assert LAST_APPLIED in (await c.get("services", "web"))["metadata"]["annotations"]


async def test_apply_stdin_namespace_and_local_errors(tmp_path) -> None:
    c = local_client()
    await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n"
    rc, out, err = await apply(c, "-", namespace="shop", stdin=io.StringIO(text))
    assert (rc, out, err) == (0, "service/s created\n", "")
    assert (await c.get("services", "s", "shop"))["metadata"]["namespace"] == "shop"
    rc, out, err = await apply(c, "-", namespace="other", stdin=io.StringIO(text.replace("name: s\n", "name: s\n  namespace: shop\n")))
    assert rc == 1 and err == (
        "error: the namespace from the provided object \"shop\" does not match the namespace \"other\". "
        "You must pass '--namespace=shop' to perform this operation.\n"
    )
    rc, out, err = await apply(c, "-", stdin=io.StringIO("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"))
    assert rc == 1 and err == (
        'error: resource mapping not found for name: "w" namespace: "" from "STDIN": no matches for kind "Widget" in version "example.com/v1"\n'
        "ensure CRDs are installed first\n"
    )
    rc, out, err = await apply(c, str(tmp_path / "missing.yaml"))
    assert (rc, err) == (1, f'error: the path "{tmp_path}/missing.yaml" does not exist\n')
    rc, out, err = await apply(c, "-", stdin=io.StringIO(text), namespace="nope")
    assert (rc, err) == (1, 'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found\n')


async def test_apply_directory_in_file_order(tmp_path) -> None:
    c = local_client()
    d = tmp_path / "d"
    d.mkdir()
    (d / "b.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: 80\n")
    (d / "a.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}))
    (d / "notes.txt").write_text("ignored")
    assert await apply(c, str(d)) == (0, "service/a created\nservice/b created\n", "")


# --------------------------------------------------------------------------------------------
# the pure parts


def test_last_applied_configuration_format() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "w", "namespace": "default", "annotations": {LAST_APPLIED: "old", "x": "<&>"}}, "spec": {"b": 1, "a": True}}
    assert last_applied_configuration(obj) == (
        '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{"x":"\\u003c\\u0026\\u003e"},"name":"w","namespace":"default"},"spec":{"a":true,"b":1}}\n'
    )
    annotated = with_last_applied(obj)
    assert annotated["metadata"]["annotations"][LAST_APPLIED] == last_applied_configuration(obj)
    assert obj["metadata"]["annotations"][LAST_APPLIED] == "old"


def svc_doc(ports: list, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default", **meta}, "spec": {"ports": ports}}


def test_three_way_patch_port_removed_and_changed_matches_kubectl() -> None:
    original = svc_doc([{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443, "targetPort": 8443}], annotations={})
    modified = with_last_applied(svc_doc([{"name": "http", "port": 80, "targetPort": 9090}]))
    current = with_last_applied(original)
    current["spec"]["ports"] = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}, {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]
    current["spec"]["clusterIP"] = "10.96.0.10"
    patch = three_way_merge_patch(original, modified, current, "Service")
    assert patch == {
        "metadata": {"annotations": {LAST_APPLIED: modified["metadata"]["annotations"][LAST_APPLIED]}},
        "spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 9090}, {"$patch": "delete", "port": 443}]},
    }


def test_three_way_patch_unchanged_is_empty() -> None:
    m = with_last_applied(svc_doc([{"port": 80}]))
    current = json.loads(json.dumps(m))
    current["spec"]["ports"][0].update({"protocol": "TCP", "targetPort": 80})
    current["metadata"]["uid"] = "u"
    assert three_way_merge_patch(svc_doc([{"port": 80}], annotations={}), m, current, "Service") == {}


def test_three_way_patch_label_removed_is_null_and_lists_without_keys_replace() -> None:
    original = svc_doc([{"port": 80}], labels={"a": "1", "b": "2"})
    original["spec"]["externalIPs"] = ["1.2.3.4", "5.6.7.8"]
    modified = svc_doc([{"port": 80}], labels={"a": "1"})
    modified["spec"]["externalIPs"] = ["5.6.7.8"]
    current = json.loads(json.dumps(original))
    assert three_way_merge_patch(original, modified, current, "Service") == {"metadata": {"labels": {"b": None}}, "spec": {"externalIPs": ["5.6.7.8"]}}


def test_three_way_patch_nested_container_lists_match_kubectl() -> None:
    def deploy(env: list, ports: list, finalizers: list) -> dict:
        return {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1", "namespace": "default", "finalizers": finalizers},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1", "env": env, "ports": ports}, {"name": "side", "image": "busybox"}]}}},
        }

    env_ab = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    ports2 = [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]
    original = deploy(env_ab, ports2, ["example.com/a", "example.com/b"])
    current = json.loads(json.dumps(original))
    # env B removed
    patch = three_way_merge_patch(original, deploy(env_ab[:1], ports2, ["example.com/a", "example.com/b"]), current, "Deployment")
    assert patch == {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}], "name": "web"}],
    }}}}
    # container port 443 removed while env B comes back (changes and deletions in one item)
    patch = three_way_merge_patch(deploy(env_ab[:1], ports2, []), deploy(env_ab, ports2[:1], []), deploy(env_ab[:1], ports2, []), "Deployment")
    assert patch == {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}], "$setElementOrder/ports": [{"containerPort": 80}],
            "env": [{"name": "B", "value": "2"}], "name": "web", "ports": [{"$patch": "delete", "containerPort": 443}],
        }],
    }}}}
    # finalizers: a set-like primitive list
    patch = three_way_merge_patch(original, deploy(env_ab, ports2, ["example.com/b", "example.com/c"]), current, "Deployment")
    assert patch == {"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
        "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
        "finalizers": ["example.com/c"],
    }}


def test_three_way_patch_type_change_replaces_value() -> None:
    original = svc_doc([{"port": 80, "targetPort": 8080}])
    modified = svc_doc([{"port": 80, "targetPort": "web"}])
    patch = three_way_merge_patch(original, modified, json.loads(json.dumps(original)), "Service")
    assert patch == {"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": "web"}]}}


@pytest.mark.parametrize("value", [True, 1.0])
def test_three_way_patch_distinguishes_go_types(value) -> None:
    original = {"spec": {"x": 1}}
    assert three_way_merge_patch(original, {"spec": {"x": value}}, original) == {"spec": {"x": value}}
