"""The EndpointSlice and Endpoints controllers end to end, through a real in-process client
(registry over a MemoryStore: defaulting, validation and allocation as in the API server).

Every wait polls with a deadline; nothing sleeps as an assertion.
"""

from __future__ import annotations

import asyncio
import copy

import pytest

from svcnet.api.errors import NotFound
from svcnet.client.inprocess import local_client
from svcnet.controllers.endpoints import EndpointsController
from svcnet.controllers.endpointslice import EndpointSliceController

MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SERVICE_NAME = "kubernetes.io/service-name"
TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


def node_obj(name, zone=None):
    md = {"name": name}
    if zone:
        md["labels"] = {"topology.kubernetes.io/zone": zone}
    return {"apiVersion": "v1", "kind": "Node", "metadata": md}


def service_obj(name="web", selector=None, **spec):
    s = {
        "selector": {"app": name} if selector is None else selector,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        **spec,
    }
    if selector is False:
        del s["selector"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": s}


async def add_pod(client, name, ip, *, node="n1", ready=True, app="web", port_name="http"):
    pod = await client.create("pods", {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [
            {"name": "app", "image": "img", "ports": [{"name": port_name, "containerPort": 8080, "protocol": "TCP"}]}]},
    })
    return await set_status(client, pod["metadata"]["name"], ip=ip, ready=ready)


