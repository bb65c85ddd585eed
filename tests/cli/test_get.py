"""``svcnet get`` against the in-process API: tables, names, YAML/JSON, errors and --watch.

Expected texts were checked against kubectl 1.33 run on the same objects. AGE is made
deterministic by printing with ``now`` one hour after the objects were created ("60m").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io

import pytest

from svcnet.api.manifest import load_manifests
from svcnet.cli.cmd_get import run_get
from svcnet.client.inprocess import local_client

TIMEOUT = 10.0


def later() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3630)


async def get(client, *args, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    kw.setdefault("now", later())
    rc = await run_get(client, list(args), out=out, err=err, **kw)
    return rc, out.getvalue(), err.getvalue()


def service(name: str, *, ns: str = "default", labels=None, typ="ClusterIP", ports=None, selector=None) -> dict:
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    spec: dict = {"type": typ, "ports": ports or [{"port": 80}]}
    if selector:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}


async def seeded():
    c = local_client()
    await c.create("services", service("web", labels={"app": "web"}, selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": 8080}]))
    await c.create("services", service("np", typ="NodePort", ports=[{"port": 81, "nodePort": 30081}]))
    await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    await c.create("services", service("cart", ns="shop"))
    return c


def ip(svc: dict) -> str:
    return svc["spec"]["clusterIP"]


async def test_get_services_table() -> None:
    c = await seeded()
    web, np_, k = [await c.get("services", n) for n in ("web", "np", "kubernetes")]
    rc, out, err = await get(c, "svc")
    assert (rc, err) == (0, "")
    w = max(len(ip(s)) for s in (web, np_, k)) + 3
    assert out == (
        f"{'NAME':<13}{'TYPE':<12}{'CLUSTER-IP':<{w}}EXTERNAL-IP   PORT(S)        AGE\n"
        f"{'kubernetes':<13}{'ClusterIP':<12}{ip(k):<{w}}<none>        443/TCP        60m\n"
        f"{'np':<13}{'NodePort':<12}{ip(np_):<{w}}<none>        81:30081/TCP   60m\n"
        f"{'web':<13}{'ClusterIP':<12}{ip(web):<{w}}<none>        80/TCP         60m\n"
    )


async def test_get_wide_labels_no_headers_and_selectors() -> None:
    c = await seeded()
    rc, out, _ = await get(c, "services", "web", output="wide", show_labels=True, label_columns=["app"])
    assert out.splitlines()[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR", "APP", "LABELS"]
    assert out.splitlines()[1].split()[-3:] == ["app=web", "web", "app=web"]
    rc, out, _ = await get(c, "svc", selector="app=web", no_headers=True)
    assert rc == 0 and out.split()[0] == "web" and len(out.splitlines()) == 1
    rc, out, _ = await get(c, "svc", field_selector="metadata.name=np", output="name")
    assert out == "service/np\n"


async def test_get_all_namespaces_and_multiple_types() -> None:
    c = await seeded()
    rc, out, err = await get(c, "svc", all_namespaces=True, output="name")
    assert out.splitlines() == ["service/kubernetes", "service/np", "service/web", "service/cart"]
    rc, out, err = await get(c, "svc", all_namespaces=True)
    lines = out.splitlines()
    assert lines[0].startswith("NAMESPACE   NAME ")
    assert lines[-1].startswith("shop        cart ")
    rc, out, err = await get(c, "svc,ns")
    blocks = out.split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[1].startswith("service/kubernetes   ClusterIP")
    assert blocks[1].splitlines()[0].split() == ["NAME", "STATUS", "AGE"]
    assert "namespace/shop" in blocks[1]
    rc, out, err = await get(c, "all", namespace="shop")
    assert out.splitlines()[1].startswith("service/cart   ClusterIP")


async def test_get_no_resources_messages() -> None:
    c = local_client()
    assert await get(c, "pods") == (0, "", "No resources found in default namespace.\n")
    assert await get(c, "pods", namespace="kube-system") == (0, "", "No resources found in kube-system namespace.\n")
    assert await get(c, "pods", all_namespaces=True) == (0, "", "No resources found\n")
    assert await get(c, "nodes") == (0, "", "No resources found\n")
    assert await get(c, "pods", output="name") == (0, "", "")
    assert await get(c, "pods", output="yaml") == (0, 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n', "")


async def test_get_named_objects_and_errors() -> None:
    c = await seeded()
    rc, out, err = await get(c, "svc", "web", "nope", "kubernetes")
    assert rc == 1
    assert [ln.split()[0] for ln in out.splitlines()] == ["NAME", "web", "kubernetes"]
    assert err == 'Error from server (NotFound): services "nope" not found\n'
    rc, out, err = await get(c, "svc/web", "ns/default")
    assert out.splitlines()[1].startswith("service/web ") and "namespace/default" in out
    assert await get(c, "svc", "nope", output="yaml") == (1, "", 'Error from server (NotFound): services "nope" not found\n')
    assert await get(c, "svc", "nope", ignore_not_found=True) == (0, "", "")
    assert await get(c, "foo") == (1, "", 'error: the server doesn\'t have a resource type "foo"\n')
    assert await get(c, "svc", "web", selector="app=web") == (1, "", "error: name cannot be provided when a selector is specified\n")
    rc, out, err = await get(c, "svc", selector="app in (x")
    assert rc == 1 and err == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=services" that match label selector "app in (x", '
        "field selector \"\": unable to parse requirement: found '', expected: ',' or ')'\n"
    )
    assert (await get(c, "svc", output="toml"))[0] == 1


async def test_get_yaml_json_round_trip() -> None:
    c = await seeded()
    rc, out, _ = await get(c, "svc", "web", output="yaml")
    (obj,) = load_manifests(out)
    assert obj == await c.get("services", "web")
    rc, out, _ = await get(c, "svc", "web", "np", output="json")
    objs = load_manifests(out)
    assert [o["metadata"]["name"] for o in objs] == ["web", "np"]
    assert all(o["kind"] == "Service" and o["apiVersion"] == "v1" for o in objs)
    rc, out, _ = await get(c, "svc", output="yaml")
    assert out.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n")
    assert out.endswith('kind: List\nmetadata:\n  resourceVersion: ""\n')


async def test_get_watch_prints_rows_for_every_change() -> None:
    c = local_client()
    await c.create("services", service("first"))
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(run_get(c, ["svc"], watch=True, out=out, err=err, now=later(), stop=stop))

    async def until(pred) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not pred(out.getvalue()):
                await asyncio.sleep(0.01)

    await until(lambda s: "first" in s)
    await c.create("services", service("a-much-longer-name"))
    await until(lambda s: "a-much-longer-name" in s)
    await c.patch("services", "first", {"metadata": {"labels": {"x": "y"}}})
    await c.delete("services", "a-much-longer-name")
    await until(lambda s: s.count("a-much-longer-name") == 2 and s.count("first") == 2)
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT) == 0
    lines = out.getvalue().splitlines()
    assert [ln.split()[0] for ln in lines] == ["NAME", "first", "kubernetes", "a-much-longer-name", "first", "a-much-longer-name"]
    assert lines.count(lines[0]) == 1  # headers once
    # columns never shrink: rows after the long name keep its width
    assert lines[4].startswith("first" + " " * (len("a-much-longer-name") + 3 - len("first")))
    assert err.getvalue() == ""


async def test_get_watch_only_named_and_errors() -> None:
    c = local_client()
    await c.create("services", service("web"))
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(run_get(c, ["svc", "web"], watch_only=True, out=out, err=io.StringIO(), now=later(), stop=stop))
    await asyncio.sleep(0.05)
    await c.create("services", service("other"))
    await c.patch("services", "web", {"metadata": {"labels": {"x": "y"}}})
    async with asyncio.timeout(TIMEOUT):
        while "web" not in out.getvalue():
            await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(task, TIMEOUT) == 0
    assert [ln.split()[0] for ln in out.getvalue().splitlines()] == ["NAME", "web"]
    assert await get(c, "svc,ns", watch=True) == (1, "", "error: you may only specify a single resource type\n")
    assert await get(c, "svc", "nope", watch=True) == (1, "", 'Error from server (NotFound): services "nope" not found\n')


@pytest.mark.parametrize("output", ["name", "yaml"])
async def test_get_watch_other_outputs(output: str) -> None:
    c = local_client()
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(run_get(c, ["ns"], watch=True, output=output, out=out, err=io.StringIO(), stop=stop))
    await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "zz"}})
    async with asyncio.timeout(TIMEOUT):
        while "zz" not in out.getvalue():
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)
    if output == "name":
        assert out.getvalue().splitlines()[-1] == "namespace/zz"
    else:
        assert [o["metadata"]["name"] for o in load_manifests(out.getvalue())][-1] == "zz"


# --------------------------------------------------------------------------------------------
# the real edge: the svcnet CLI over HTTP to svcnet's API server, side by side with kubectl

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"


async def _run(*argv: str, env: dict) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


def _mask_age(text: str) -> str:
    """AGE cells tick between two runs: mask them, and since a wider age shifts the columns
    after it, compare the lines holding one token by token (all other lines stay exact)."""
    import re

    out = []
    for line in text.split("\n"):
        masked = re.sub(r"(?<=\s)(\d+[smhdy])+(?=\s|$)", "AGE", line)
        out.append(" ".join(masked.split()) if masked != line else line)
    return "\n".join(out)


@pytest.mark.kubectl
@pytest.mark.slow
async def test_cli_over_http_matches_kubectl(tmp_path) -> None:
    import os
    import sys

    if not os.path.exists(KUBECTL):
        pytest.skip(f"{KUBECTL} is not installed")
    from svcnet.controlplane import ControlPlane, ControlPlaneConfig

    cp = ControlPlane(ControlPlaneConfig(state="memory:", api_port=0, kubeconfig=str(tmp_path / "kubeconfig")))
    await cp.start()
    try:
        env = dict(os.environ, KUBECONFIG=str(cp.kubeconfig_path), HOME=str(tmp_path))
        svcnet = (sys.executable, "-m", "svcnet.cli.main")
        manifest = tmp_path / "svc.yaml"
        manifest.write_text(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  selector: {app: web}\n"
            "  ports:\n  - {name: http, port: 80, targetPort: 8080}\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n  - port: 0\n"
        )
        rc, out, err = await _run(*svcnet, "apply", "-f", str(manifest), env=env)
        assert (rc, out) == (1, "service/web created\n")
        assert err.startswith('The Service "bad" is invalid: ')
        rc, out, err = await _run(KUBECTL, "apply", "-f", str(manifest), env=env)
        assert (rc, out) == (1, "service/web unchanged\n")
        for args in (["get", "svc"], ["get", "svc", "-o", "wide", "--show-labels"], ["get", "svc,ns"], ["get", "all", "-A"],
                     ["get", "svc", "web", "-o", "yaml"], ["get", "svc", "-o", "json"], ["get", "svc", "web", "nope"],
                     ["describe", "svc", "web"], ["describe", "svc", "kube"], ["get", "pods"], ["get", "endpointslices"]):
            mine = await _run(*svcnet, *args, env=env)
            theirs = await _run(KUBECTL, *args, env=env)
            assert (mine[0], _mask_age(mine[1]), mine[2]) == (theirs[0], _mask_age(theirs[1]), theirs[2]), args
        assert await _run(*svcnet, "delete", "svc", "web", "nope", env=env) == (1, 'service "web" deleted\n', 'Error from server (NotFound): services "nope" not found\n')
    finally:
        await cp.stop()
