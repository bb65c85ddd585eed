"""The API server's REST surface over real HTTP(S): a real :class:`ControlPlane` (SQLite state,
TLS, token auth) on 127.0.0.1 with a free port, spoken to with raw aiohttp and with the project's
:class:`~svcnet.client.http.HTTPTransport`.

What a kube-apiserver answers is the reference: discovery documents, list/watch semantics
(selectors, ``limit``/``continue``, ``resourceVersion``, bookmarks, 410 ``Expired``), the three
patch formats as kubectl sends them, graceful pod deletion, ``dryRun=All``, ``Status`` errors,
the server-side ``Table``, 401/403 with the RBAC wording, and every service-api.md section 7
vector of the "validation" and "registry" layers (tests/vectors/service_api_7.json) sent as a
real POST/PUT, with the exact 422 message and nothing stored for the rejected ones.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import json
import re
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from svcnet.api.errors import Conflict, Expired, Invalid, NotFound
from svcnet.apiserver.auth import write_token_file
from svcnet.apiserver.registry import ClusterConfig, Registry
from svcnet.apiserver.watch import RegistryWatch
from svcnet.apiserver.server import APIServer
from svcnet.client.base import Client
from svcnet.client.http import HTTPTransport, client_from_kubeconfig
from svcnet.client.kubeconfig import ClusterAccess, load_kubeconfig
from svcnet.controlplane import ControlPlane, ControlPlaneConfig
from svcnet.store.sqlite import SqliteStore

TIMEOUT = 10.0
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "service_api_7.json").read_text())
SVC_CIDR = VECTORS["cluster"]["serviceCIDR"]
NODE_PORTS = tuple(int(x) for x in VECTORS["cluster"]["nodePortRange"].split("-"))


# ---------------------------------------------------------------------------------------------
# fixtures


class API:
    """Raw HTTP against the server: ``await api.call(method, path, body=..., token=...)`` returns
    ``(status, parsed JSON body or text)``."""

    def __init__(self, url: str, session: aiohttp.ClientSession, admin: str, viewer: str):
        self.url = url
        self.session = session
        self.admin = admin
        self.viewer = viewer

    def headers(self, token: str | None = "admin", extra: dict | None = None) -> dict:
        h = {"Accept": "application/json"}
        tok = {"admin": self.admin, "viewer": self.viewer}.get(token or "", token)
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        h.update(extra or {})
        return h

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = "admin",
        content_type: str = "application/json",
        headers: dict | None = None,
        params: dict | None = None,
    ) -> tuple[int, Any]:
        h = self.headers(token, headers)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
            h["Content-Type"] = content_type
        async with self.session.request(
            method, self.url + path, data=data, headers=h, params=params, timeout=aiohttp.ClientTimeout(total=TIMEOUT)
        ) as resp:
            raw = await resp.read()
            try:
                return resp.status, orjson.loads(raw)
            except orjson.JSONDecodeError:
                return resp.status, raw.decode(errors="replace")


def _ssl_for(access: ClusterAccess) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    assert access.ca_data
    ctx.load_verify_locations(cadata=access.ca_data.decode())
    return ctx


async def start_control_plane(tmp_path: Path, *, service_cidr: str = SVC_CIDR, name: str = "cp") -> ControlPlane:
    d = tmp_path / name
    cp = ControlPlane(
        ControlPlaneConfig(
            state=str(d / "state.db"),
            api_port=0,
            kubeconfig=str(d / "kubeconfig"),
            service_cidrs=(service_cidr,),
            node_port_range=NODE_PORTS,
        )
    )
    await cp.start()
    return cp


@pytest.fixture
async def cp(tmp_path):
    cp = await start_control_plane(tmp_path)
    yield cp
    await cp.stop()


@pytest.fixture
async def api(cp):
    access = load_kubeconfig(str(cp.kubeconfig_path))
    admin, viewer = write_token_file(cp.files_dir / "tokens.csv")  # an existing file is only read
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl_for(access))) as s:
        yield API(access.server, s, admin, viewer)


@pytest.fixture
async def client(cp):
    c = client_from_kubeconfig(str(cp.kubeconfig_path))
    yield c
    await c.close()


def svc(name: str = "web", *, labels: dict | None = None, port: int = 80, **spec: Any) -> dict:
    md: dict = {"name": name}
    if labels:
        md["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": md,
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": 8080}], **spec},
    }


def pod(name: str, *, node: str | None = "n1", labels: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "app", "image": "img", "ports": [{"name": "http", "containerPort": 8080}]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}}, "spec": spec}


SVCS = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"


async def readline(resp: aiohttp.ClientResponse, timeout: float = TIMEOUT) -> dict:
    """The next watch frame (a line of JSON); fails the test after ``timeout``."""
    while True:
        line = await asyncio.wait_for(resp.content.readline(), timeout)
        assert line, "watch stream ended"
        if line.strip():
            return orjson.loads(line)


async def frames_until(resp: aiohttp.ClientResponse, pred, timeout: float = TIMEOUT) -> list[dict]:
    """Frames up to and including the first for which ``pred(frame)`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    out = []
    while True:
        f = await readline(resp, max(0.01, deadline - loop.time()))
        out.append(f)
        if pred(f):
            return out


# ---------------------------------------------------------------------------------------------
# discovery


async def test_discovery_documents_describe_the_served_resources(api):
    st, root = await api.call("GET", "/")
    assert st == 200 and "/api/v1" in root["paths"] and "/apis/discovery.k8s.io/v1" in root["paths"]

    st, doc = await api.call("GET", "/api")
    assert st == 200 and doc["kind"] == "APIVersions" and doc["versions"] == ["v1"]

    st, doc = await api.call("GET", "/apis")
    assert st == 200 and doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    assert groups["discovery.k8s.io"]["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1"
    assert "apps" in groups

    st, doc = await api.call("GET", "/api/v1")
    assert st == 200 and doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    res = {r["name"]: r for r in doc["resources"]}
    assert res["services"]["kind"] == "Service" and res["services"]["namespaced"] is True
    assert res["services"]["shortNames"] == ["svc"]
    assert "watch" in res["services"]["verbs"] and "patch" in res["services"]["verbs"]
    assert res["services/status"]["verbs"] == ["get", "patch", "update"]
    assert res["pods/binding"]["verbs"] == ["create"]
    assert res["namespaces"]["namespaced"] is False

    st, doc = await api.call("GET", "/apis/discovery.k8s.io/v1")
    assert st == 200 and [r["name"] for r in doc["resources"]] == ["endpointslices"]

    st, doc = await api.call("GET", "/apis/discovery.k8s.io")
    assert st == 200 and doc["kind"] == "APIGroup" and doc["name"] == "discovery.k8s.io"

    st, doc = await api.call("GET", "/apis/nosuch.example.com/v1")
    assert st == 404 and doc["reason"] == "NotFound"


async def test_version_and_health_need_no_token(api):
    st, doc = await api.call("GET", "/version", token=None)
    assert st == 200 and doc["major"] == "1" and doc["gitVersion"].startswith("v1.")
    for p in ("/healthz", "/livez", "/readyz"):
        st, body = await api.call("GET", p, token=None)
        assert (st, body) == (200, "ok")


async def test_openapi_documents_list_kinds_and_query_parameters(api):
    st, v2 = await api.call("GET", "/openapi/v2")
    assert st == 200 and v2["swagger"] == "2.0"
    assert "io.k8s.api.core.v1.Service" in v2["definitions"]

    st, idx = await api.call("GET", "/openapi/v3")
    assert st == 200 and "api/v1" in idx["paths"] and "apis/discovery.k8s.io/v1" in idx["paths"]
    url = idx["paths"]["api/v1"]["serverRelativeURL"]
    st, gv = await api.call("GET", url)
    assert st == 200 and gv["openapi"].startswith("3.")
    put = gv["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["put"]
    assert "fieldValidation" in {p["name"] for p in put["parameters"]}
    assert gv["components"]["schemas"]["io.k8s.api.core.v1.Service"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "Service"}
    ]


async def test_openapi_v2_protobuf_is_a_parseable_document(api):
    """kubectl <= 1.27 asks for the gnostic protobuf form of /openapi/v2 (and fails on JSON)."""
    h = api.headers(extra={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    async with api.session.get(api.url + "/openapi/v2", headers=h) as resp:
        assert resp.status == 200
        # the dotted spelling: client-go cannot parse an "@" in a response Content-Type
        assert resp.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        raw = await resp.read()
    fields = _proto_fields(raw)
    assert fields[1] == [b"2.0"]  # Document.swagger
    info = _proto_fields(fields[2][0])  # Document.info
    assert info[1] and info[2]  # title, version


def _proto_fields(buf: bytes) -> dict[int, list[bytes]]:
    """Decode one protobuf message's length-delimited fields (enough to check the document)."""
    out: dict[int, list[bytes]] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        shift = v = 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        assert wire == 2, f"unexpected wire type {wire}"
        n = varint()
        out.setdefault(field, []).append(buf[i : i + n])
        i += n
    return out


# ---------------------------------------------------------------------------------------------
# GET / LIST


async def test_get_and_list_with_label_and_field_selectors(api, client):
    await client.create("services", svc("a", labels={"tier": "front", "env": "prod"}))
    await client.create("services", svc("b", labels={"tier": "back", "env": "prod"}))
    await client.create("services", svc("c", labels={"tier": "front", "env": "dev"}))

    st, obj = await api.call("GET", f"{SVCS}/a")
    assert st == 200 and obj["kind"] == "Service" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["name"] == "a" and ipaddress.ip_address(obj["spec"]["clusterIP"]) in ipaddress.ip_network(SVC_CIDR)

    async def names(**params: str) -> list[str]:
        st, lst = await api.call("GET", SVCS, params=params)
        assert st == 200, lst
        assert lst["kind"] == "ServiceList" and int(lst["metadata"]["resourceVersion"]) > 0
        return [o["metadata"]["name"] for o in lst["items"]]

    assert await names() == ["a", "b", "c", "kubernetes"]
    assert await names(labelSelector="tier=front") == ["a", "c"]
    assert await names(labelSelector="tier=front,env!=dev") == ["a"]
    assert await names(labelSelector="env in (dev,test)") == ["c"]
    assert await names(labelSelector="!tier") == ["kubernetes"]
    assert await names(fieldSelector="metadata.name=b") == ["b"]
    assert await names(fieldSelector="metadata.name!=b", labelSelector="env=prod") == ["a"]
    assert await names(fieldSelector="metadata.namespace=default", labelSelector="tier") == ["a", "b", "c"]

    # across namespaces, and cluster-scoped resources
    st, lst = await api.call("GET", "/api/v1/services", params={"labelSelector": "tier=back"})
    assert st == 200 and [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in lst["items"]] == [("default", "b")]
    st, lst = await api.call("GET", "/api/v1/namespaces")
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= {o["metadata"]["name"] for o in lst["items"]}

    # the HTTP transport sends the same selectors
    lst = await client.list("services", "default", label_selector="tier=front", field_selector="metadata.name=c")
    assert [o["metadata"]["name"] for o in lst["items"]] == ["c"]

    # bad selectors are 400s
    st, body = await api.call("GET", SVCS, params={"labelSelector": "a in (b"})
    assert st == 400 and body["reason"] == "BadRequest"


async def test_list_pages_with_limit_and_continue(api, client):
    for i in range(7):
        await client.create("services", svc(f"s{i}"))
    st, page = await api.call("GET", SVCS, params={"limit": "3"})
    assert st == 200
    got = [o["metadata"]["name"] for o in page["items"]]
    assert got == ["kubernetes", "s0", "s1"]
    assert page["metadata"]["remainingItemCount"] == 5
    rv = page["metadata"]["resourceVersion"]
    names = list(got)
    token = page["metadata"]["continue"]
    while token:
        st, page = await api.call("GET", SVCS, params={"limit": "3", "continue": token})
        assert st == 200
        assert page["metadata"]["resourceVersion"] == rv  # pages report the first page's version
        names += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["kubernetes"] + [f"s{i}" for i in range(7)]

    # the same through the client
    seen, cont = [], None
    while True:
        lst = await client.list("services", "default", limit=4, continue_=cont)
        seen += [o["metadata"]["name"] for o in lst["items"]]
        cont = lst["metadata"].get("continue")
        if not cont:
            break
    assert seen == names

    st, body = await api.call("GET", SVCS, params={"limit": "2", "continue": "not-a-token"})
    assert st == 400 and body["reason"] == "BadRequest"


# ---------------------------------------------------------------------------------------------
# WATCH


async def test_watch_from_resource_version_streams_changes_in_order(api, client):
    await client.create("services", svc("before"))
    st, lst = await api.call("GET", SVCS)
    rv = lst["metadata"]["resourceVersion"]
    async with api.session.get(
        api.url + SVCS, params={"watch": "1", "resourceVersion": rv}, headers=api.headers()
    ) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        await client.create("services", svc("w1"))
        await client.patch("services", "w1", {"metadata": {"labels": {"x": "y"}}})
        await client.delete("services", "w1")
        frames = [await readline(resp) for _ in range(3)]
    assert [(f["type"], f["object"]["metadata"]["name"]) for f in frames] == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    rvs = [int(f["object"]["metadata"]["resourceVersion"]) for f in frames]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert frames[1]["object"]["metadata"]["labels"] == {"x": "y"}
    assert all(f["object"]["kind"] == "Service" for f in frames)


async def test_watch_without_resource_version_starts_with_the_current_state(api, client):
    await client.create("services", svc("existing"))
    async with api.session.get(api.url + SVCS, params={"watch": "true"}, headers=api.headers()) as resp:
        first = [await readline(resp) for _ in range(2)]
        assert {(f["type"], f["object"]["metadata"]["name"]) for f in first} == {("ADDED", "existing"), ("ADDED", "kubernetes")}
        await client.create("services", svc("new"))
        f = await readline(resp)
    assert (f["type"], f["object"]["metadata"]["name"]) == ("ADDED", "new")


async def test_watch_with_selector_sends_objects_leaving_it_as_deleted(api, client):
    await client.create("services", svc("sel", labels={"team": "a"}))
    st, lst = await api.call("GET", SVCS)
    params = {"watch": "1", "resourceVersion": lst["metadata"]["resourceVersion"], "labelSelector": "team=a"}
    async with api.session.get(api.url + SVCS, params=params, headers=api.headers()) as resp:
        await client.create("services", svc("other", labels={"team": "b"}))  # never seen
        await client.patch("services", "sel", {"metadata": {"labels": {"team": "b"}}})  # leaves
        await client.patch("services", "other", {"metadata": {"labels": {"team": "a"}}})  # enters
        frames = [await readline(resp) for _ in range(2)]
    assert [(f["type"], f["object"]["metadata"]["name"]) for f in frames] == [("DELETED", "sel"), ("ADDED", "other")]


async def test_watch_sends_bookmarks_when_allowed(api, client, monkeypatch):
    monkeypatch.setattr(RegistryWatch, "BOOKMARK_INTERVAL", 0.2)
    await client.create("services", svc("bm"))
    st, lst = await api.call("GET", SVCS)
    rv = int(lst["metadata"]["resourceVersion"])
    params = {"watch": "1", "resourceVersion": str(rv), "allowWatchBookmarks": "true"}
    async with api.session.get(api.url + SVCS, params=params, headers=api.headers()) as resp:
        await client.create("pods", pod("unrelated", node=None))  # another resource moves the revision
        frames = await frames_until(resp, lambda f: f["type"] == "BOOKMARK")
    bm = frames[-1]
    assert bm["object"]["kind"] == "Service" and bm["object"]["apiVersion"] == "v1"
    assert int(bm["object"]["metadata"]["resourceVersion"]) >= rv
    assert [f for f in frames if f["type"] != "BOOKMARK"] == []  # the pod is not a service event

    # without allowWatchBookmarks no bookmark comes, even idle
    async with api.session.get(api.url + SVCS, params={"watch": "1", "resourceVersion": str(rv), "timeoutSeconds": "1"}, headers=api.headers()) as resp:
        rest = await asyncio.wait_for(resp.content.read(), TIMEOUT)
    assert rest.strip() == b""  # timeoutSeconds ended the idle stream with nothing sent


async def test_watch_from_a_compacted_version_gets_410_expired(tmp_path):
    """A store with a tiny history: a watch (or a continue token) from before it is 410."""
    store = SqliteStore(tmp_path / "small.db", history=3, compact_every=1)
    reg = Registry(store, ClusterConfig(service_cidrs=(SVC_CIDR,)))
    reg.bootstrap()
    server = APIServer(reg, host="127.0.0.1", port=0)  # no auth, plain HTTP
    await server.start()
    client = Client(HTTPTransport(ClusterAccess(server=server.url)))
    try:
        await client.create("services", svc("old"))
        page = await client.list("services", "default", limit=1)
        first_rv = int(page["metadata"]["resourceVersion"])
        for i in range(8):
            await client.patch("services", "old", {"metadata": {"labels": {"n": str(i)}}})
        assert store.oldest_revision() > first_rv

        async with aiohttp.ClientSession() as s:
            async with s.get(server.url + SVCS, params={"watch": "1", "resourceVersion": str(first_rv)}) as resp:
                assert resp.status == 200  # as upstream: the error arrives as a watch event
                f = await readline(resp)
                assert await asyncio.wait_for(resp.content.read(), TIMEOUT) == b""  # then the stream ends
            assert f["type"] == "ERROR"
            st = f["object"]
            assert (st["kind"], st["code"], st["reason"], st["status"]) == ("Status", 410, "Expired", "Failure")
            assert re.fullmatch(rf"too old resource version: {first_rv} \(\d+\)", st["message"]), st["message"]

            # a continue token from before the compaction is a 410 response
            async with s.get(server.url + SVCS, params={"limit": "1", "continue": page["metadata"]["continue"]}) as resp:
                assert resp.status == 410
                body = await resp.json()
            assert body["reason"] == "Expired" and "continue parameter is too old" in body["message"]

        # the HTTP transport raises Expired for both
        with pytest.raises(Expired):
            async for _ in client.watch("services", "default", resource_version=str(first_rv)):
                pass
        with pytest.raises(Expired):
            await client.list("services", "default", limit=1, continue_=page["metadata"]["continue"])
        # the current version still works
        ok = await client.list("services", "default")
        assert {o["metadata"]["name"] for o in ok["items"]} == {"kubernetes", "old"}
    finally:
        await client.close()
        await server.stop()
        store.close()


# ---------------------------------------------------------------------------------------------
# writes


async def test_post_put_and_patch_merge_and_json(api, client):
    st, created = await api.call("POST", SVCS, body=svc("rw"))
    assert st == 201 and created["metadata"]["resourceVersion"] and created["metadata"]["uid"]
    assert created["spec"]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]

    upd = copy.deepcopy(created)
    upd["spec"]["selector"] = {"app": "other"}
    st, put = await api.call("PUT", f"{SVCS}/rw", body=upd)
    assert st == 200 and put["spec"]["selector"] == {"app": "other"}
    assert int(put["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert put["spec"]["clusterIP"] == created["spec"]["clusterIP"]

    st, merged = await api.call(
        "PATCH", f"{SVCS}/rw", body={"metadata": {"labels": {"a": "1"}}, "spec": {"selector": {"app": None, "tier": "x"}}},
        content_type="application/merge-patch+json",
    )
    assert st == 200 and merged["metadata"]["labels"] == {"a": "1"} and merged["spec"]["selector"] == {"tier": "x"}

    st, jp = await api.call(
        "PATCH", f"{SVCS}/rw",
        body=[{"op": "test", "path": "/spec/selector/tier", "value": "x"}, {"op": "add", "path": "/metadata/labels/b", "value": "2"}, {"op": "remove", "path": "/metadata/labels/a"}],
        content_type="application/json-patch+json",
    )
    assert st == 200 and jp["metadata"]["labels"] == {"b": "2"}

    st, body = await api.call(
        "PATCH", f"{SVCS}/rw", body=[{"op": "test", "path": "/spec/selector/tier", "value": "nope"}], content_type="application/json-patch+json"
    )
    assert st == 422 and body["reason"] == "Invalid"

    st, body = await api.call("PATCH", f"{SVCS}/rw", body={"x": 1}, content_type="text/plain")
    assert st == 415 and body["reason"] == "UnsupportedMediaType"

    # the transport's patch types are the same three
    got = await client.patch("services", "rw", [{"op": "replace", "path": "/metadata/labels/b", "value": "3"}], patch_type="json")
    assert got["metadata"]["labels"] == {"b": "3"}


async def test_strategic_merge_patch_as_kubectl_apply_sends_it(api, client):
    """The patch ``kubectl apply`` computes when a manifest's port changes from 80 to 81 and a
    second port appears: ``$setElementOrder`` for the new order, ``$patch: delete`` for the port
    that went (ports merge by ``port``)."""
    await client.create("services", svc("smp"))
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "$setElementOrder/ports": [{"port": 9090}, {"port": 81}],
            "ports": [
                {"name": "http", "port": 81, "targetPort": 8080},
                {"name": "metrics", "port": 9090, "targetPort": 9090},
                {"$patch": "delete", "port": 80},
            ],
        },
    }
    st, out = await api.call("PATCH", f"{SVCS}/smp", body=patch, content_type="application/strategic-merge-patch+json")
    assert st == 200, out
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in out["spec"]["ports"]] == [
        ("metrics", 9090, 9090, "TCP"),
        ("http", 81, 8080, "TCP"),
    ]
    assert out["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}
    assert out["spec"]["selector"] == {"app": "smp"}  # untouched by the patch

    # a map entry deleted with null, a list element merged by its key
    st, out = await api.call(
        "PATCH", f"{SVCS}/smp",
        body={"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": None}}, "spec": {"ports": [{"port": 81, "targetPort": 8081}]}},
        content_type="application/strategic-merge-patch+json",
    )
    assert st == 200
    assert not out["metadata"].get("annotations")
    assert {p["port"]: p["targetPort"] for p in out["spec"]["ports"]} == {9090: 9090, 81: 8081}


async def test_delete_pods_gracefully_and_other_objects_at_once(api, client):
    # a scheduled pod is marked for deletion and stays until the kubelet (or grace 0) removes it
    await client.create("pods", pod("p1"))
    st, out = await api.call("DELETE", f"{PODS}/p1")
    assert st == 200 and out["metadata"]["deletionTimestamp"] and out["metadata"]["deletionGracePeriodSeconds"] == 30
    st, still = await api.call("GET", f"{PODS}/p1")
    assert st == 200 and still["metadata"]["deletionTimestamp"]
    # a second delete may shorten the grace period
    st, out = await api.call("DELETE", f"{PODS}/p1", body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5})
    assert st == 200 and out["metadata"]["deletionGracePeriodSeconds"] == 5
    st, out = await api.call("DELETE", f"{PODS}/p1", params={"gracePeriodSeconds": "0"})
    assert st == 200
    st, body = await api.call("GET", f"{PODS}/p1")
    assert st == 404 and body["message"] == 'pods "p1" not found'

    # an unscheduled pod goes at once
    await client.create("pods", pod("p2", node=None))
    st, _ = await api.call("DELETE", f"{PODS}/p2")
    assert st == 200
    assert (await api.call("GET", f"{PODS}/p2"))[0] == 404

    # a service goes at once, and a second delete is a 404
    await client.create("services", svc("gone"))
    st, out = await api.call("DELETE", f"{SVCS}/gone")
    assert st == 200 and out["metadata"]["name"] == "gone"
    st, body = await api.call("DELETE", f"{SVCS}/gone")
    assert st == 404 and body["reason"] == "NotFound"

    # a delete with a stale resourceVersion precondition is a conflict
    s = await client.create("services", svc("pre"))
    await client.patch("services", "pre", {"metadata": {"labels": {"v": "2"}}})
    st, body = await api.call(
        "DELETE", f"{SVCS}/pre", body={"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": s["metadata"]["resourceVersion"]}}
    )
    assert st == 409 and body["reason"] == "Conflict"
    assert (await api.call("GET", f"{SVCS}/pre"))[0] == 200


async def test_dry_run_all_creates_updates_and_deletes_nothing(api, client):
    st, lst = await api.call("GET", SVCS)
    rv0 = lst["metadata"]["resourceVersion"]
    st, out = await api.call("POST", SVCS, body=svc("dry", type="NodePort"), params={"dryRun": "All"})
    assert st == 201 and out["metadata"]["name"] == "dry" and out["spec"]["type"] == "NodePort"
    assert (await api.call("GET", f"{SVCS}/dry"))[0] == 404

    # an invalid dry run still answers 422
    st, body = await api.call("POST", SVCS, body=svc("dry", port=0), params={"dryRun": "All"})
    assert st == 422

    real = await client.create("services", svc("real"))
    upd = copy.deepcopy(real)
    upd["spec"]["selector"] = {"app": "changed"}
    st, out = await api.call("PUT", f"{SVCS}/real", body=upd, params={"dryRun": "All"})
    assert st == 200 and out["spec"]["selector"] == {"app": "changed"}
    st, out = await api.call("PATCH", f"{SVCS}/real", body={"metadata": {"labels": {"x": "1"}}}, content_type="application/merge-patch+json", params={"dryRun": "All"})
    assert st == 200 and out["metadata"]["labels"] == {"x": "1"}
    st, _ = await api.call("DELETE", f"{SVCS}/real", params={"dryRun": "All"})
    assert st == 200
    st, now = await api.call("GET", f"{SVCS}/real")
    assert st == 200 and now == {**real, "kind": "Service", "apiVersion": "v1"}
    # through the transport too
    await client.create("services", svc("dry2"), dry_run=True)
    with pytest.raises(NotFound):
        await client.get("services", "dry2")
    st, lst = await api.call("GET", SVCS)
    assert sorted(o["metadata"]["name"] for o in lst["items"]) == ["kubernetes", "real"]
    assert int(lst["metadata"]["resourceVersion"]) == int(rv0) + 1  # only the real create wrote


# ---------------------------------------------------------------------------------------------
# Status errors


async def test_status_errors_422_404_409_and_400(api, client):
    st, body = await api.call("POST", SVCS, body=svc("bad", port=70000))
    assert st == 422
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["reason"] == "Invalid" and body["code"] == 422
    assert body["message"] == 'Service "bad" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive'
    assert body["details"] == {
        "name": "bad",
        "kind": "Service",
        "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: 70000: must be between 1 and 65535, inclusive", "field": "spec.ports[0].port"}],
    }
    with pytest.raises(Invalid) as ei:
        await client.create("services", svc("bad", port=70000))
    assert [str(e) for e in ei.value.errors] == ["spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"]

    st, body = await api.call("GET", f"{SVCS}/nosuch")
    assert st == 404 and body["message"] == 'services "nosuch" not found' and body["details"] == {"name": "nosuch", "kind": "services"}
    st, body = await api.call("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/nosuch")
    assert st == 404 and body["message"] == 'endpointslices.discovery.k8s.io "nosuch" not found'
    st, body = await api.call("GET", "/api/v1/nosuchresource")
    assert st == 404
    st, body = await api.call("POST", "/api/v1/namespaces/nosuchns/services", body=svc("x"))
    assert st == 404 and body["message"] == 'namespaces "nosuchns" not found'

    created = await client.create("services", svc("dup"))
    st, body = await api.call("POST", SVCS, body=svc("dup"))
    assert st == 409 and body["reason"] == "AlreadyExists" and body["message"] == 'services "dup" already exists'

    # 409 Conflict on a stale resourceVersion
    await client.patch("services", "dup", {"metadata": {"labels": {"v": "2"}}})
    stale = copy.deepcopy(created)
    stale["spec"]["selector"] = {"app": "stale"}
    st, body = await api.call("PUT", f"{SVCS}/dup", body=stale)
    assert st == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on services "dup": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    with pytest.raises(Conflict):
        await client.update("services", stale)
    st, body = await api.call(
        "PATCH", f"{SVCS}/dup", body={"metadata": {"resourceVersion": created["metadata"]["resourceVersion"], "labels": {"v": "3"}}},
        content_type="application/merge-patch+json",
    )
    assert st == 409 and body["reason"] == "Conflict"

    # 400s: bad body, mismatched name, resourceVersion on create
    st, body = await api.call("POST", SVCS, body=b"{not json")
    assert st == 400 and body["reason"] == "BadRequest"
    st, body = await api.call("PUT", f"{SVCS}/dup", body=svc("other"))
    assert st == 400
    with_rv = svc("withrv")
    with_rv["metadata"]["resourceVersion"] = "5"
    st, body = await api.call("POST", SVCS, body=with_rv)
    assert st == 400
    assert (await api.call("GET", f"{SVCS}/withrv"))[0] == 404


async def test_protobuf_bodies_are_refused_with_415(api):
    """svcnet speaks JSON only: a protobuf body (what typed client-go clients send) gets 415,
    not a confusing decode error."""
    st, body = await api.call("POST", SVCS, body=b"k8s\x00\n\x0b\n\x02v1", content_type="application/vnd.kubernetes.protobuf")
    assert st == 415 and body["reason"] == "UnsupportedMediaType"
    assert "application/json" in body["message"]


# ---------------------------------------------------------------------------------------------
# Table


async def test_table_format_for_services_endpointslices_and_pods(api, client):
    await client.create("services", svc("tbl", type="NodePort"))
    await client.create("pods", pod("tp"))
    p = await client.get("pods", "tp")
    p["status"].update(phase="Running", podIP="10.244.1.5", podIPs=[{"ip": "10.244.1.5"}],
                       conditions=[{"type": "Ready", "status": "True"}],
                       containerStatuses=[{"name": "app", "ready": True, "restartCount": 0, "image": "img", "imageID": "", "started": True, "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}}}])
    await client.update_status("pods", p)
    await client.create("endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "tbl-abc", "labels": {"kubernetes.io/service-name": "tbl"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}],
    })

    async def table(path: str, **params: str) -> dict:
        st, t = await api.call("GET", path, headers={"Accept": TABLE}, params=params or None)
        assert st == 200, t
        assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
        return t

    t = await table(SVCS)
    cols = [c["name"] for c in t["columnDefinitions"]]
    assert cols == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert [c["priority"] for c in t["columnDefinitions"]] == [0, 0, 0, 0, 0, 0, 1]
    rows = {r["cells"][0]: r for r in t["rows"]}
    cells = rows["tbl"]["cells"]
    tbl = await client.get("services", "tbl")
    node_port = tbl["spec"]["ports"][0]["nodePort"]
    assert cells[:5] == ["tbl", "NodePort", tbl["spec"]["clusterIP"], "<none>", f"80:{node_port}/TCP"]
    assert cells[6] == "app=tbl"
    assert rows["tbl"]["object"]["kind"] == "PartialObjectMetadata"
    assert rows["tbl"]["object"]["metadata"]["name"] == "tbl"
    assert t["metadata"]["resourceVersion"]

    t = await table("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    rows = {r["cells"][0]: r["cells"] for r in t["rows"]}
    assert rows["tbl-abc"][:4] == ["tbl-abc", "IPv4", "8080", "10.244.1.5"]

    t = await table(PODS)
    assert [c["name"] for c in t["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    rows = {r["cells"][0]: r["cells"] for r in t["rows"]}
    assert rows["tp"][:4] == ["tp", "1/1", "Running", "0"]  # a string upstream too ("1 (5m ago)")
    cols = [c["name"] for c in t["columnDefinitions"]]
    assert rows["tp"][cols.index("IP")] == "10.244.1.5" and rows["tp"][cols.index("Node")] == "n1"

    # a single object, includeObject=Object, and a watch as Table
    t = await table(f"{SVCS}/tbl", includeObject="Object")
    assert len(t["rows"]) == 1 and t["rows"][0]["object"]["spec"]["type"] == "NodePort"
    st, body = await api.call("GET", SVCS, headers={"Accept": TABLE}, params={"includeObject": "Bogus"})
    assert st == 400

    st, lst = await api.call("GET", SVCS)
    params = {"watch": "1", "resourceVersion": lst["metadata"]["resourceVersion"]}
    async with api.session.get(api.url + SVCS, params=params, headers=api.headers(extra={"Accept": TABLE})) as resp:
        await client.create("services", svc("tw1"))
        await client.create("services", svc("tw2"))
        f1, f2 = await readline(resp), await readline(resp)
    assert f1["type"] == "ADDED" and f1["object"]["kind"] == "Table"
    assert f1["object"]["rows"][0]["cells"][0] == "tw1" and len(f1["object"]["columnDefinitions"]) == 7
    # later events leave the column definitions out, as the kube-apiserver does
    assert f2["object"]["rows"][0]["cells"][0] == "tw2" and not f2["object"]["columnDefinitions"]


# ---------------------------------------------------------------------------------------------
# authentication and authorization


async def test_unauthenticated_requests_get_401(api):
    for method, path, body in (
        ("POST", SVCS, svc("anon")),
        ("PUT", f"{SVCS}/kubernetes", svc("kubernetes")),
        ("DELETE", f"{SVCS}/kubernetes", None),
        ("GET", SVCS, None),
    ):
        st, resp = await api.call(method, path, body=body, token=None)
        assert st == 401, (method, path)
        assert resp == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    st, _ = await api.call("POST", SVCS, body=svc("anon"), token="not-a-token")
    assert st == 401
    assert (await api.call("GET", f"{SVCS}/anon"))[0] == 404


async def test_read_only_token_may_read_but_writes_get_403(api, client):
    await client.create("services", svc("ro"))
    st, _ = await api.call("GET", f"{SVCS}/ro", token="viewer")
    assert st == 200
    st, _ = await api.call("GET", "/api/v1/services", token="viewer")
    assert st == 200

    cases = [
        ("POST", SVCS, svc("ro2"), "application/json",
         'services is forbidden: User "viewer" cannot create resource "services" in API group "" in the namespace "default"'),
        ("PUT", f"{SVCS}/ro", svc("ro"), "application/json",
         'services "ro" is forbidden: User "viewer" cannot update resource "services" in API group "" in the namespace "default"'),
        ("PATCH", f"{SVCS}/ro", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json",
         'services "ro" is forbidden: User "viewer" cannot patch resource "services" in API group "" in the namespace "default"'),
        ("DELETE", f"{SVCS}/ro", None, "application/json",
         'services "ro" is forbidden: User "viewer" cannot delete resource "services" in API group "" in the namespace "default"'),
        ("DELETE", SVCS, None, "application/json",
         'services is forbidden: User "viewer" cannot deletecollection resource "services" in API group "" in the namespace "default"'),
        ("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", {"metadata": {"name": "e"}}, "application/json",
         'endpointslices.discovery.k8s.io is forbidden: User "viewer" cannot create resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default"'),
        ("POST", "/api/v1/namespaces", {"metadata": {"name": "ns1"}}, "application/json",
         'namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope'),
    ]
    for method, path, body, ctype, message in cases:
        st, resp = await api.call(method, path, body=body, token="viewer", content_type=ctype)
        assert st == 403, (method, path, resp)
        assert resp["reason"] == "Forbidden" and resp["code"] == 403
        assert resp["message"] == message
    # nothing changed
    st, obj = await api.call("GET", f"{SVCS}/ro")
    assert st == 200 and not obj["metadata"].get("labels")
    assert (await api.call("GET", f"{SVCS}/ro2"))[0] == 404


# ---------------------------------------------------------------------------------------------
# service-api.md section 7 through HTTP

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ABSENT = object()


def get_path(obj: Any, path: str) -> Any:
    for name, idx in _TOKEN.findall(path):
        if name:
            if not isinstance(obj, dict) or name not in obj:
                return _ABSENT
            obj = obj[name]
        else:
            i = int(idx)
            if not isinstance(obj, list) or i >= len(obj):
                return _ABSENT
            obj = obj[i]
    return obj


def _in_range(value: Any, lo: Any, hi: Any) -> bool:
    if isinstance(lo, str):
        return ipaddress.ip_address(lo) <= ipaddress.ip_address(value) <= ipaddress.ip_address(hi)
    return int(lo) <= int(value) <= int(hi)


VECTOR_CASES = [
    pytest.param(c, id=c["id"])
    for c in VECTORS["cases"]
    if c["layer"] in ("validation", "registry") and not c.get("pure_only")
]


@pytest.mark.parametrize("case", VECTOR_CASES)
async def test_section_7_vector_through_http(case, tmp_path):
    cp = await start_control_plane(tmp_path)
    access = load_kubeconfig(str(cp.kubeconfig_path))
    admin, viewer = write_token_file(cp.files_dir / "tokens.csv")
    ns = VECTORS["cluster"]["namespace"]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl_for(access))) as s:
            api = API(access.server, s, admin, viewer)
            previous: dict[tuple[str, str], dict] = {}
            for i, (step, expect) in enumerate(zip(case["objects"], case["expect"], strict=True)):
                obj = step["object"]
                kind, name = obj["kind"], obj["metadata"]["name"]
                assert kind == "Service"
                base = f"/api/v1/namespaces/{ns}/services"
                before = await api.call("GET", f"{base}/{name}")
                if step["op"] == "create":
                    st, body = await api.call("POST", base, body=obj)
                    ok_code = 201
                else:
                    st, body = await api.call("PUT", f"{base}/{name}", body=obj)
                    ok_code = 200
                where = f"{case['id']} step {i}"
                if expect == "ok" or (isinstance(expect, dict) and expect.get("ok")):
                    assert st == ok_code, f"{where}: {st} {body}"
                    st2, stored = await api.call("GET", f"{base}/{name}")
                    assert st2 == 200 and stored == body, where  # what was returned is what is stored
                    if isinstance(expect, dict):
                        _check_ok(expect, stored, previous.get((kind, name)), where)
                    previous[(kind, name)] = stored
                    continue
                # failures: the exact Status, and nothing stored or changed
                if isinstance(expect, dict) and "code" in expect:
                    assert st == expect["code"], f"{where}: {st} {body}"
                    assert body["message"] == expect["message"], where
                else:
                    assert st == 422, f"{where}: {st} {body}"
                    assert body["reason"] == "Invalid" and body["details"]["kind"] == "Service" and body["details"]["name"] == name
                    prefix = f'Service "{name}" is invalid: '
                    assert body["message"].startswith(prefix), where
                    agg = body["message"][len(prefix):]
                    if isinstance(expect, dict):
                        assert agg.startswith(expect["prefix"]), f"{where}: {agg}"
                    else:
                        assert agg == expect, where
                    causes = body["details"]["causes"]
                    assert causes and all(c["field"] and c["message"] and c["reason"].startswith("Field") for c in causes), where
                after = await api.call("GET", f"{base}/{name}")
                assert after == before, f"{where}: a rejected request changed the stored object"
            # the list agrees: exactly the objects whose create succeeded
            st, lst = await api.call("GET", f"/api/v1/namespaces/{ns}/services")
            assert sorted(o["metadata"]["name"] for o in lst["items"]) == sorted({"kubernetes"} | {n for _, n in previous})
    finally:
        await cp.stop()


def _check_ok(expect: dict, obj: dict, prev: dict | None, where: str) -> None:
    for path, want in expect.get("fields", {}).items():
        assert get_path(obj, path) == want, f"{where}: {path} = {get_path(obj, path)!r}"
    for path in expect.get("absent", []):
        assert get_path(obj, path) in (_ABSENT, None), f"{where}: {path} should be absent"
    for path, (lo, hi) in expect.get("ranges", {}).items():
        v = get_path(obj, path)
        assert v is not _ABSENT and _in_range(v, lo, hi), f"{where}: {path} = {v!r} not in [{lo}, {hi}]"
    for a, b in expect.get("same", []):
        assert get_path(obj, a) == get_path(obj, b), f"{where}: {a} != {b}"
    for path, n in expect.get("lengths", {}).items():
        assert len(get_path(obj, path)) == n, f"{where}: len({path})"
    for path in expect.get("unchanged", []):
        assert prev is not None and get_path(obj, path) == get_path(prev, path), f"{where}: {path} changed"


async def test_full_service_range_is_a_500_and_stores_nothing(tmp_path):
    """service-api.md 0.3: allocation from a full range is HTTP 500 ``InternalError``."""
    cp = await start_control_plane(tmp_path, service_cidr="10.96.0.0/29")  # .1-.6; kubernetes holds .1
    client = client_from_kubeconfig(str(cp.kubeconfig_path))
    access = load_kubeconfig(str(cp.kubeconfig_path))
    admin, viewer = write_token_file(cp.files_dir / "tokens.csv")
    try:
        for i in range(5):
            await client.create("services", svc(f"s{i}"))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl_for(access))) as s:
            api = API(access.server, s, admin, viewer)
            st, body = await api.call("POST", SVCS, body=svc("full"))
            assert st == 500
            assert (body["reason"], body["code"]) == ("InternalError", 500)
            assert body["message"] == "Internal error occurred: failed to allocate a serviceIP: range is full"
            assert (await api.call("GET", f"{SVCS}/full"))[0] == 404
            # a headless service needs no IP and still fits
            st, _ = await api.call("POST", SVCS, body=svc("headless", clusterIP="None"))
            assert st == 201
            # freeing one makes room again
            await client.delete("services", "s0")
            st, body = await api.call("POST", SVCS, body=svc("full"))
            assert st == 201, body
    finally:
        await client.close()
        await cp.stop()


# ---------------------------------------------------------------------------------------------
# fieldValidation (unknown fields)


def _with_unknown_fields(name: str) -> dict:
    s = svc(name)
    s["spec"]["foo"] = "bar"
    s["spec"]["ports"][0]["bogus"] = 1
    s["metadata"]["nope"] = True
    return s


async def test_field_validation_strict_rejects_unknown_fields(api):
    st, body = await api.call("POST", SVCS, body=_with_unknown_fields("strict"), params={"fieldValidation": "Strict"})
    assert st == 400 and body["reason"] == "BadRequest"
    assert body["message"] == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: '
        'unknown field "metadata.nope", unknown field "spec.ports[0].bogus", unknown field "spec.foo"'
    )  # in document order
    assert (await api.call("GET", f"{SVCS}/strict"))[0] == 404

    # a clean body passes; a patch naming an unknown field does not
    st, _ = await api.call("POST", SVCS, body=svc("strict"), params={"fieldValidation": "Strict"})
    assert st == 201
    st, body = await api.call(
        "PATCH", f"{SVCS}/strict", body={"spec": {"foo": 1, "selector": {"any-key": "ok"}}},
        content_type="application/merge-patch+json", params={"fieldValidation": "Strict"},
    )
    assert st == 400 and body["message"] == 'strict decoding error: unknown field "spec.foo"'
    # strategic-merge directives are not fields
    st, body = await api.call(
        "PATCH", f"{SVCS}/strict",
        body={"spec": {"$setElementOrder/ports": [{"port": 80}], "ports": [{"port": 80, "targetPort": 9090}]}},
        content_type="application/strategic-merge-patch+json", params={"fieldValidation": "Strict"},
    )
    assert st == 200, body
    st, body = await api.call("POST", SVCS, body=svc("x"), params={"fieldValidation": "Bogus"})
    assert st == 400


async def test_field_validation_warn_is_the_default_and_drops_the_fields(api):
    h = api.headers()
    h["Content-Type"] = "application/json"
    async with api.session.post(api.url + SVCS, data=orjson.dumps(_with_unknown_fields("warned")), headers=h) as resp:
        assert resp.status == 201
        warnings = resp.headers.getall("Warning")
        created = await resp.json()
    assert warnings == [
        '299 - "unknown field \\"metadata.nope\\""',
        '299 - "unknown field \\"spec.ports[0].bogus\\""',
        '299 - "unknown field \\"spec.foo\\""',
    ]
    assert "foo" not in created["spec"] and "bogus" not in created["spec"]["ports"][0] and "nope" not in created["metadata"]
    st, stored = await api.call("GET", f"{SVCS}/warned")
    assert "foo" not in stored["spec"]

    async with api.session.post(api.url + SVCS, data=orjson.dumps(_with_unknown_fields("ignored")), headers=h, params={"fieldValidation": "Ignore"}) as resp:
        assert resp.status == 201
        assert "Warning" not in resp.headers
        assert "foo" not in (await resp.json())["spec"]


async def test_watch_on_a_subresource_is_not_allowed(api, client):
    await client.create("services", svc("w"))
    st, body = await api.call("GET", SVCS + "/w/status", params={"watch": "true"})
    assert st == 405 and body["reason"] == "MethodNotAllowed"