async def set_status(client, name, *, ip, ready):
    pod = await client.get("pods", name, "default")
    pod["status"].update(
        phase="Running",
        podIP=ip,
        podIPs=[{"ip": ip}],
        conditions=[{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2024-05-01T10:00:00Z"}],
    )
    return await client.update_status("pods", pod)


async def wait_until(check, what, timeout=TIMEOUT):
    """Poll ``check()`` (async, returns a truthy value when done) until it holds or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def slices_of(client, svc="web"):
    items = (await client.list("endpointslices", "default", label_selector=f"{SERVICE_NAME}={svc}"))["items"]
    return sorted(items, key=lambda s: s["metadata"]["name"])


def summary(slices):
    """Managed slices as {(addressType, ports): {pod: (ready, serving, terminating)}}."""
    out = {}
    for s in slices:
        if s["metadata"].get("labels", {}).get(MANAGED_BY) != "endpointslice-controller.k8s.io":
            continue
        key = (s["addressType"], tuple((p["name"], p["port"]) for p in s.get("ports") or ()))
        eps = out.setdefault(key, {})
        for e in s.get("endpoints") or ():
            c = e["conditions"]
            eps[e["targetRef"]["name"]] = (c["ready"], c["serving"], c["terminating"])
    return out


async def endpoints_of(client, name="web"):
    try:
        ep = await client.get("endpoints", name, "default")
    except NotFound:
        return None
    ready = sorted(a["targetRef"]["name"] for s in ep.get("subsets") or () for a in s.get("addresses") or ())
    not_ready = sorted(a["targetRef"]["name"] for s in ep.get("subsets") or () for a in s.get("notReadyAddresses") or ())
    return ready, not_ready


def converged(client, expected, svc="web"):
    async def check():
        got = summary(await slices_of(client, svc))
        return got == expected or None

    return check


def endpoints_converged(client, expected, name="web"):
    async def check():
        return await endpoints_of(client, name) == expected or None

    return check


HTTP = ("IPv4", (("http", 8080),))
READY = (True, True, False)
NOT_READY = (False, False, False)


@pytest.fixture
async def client():
    c = local_client()
    await c.create("nodes", node_obj("n1", "z1"))
    await c.create("nodes", node_obj("n2", "z2"))
    yield c
    await c.close()


@pytest.fixture
async def controllers(client):
    es = EndpointSliceController(client, slice_change_delay=0.05, stale_retry=0.2)
    ep = EndpointsController(client, stale_retry=0.2)
    tasks = [asyncio.create_task(c.run()) for c in (es, ep)]
    yield es, ep
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    # a controller that died early would show its exception here instead of CancelledError
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results


async def start_web(client, n=3):
    await client.create("services", service_obj())
    for i in range(n):
        await add_pod(client, f"p{i}", f"10.244.1.{i + 10}")
    await wait_until(converged(client, {HTTP: {f"p{i}": READY for i in range(n)}}), "slices converge")
    await wait_until(endpoints_converged(client, ([f"p{i}" for i in range(n)], [])), "endpoints converge")


# ---------------------------------------------------------------------------------------------
# scenarios


async def test_controller_converges_and_follows_readiness(client, controllers):
    await start_web(client)
    (s,) = await slices_of(client)
    assert s["metadata"]["generateName"] == "web-" and s["metadata"]["name"].startswith("web-")
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert {e["targetRef"]["name"]: e.get("zone") for e in s["endpoints"]} == {"p0": "z1", "p1": "z1", "p2": "z1"}

    await set_status(client, "p1", ip="10.244.1.11", ready=False)
    await wait_until(converged(client, {HTTP: {"p0": READY, "p1": NOT_READY, "p2": READY}}), "p1 not ready")
    await wait_until(endpoints_converged(client, (["p0", "p2"], ["p1"])), "p1 in notReadyAddresses")
    (s2,) = await slices_of(client)
    assert s2["metadata"]["name"] == s["metadata"]["name"]  # updated in place

    await set_status(client, "p1", ip="10.244.1.99", ready=True)
    await wait_until(converged(client, {HTTP: {"p0": READY, "p1": READY, "p2": READY}}), "p1 ready again")
    (s3,) = await slices_of(client)
    assert ["10.244.1.99"] in [e["addresses"] for e in s3["endpoints"]]


async def test_controller_pod_deletion(client, controllers):
    await start_web(client)
    await client.delete("pods", "p0", "default", grace_period_seconds=0)
    await wait_until(converged(client, {HTTP: {"p1": READY, "p2": READY}}), "p0 gone")
    await wait_until(endpoints_converged(client, (["p1", "p2"], [])), "p0 gone from endpoints")
    # graceful deletion: the pod is terminating; slices keep it, legacy Endpoints drop it
    await client.delete("pods", "p1", "default")
    await wait_until(converged(client, {HTTP: {"p1": (False, True, True), "p2": READY}}), "p1 terminating")
    await wait_until(endpoints_converged(client, (["p2"], [])), "p1 gone from endpoints")


async def test_controller_service_deletion_removes_slices_and_endpoints(client, controllers):
    await start_web(client)
    await client.delete("services", "web", "default")

    async def all_gone():
        return not await slices_of(client) and await endpoints_of(client) is None

    await wait_until(all_gone, "slices and endpoints deleted")


async def test_controller_repairs_manual_slice_edit(client, controllers):
    await start_web(client)
    (s,) = await slices_of(client)
    edited = copy.deepcopy(s)
    edited["endpoints"] = edited["endpoints"][:1]
    edited["endpoints"][0]["conditions"]["ready"] = False
    await client.update("endpointslices", edited)
    await wait_until(converged(client, {HTTP: {"p0": READY, "p1": READY, "p2": READY}}), "manual edit repaired")
    (s2,) = await slices_of(client)
    assert s2["metadata"]["name"] == s["metadata"]["name"]


async def test_controller_recreates_manually_deleted_slice_and_endpoints(client, controllers):
    await start_web(client)
    (s,) = await slices_of(client)
    await client.delete("endpointslices", s["metadata"]["name"], "default")
    await client.delete("endpoints", "web", "default")
    await wait_until(converged(client, {HTTP: {"p0": READY, "p1": READY, "p2": READY}}), "slice recreated")
    await wait_until(endpoints_converged(client, (["p0", "p1", "p2"], [])), "endpoints recreated")


async def test_controller_resync_writes_nothing(client, controllers):
    es, ep = controllers
    await start_web(client)
    before = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in await slices_of(client)}
    ep_before = (await client.get("endpoints", "web", "default"))["metadata"]["resourceVersion"]
    syncs = (es.syncs, ep.syncs)
    svc = await client.get("services", "web", "default")
    svc["metadata"].setdefault("annotations", {})["touched"] = "yes"
    await client.update("services", svc)

    async def synced_again():
        return es.syncs > syncs[0] and ep.syncs > syncs[1]

    await wait_until(synced_again, "a sync of both controllers after the Service update")
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in await slices_of(client)} == before
    assert (await client.get("endpoints", "web", "default"))["metadata"]["resourceVersion"] == ep_before


async def test_controller_unresolved_named_port_separate_slice(client, controllers):
    await client.create("services", service_obj())
    await add_pod(client, "a", "10.244.1.5")
    await add_pod(client, "b", "10.244.2.7", node="n2", ready=False, port_name="web")
    await wait_until(converged(client, {HTTP: {"a": READY}, ("IPv4", ()): {"b": NOT_READY}}), "vector 7.26 shape")
    await wait_until(endpoints_converged(client, (["a"], [])), "b absent from endpoints")


async def test_controller_pod_on_unknown_node_appears_when_node_does(client, controllers):
    await client.create("services", service_obj())
    await add_pod(client, "a", "10.244.1.5")
    await add_pod(client, "b", "10.244.3.5", node="n3")
    await wait_until(converged(client, {HTTP: {"a": READY}}), "b skipped: no node n3")
    await client.create("nodes", node_obj("n3", "z3"))
    await wait_until(converged(client, {HTTP: {"a": READY, "b": READY}}), "b added once n3 exists")
    zones = {e["targetRef"]["name"]: e.get("zone") for s in await slices_of(client) for e in s["endpoints"]}
    assert zones == {"a": "z1", "b": "z3"}


async def test_controller_node_zone_change(client, controllers):
    await start_web(client, n=1)
    n1 = await client.get("nodes", "n1")
    n1["metadata"]["labels"]["topology.kubernetes.io/zone"] = "z9"
    await client.update("nodes", n1)

    async def zone_moved():
        return [e.get("zone") for s in await slices_of(client) for e in s["endpoints"]] == ["z9"] or None

    await wait_until(zone_moved, "zone z9 in the slice")


async def test_controller_selectorless_service_left_alone(client, controllers):
    es, _ = controllers
    await client.create("services", service_obj("ext", selector=False))
    user = await client.create("endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "ext-1", "namespace": "default", "labels": {SERVICE_NAME: "ext"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.9.9"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    })
    # a service the controller does manage, synced after "ext": proves the workers got that far
    await start_web(client, n=1)
    ext = [(s["metadata"]["name"], s["metadata"]["resourceVersion"]) for s in await slices_of(client, "ext")]
    assert ext == [("ext-1", user["metadata"]["resourceVersion"])]  # untouched, none added
    assert await endpoints_of(client, "ext") is None
    assert es.syncs >= 2


async def test_controller_250_pods_three_slices(client, controllers):
    await client.create("services", service_obj())
    for i in range(250):
        await add_pod(client, f"p{i:03d}", f"10.244.{i // 200}.{i % 200 + 1}")

    async def sizes():
        got = sorted((len(s.get("endpoints") or ()) for s in await slices_of(client)), reverse=True)
        return got == [100, 100, 50] or got

    assert await wait_until(sizes, "100/100/50 slices", timeout=30) is True
    names = sorted(e["targetRef"]["name"] for s in await slices_of(client) for e in s["endpoints"])
    assert names == sorted(f"p{i:03d}" for i in range(250))
    await wait_until(endpoints_converged(client, (sorted(f"p{i:03d}" for i in range(250)), [])), "250 endpoints", timeout=30)


async def test_controller_burst_of_changes_makes_no_duplicate_slices(client, controllers):
    await client.create("services", service_obj())
    for i in range(20):
        await add_pod(client, f"p{i}", f"10.244.1.{i + 10}", ready=i % 2 == 0)
    for i in range(20):
        await set_status(client, f"p{i}", ip=f"10.244.1.{i + 10}", ready=True)
    await wait_until(converged(client, {HTTP: {f"p{i}": READY for i in range(20)}}), "burst converges")
    assert len(await slices_of(client)) == 1


async def test_controller_never_creates_twice_from_a_stale_cache(client, controllers):
    # every slice ever created for the Service, seen through a watch of our own
    created: list[str] = []

    async def record():
        async for frame in client.watch("endpointslices", "default", label_selector=f"{SERVICE_NAME}=web"):
            if frame["type"] == "ADDED":
                created.append(frame["object"]["metadata"]["name"])

    watcher = asyncio.create_task(record())
    try:
        await client.create("services", service_obj())
        for i in range(10):
            await add_pod(client, f"p{i}", f"10.244.1.{i + 10}")
            await asyncio.sleep(0)  # let the controller sync between pods
        await wait_until(converged(client, {HTTP: {f"p{i}": READY for i in range(10)}}), "converges")
        assert len(created) == 1, created
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def test_controller_startup_removes_leftovers(client):
    # written while no controller ran: a managed slice and Endpoints for a Service that is gone
    await client.create("endpointslices", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "ghost-abcde", "namespace": "default",
                     "labels": {SERVICE_NAME: "ghost", MANAGED_BY: "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4", "endpoints": [],
    })
    await client.create("endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ghost", "namespace": "default"}})
    es = EndpointSliceController(client)
    ep = EndpointsController(client)
    tasks = [asyncio.create_task(c.run()) for c in (es, ep)]
    try:
        async def gone():
            return not await slices_of(client, "ghost") and await endpoints_of(client, "ghost") is None

        await wait_until(gone, "leftovers deleted")
        # the API server's own kubernetes Service (selectorless) is left alone
        assert await client.get("services", "kubernetes", "default")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
