"""The node agent against an in-process API server (``local_client()``) with real processes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import sys
import urllib.request

import pytest

from svcnet.client.inprocess import local_client
from svcnet.kubelet.agent import Kubelet, PodWorker
from svcnet.kubelet.pods import on_started

from ._util import eventually, free_port, pid_alive

PY = sys.executable
IGNORE_TERM = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open('armed','w').close(); time.sleep(60)"
# Ready only once SIGTERM is ignored (the handler is armed), so deleting cannot race the start-up
ARMED = {"exec": {"command": ["test", "-f", "armed"]}, "periodSeconds": 1, "timeoutSeconds": 5}
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_index = itertools.count()


def next_cidr() -> str:
    """A node podCIDR of its own per test (parallel workers never share one)."""
    return f"127.244.{100 + _worker * 60 + next(_index) % 60}.0/24"


def make_kubelet(client, state, cidr=None, **kw) -> Kubelet:
    kw.setdefault("probe_time_scale", 0.1)
    kw.setdefault("backoff_initial", 0.05)
    kw.setdefault("backoff_max", 0.4)
    kw.setdefault("heartbeat_interval", 0.2)
    kw.setdefault("stop_grace", 5)
    return Kubelet(client, "node-1", "127.0.0.1", cidr or next_cidr(), state, **kw)


@pytest.fixture
async def cluster(tmp_path):
    client = local_client()
    kl = make_kubelet(client, tmp_path / "kubelet")
    await asyncio.wait_for(kl.start(), 20)
    yield client, kl
    await asyncio.wait_for(kl.stop(), 30)
    await assert_no_tasks_left(kl)


async def assert_no_tasks_left(kl):
    await asyncio.sleep(0.05)
    left = [t for t in asyncio.all_tasks() if t.get_name().startswith("informer-kubelet")]
    assert not left, left
    assert all(w.task.done() for w in kl._all_workers() if w.task is not None)


def pod(name, *containers, ns="default", **spec):
    spec.setdefault("nodeName", "node-1")
    spec.setdefault("terminationGracePeriodSeconds", 2)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "spec": {"containers": list(containers), **spec}}


def echo(port=8080, **kw):
    return {"name": "echo", "image": "svcnet/echo", "ports": [{"containerPort": port}], **kw}


def cond(p, t):
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == t), {})


def cstatus(p, i=0):
    cs = (p.get("status") or {}).get("containerStatuses") or []
    return cs[i] if len(cs) > i else {}


async def get(client, name, ns="default"):
    with contextlib.suppress(Exception):
        return await client.get("pods", name, ns)
    return None


async def until(client, name, pred, timeout=15.0, what=None):
    async def check():
        p = await get(client, name)
        return p if p is not None and pred(p) else None

    return await eventually(check, timeout=timeout, what=what or f"pod {name}")


async def ready(client, name, timeout=15.0):
    return await until(client, name, lambda p: cond(p, "Ready").get("status") == "True", timeout, f"{name} Ready")


async def gone(client, name, timeout=15.0):
    async def check():
        return await get(client, name) is None

    await eventually(check, timeout=timeout, what=f"{name} deleted")


def http_get(url):
    return urllib.request.urlopen(url, timeout=3).read()


async def http_eventually(url):
    """Without a readiness probe a pod is Ready once its process runs (upstream), which can be a
    moment before it listens: retry briefly."""

    async def attempt():
        try:
            return await asyncio.to_thread(http_get, url)
        except OSError:
            return None

    return await eventually(attempt, timeout=10, what=url)


def pids_of(kl, name):
    w = kl.workers.get(("default", name))
    return [c.pid for c in w.procs.values()] if w else []


async def test_echo_pod_runs_ready_and_answers_on_its_ip(cluster):
    client, kl = cluster
    await client.create("pods", pod("web-1", echo()))
    p = await ready(client, "web-1")
    st = p["status"]
    assert st["phase"] == "Running" and kl.ipam.contains(st["podIP"]) and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["hostIP"] == "127.0.0.1" and st["startTime"]
    cs = cstatus(p)
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"] and cs["containerID"].startswith("svcnet://")
    body = json.loads(await http_eventually(f"http://{st['podIP']}:8080/hi"))
    assert (body["pod"], body["ip"], body["node"], body["namespace"], body["path"]) == ("web-1", st["podIP"], "node-1", "default", "/hi")
    node = await client.get("nodes", "node-1")
    assert node["spec"]["podCIDR"] == kl.ipam.cidr
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert cond(node, "Ready")["status"] == "True"


async def test_status_is_not_rewritten_when_nothing_changes(cluster):
    client, kl = cluster
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}  # probes every 0.1 s
    await client.create("pods", pod("calm", echo(readinessProbe=probe, livenessProbe=probe)))
    p = await ready(client, "calm")
    w = kl.workers[("default", "calm")]
    before = w.pstates[("echo", "readiness")].probes
    rv = p["metadata"]["resourceVersion"]
    await eventually(lambda: w.pstates[("echo", "readiness")].probes >= before + 8, what="more probes")
    assert (await client.get("pods", "calm"))["metadata"]["resourceVersion"] == rv


async def test_readiness_probe_failing_keeps_pod_unready(cluster):
    client, kl = cluster
    probe = {"exec": {"command": ["sh", "-c", "test -f ready"]}, "periodSeconds": 1, "timeoutSeconds": 5}
    await client.create("pods", pod("gated", echo(readinessProbe=probe)))
    p = await until(client, "gated", lambda p: "running" in cstatus(p).get("state", {}))
    w = kl.workers[("default", "gated")]
    await eventually(lambda: w.pstates[("echo", "readiness")].probes >= 4, what="several failed probes")
    p = await client.get("pods", "gated")
    assert cond(p, "Ready")["status"] == "False" and cond(p, "ContainersReady")["reason"] == "ContainersNotReady"
    assert cond(p, "Ready")["message"] == "containers with unready status: [echo]"
    assert cstatus(p)["ready"] is False and cstatus(p)["started"] is True and p["status"]["phase"] == "Running"
    (w.dir / "ready").write_text("")
    await ready(client, "gated")


async def test_startup_probe_gates_readiness(cluster):
    client, kl = cluster
    startup = {"exec": {"command": ["sh", "-c", "test -f started"]}, "periodSeconds": 1, "failureThreshold": 1000, "timeoutSeconds": 5}
    await client.create("pods", pod("slowstart", echo(startupProbe=startup, readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})))
    await until(client, "slowstart", lambda p: "running" in cstatus(p).get("state", {}))
    w = kl.workers[("default", "slowstart")]
    await eventually(lambda: w.pstates[("echo", "startup")].probes >= 3, what="startup probes")
    assert ("echo", "readiness") not in w.probe_tasks and w.pstates[("echo", "readiness")].probes == 0
    p = await client.get("pods", "slowstart")
    assert cstatus(p)["started"] is False and cstatus(p)["ready"] is False
    (w.dir / "started").write_text("")
    p = await ready(client, "slowstart")
    assert cstatus(p)["started"] is True


@pytest.mark.slow
async def test_liveness_failure_restarts_container(cluster):
    client, kl = cluster
    dead = free_port("127.0.0.1")
    probe = {"tcpSocket": {"port": dead}, "periodSeconds": 1, "failureThreshold": 1}
    await client.create("pods", pod("sick", echo(livenessProbe=probe)))
    p = await until(client, "sick", lambda p: cstatus(p).get("restartCount", 0) >= 2, timeout=20, what="two restarts")
    cs = cstatus(p)
    assert cs["lastState"]["terminated"]["reason"] in ("Completed", "Error")
    assert p["status"]["phase"] == "Running"


async def test_delete_goes_through_terminating_then_disappears(cluster):
    client, kl = cluster
    await client.create("pods", pod("bye", echo()))
    p = await ready(client, "bye")
    pids = pids_of(kl, "bye")
    ip = p["status"]["podIP"]
    watcher = asyncio.ensure_future(watch_until_deleted(client, "bye", p["metadata"]["resourceVersion"]))
    await client.delete("pods", "bye")
    frames = await asyncio.wait_for(watcher, 15)
    seen = [(f["type"], bool(f["object"]["metadata"].get("deletionTimestamp")), cond(f["object"], "Ready").get("status")) for f in frames]
    assert seen[0] == ("MODIFIED", True, "True")  # terminating: endpoints see it terminating, still serving
    assert ("MODIFIED", True, "False") in seen  # containers stopped: not ready any more
    assert seen[-1][0] == "DELETED"
    final = [f["object"] for f in frames if f["type"] == "MODIFIED"][-1]
    assert "terminated" in cstatus(final)["state"]
    assert not any(pid_alive(x) for x in pids)
    assert kl.ipam.owner_of(ip) is None


async def watch_until_deleted(client, name, since_rv):
    frames = []
    async for f in client.watch("pods", "default", resource_version=since_rv):
        if f["object"]["metadata"]["name"] != name:
            continue
        frames.append(f)
        if f["type"] == "DELETED":
            return frames
    return frames


async def test_delete_waits_for_grace_then_kills(cluster):
    client, kl = cluster
    c = {"name": "stubborn", "image": "busybox", "command": [PY, "-c", IGNORE_TERM], "readinessProbe": ARMED}
    await client.create("pods", pod("stubborn", c, terminationGracePeriodSeconds=1))
    p = await ready(client, "stubborn")
    pids = pids_of(kl, "stubborn")
    watcher = asyncio.ensure_future(watch_until_deleted(client, "stubborn", p["metadata"]["resourceVersion"]))
    await client.delete("pods", "stubborn")
    frames = await asyncio.wait_for(watcher, 15)
    # during the grace period the pod is terminating but still Ready (its readiness probe passes)
    first = frames[0]["object"]
    assert first["metadata"]["deletionTimestamp"] and cond(first, "Ready")["status"] == "True"
    final = [f["object"] for f in frames if f["type"] == "MODIFIED"][-1]
    assert cstatus(final)["state"]["terminated"]["exitCode"] == 137  # SIGKILL after the grace period
    assert cond(final, "Ready")["status"] == "False"
    assert not any(pid_alive(x) for x in pids)


async def test_readiness_is_probed_while_terminating(cluster):
    client, kl = cluster
    c = {"name": "stubborn", "image": "busybox", "command": [PY, "-c", IGNORE_TERM], "readinessProbe": ARMED}
    await client.create("pods", pod("drain", c, terminationGracePeriodSeconds=3))
    await ready(client, "drain")
    w = kl.workers[("default", "drain")]
    await client.delete("pods", "drain")
    await until(client, "drain", lambda p: p["metadata"].get("deletionTimestamp"))
    (w.dir / "armed").unlink()  # the app starts draining: its readiness now fails
    p = await until(client, "drain", lambda p: cond(p, "Ready").get("status") == "False", timeout=5, what="unready while draining")
    assert "running" in cstatus(p)["state"] and p["metadata"]["deletionTimestamp"]
    await gone(client, "drain")


async def test_unready_on_delete_option(tmp_path):
    client = local_client()
    kl = make_kubelet(client, tmp_path / "k", unready_on_delete=True)
    await kl.start()
    try:
        c = {"name": "stubborn", "image": "busybox", "command": [PY, "-c", IGNORE_TERM], "readinessProbe": ARMED}
        await client.create("pods", pod("s", c, terminationGracePeriodSeconds=2))
        await ready(client, "s")
        await client.delete("pods", "s")
        p = await until(client, "s", lambda p: cond(p, "Ready").get("status") == "False")
        assert "running" in cstatus(p)["state"]  # not ready while still running
        await gone(client, "s")
    finally:
        await kl.stop()


async def test_unknown_image_fails_with_clear_reason(cluster):
    client, kl = cluster
    await client.create("pods", pod("redis", {"name": "redis", "image": "redis:7"}))
    p = await until(client, "redis", lambda p: cstatus(p).get("state", {}).get("waiting", {}).get("reason") == "ImageNotSupported")
    msg = cstatus(p)["state"]["waiting"]["message"]
    assert "redis:7" in msg and "svcnet/echo" in msg
    assert p["status"]["phase"] == "Pending" and cond(p, "Ready")["status"] == "False"
    await client.delete("pods", "redis")
    await gone(client, "redis")


async def test_replacement_pod_gets_a_new_ip(cluster):
    client, kl = cluster
    await client.create("pods", pod("web", echo()))
    ip1 = (await ready(client, "web"))["status"]["podIP"]
    await client.delete("pods", "web")
    await gone(client, "web")
    await client.create("pods", pod("web", echo()))
    ip2 = (await ready(client, "web"))["status"]["podIP"]
    assert ip1 != ip2 and kl.ipam.contains(ip2)


@pytest.mark.parametrize(
    "policy, code, phase, reason",
    [("Never", 3, "Failed", "Error"), ("OnFailure", 0, "Succeeded", "Completed"), ("Never", 0, "Succeeded", "Completed")],
)
async def test_restart_policy_terminal_phases(cluster, policy, code, phase, reason):
    client, kl = cluster
    name = f"job-{policy.lower()}-{code}"
    await client.create("pods", pod(name, {"name": "job", "image": "busybox", "command": ["sh", "-c", f"exit {code}"]}, restartPolicy=policy))
    p = await until(client, name, lambda p: p["status"].get("phase") == phase)
    t = cstatus(p)["state"]["terminated"]
    assert (t["exitCode"], t["reason"], cstatus(p)["restartCount"]) == (code, reason, 0)
    assert cond(p, "Ready")["reason"] == "PodCompleted"
    w = kl.workers[("default", name)]
    await eventually(lambda: kl.ipam.owner_of(w.ip) is None, what="IP released")
    await client.delete("pods", name)
    await gone(client, name)


async def test_missing_executable_is_start_error(cluster):
    client, kl = cluster
    await client.create("pods", pod("noexec", {"name": "c", "image": "busybox", "command": ["/no/such/program"]}, restartPolicy="Never"))
    p = await until(client, "noexec", lambda p: p["status"].get("phase") == "Failed")
    t = cstatus(p)["state"]["terminated"]
    assert (t["exitCode"], t["reason"]) == (128, "StartError") and "executable file not found" in t["message"]


async def test_crash_loop_back_off(cluster):
    client, kl = cluster
    await client.create("pods", pod("crash", {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo boom; exit 1"]}))
    p = await until(client, "crash", lambda p: cstatus(p).get("restartCount", 0) >= 3, timeout=20, what="restarts")
    assert p["status"]["phase"] == "Running"
    p = await until(client, "crash", lambda p: cstatus(p).get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff")
    cs = cstatus(p)
    assert cs["state"]["waiting"]["message"].startswith("back-off ") and "restarting failed container=c pod=crash_default(" in cs["state"]["waiting"]["message"]
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    log = (kl.workers[("default", "crash")].dir / "c" / "0.log").read_text()
    assert "boom" in log


async def test_bind_failure_surfaces_reason(cluster):
    client, kl = cluster
    cidr_ip = kl.ipam.cidr.split("/")[0].rsplit(".", 1)[0] + ".1"  # the reserved .1 is nobody's: hold a port there
    holder = socket.socket()
    holder.bind((cidr_ip, 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        c = {"name": "srv", "image": "python", "command": [PY, "-m", "http.server", "--bind", cidr_ip, str(port)]}
        await client.create("pods", pod("clash", c, restartPolicy="Never"))
        p = await until(client, "clash", lambda p: p["status"].get("phase") == "Failed")
        t = cstatus(p)["state"]["terminated"]
        assert t["reason"] == "BindFailed" and "Address already in use" in t["message"]
    finally:
        holder.close()


async def test_command_with_pod_ip_expansion_and_service_env(cluster):
    client, kl = cluster
    await client.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"}, "spec": {"selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432}]}})
    await eventually(lambda: any(s["metadata"]["name"] == "db" for s in kl.services()), what="service seen")
    c = {
        "name": "py",
        "image": "python:3.12",
        "command": [PY, "-c", "import json,os,sys; json.dump(dict(os.environ), open('env.json','w')); os.execv(sys.executable, [sys.executable] + sys.argv[1:])"],
        "args": ["-m", "http.server", "--bind", "$(POD_IP)", "8080"],
        "env": [{"name": "MY_URL", "value": "http://$(POD_IP):8080"}, {"name": "MY_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "readinessProbe": {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1},
    }
    await client.create("pods", pod("pysrv", c))
    p = await ready(client, "pysrv")
    ip = p["status"]["podIP"]
    assert b"Directory listing" in await asyncio.to_thread(http_get, f"http://{ip}:8080/")
    env = json.loads((kl.workers[("default", "pysrv")].dir / "env.json").read_text())
    assert env["POD_IP"] == ip and env["HOSTNAME"] == "pysrv" and env["MY_URL"] == f"http://{ip}:8080" and env["MY_NODE"] == "node-1"
    assert env["KUBERNETES_SERVICE_HOST"] and env["DB_SERVICE_PORT_PG"] == "5432"


@pytest.mark.slow
async def test_stop_then_restart_keeps_ips_and_counts_restarts(tmp_path):
    client = local_client()
    cidr = next_cidr()
    kl = make_kubelet(client, tmp_path / "k", cidr)
    await kl.start()
    await client.create("pods", pod("a", echo()))
    await client.create("pods", pod("b", echo()))
    ips = {n: (await ready(client, n))["status"]["podIP"] for n in ("a", "b")}
    pids = pids_of(kl, "a") + pids_of(kl, "b")
    await asyncio.wait_for(kl.stop(), 30)
    assert not any(pid_alive(x) for x in pids)
    node = await client.get("nodes", "node-1")
    assert cond(node, "Ready")["status"] == "Unknown"
    p = await client.get("pods", "a")
    assert cond(p, "Ready")["status"] == "False" and "terminated" in cstatus(p)["state"]

    kl2 = make_kubelet(client, tmp_path / "k", cidr)
    await kl2.start()
    try:
        for n in ("a", "b"):
            p = await until(client, n, lambda p: cond(p, "Ready").get("status") == "True" and cstatus(p).get("restartCount") == 1)
            assert p["status"]["podIP"] == ips[n]
        assert cond(await client.get("nodes", "node-1"), "Ready")["status"] == "True"
        await client.create("pods", pod("c", echo()))
        ip_c = (await ready(client, "c"))["status"]["podIP"]
        assert ip_c not in ips.values()
    finally:
        await kl2.stop()


async def test_pods_of_other_nodes_are_ignored(cluster):
    client, kl = cluster
    await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}})
    await client.create("pods", pod("elsewhere", echo(), nodeName="node-2"))
    await client.create("pods", pod("here", echo()))
    await ready(client, "here")
    assert ("default", "elsewhere") not in kl.workers
    assert not (await client.get("pods", "elsewhere")).get("status", {}).get("containerStatuses")


async def test_status_write_retries_on_conflict(tmp_path):
    """A worker holding a stale copy of its pod re-reads it on Conflict and keeps others' changes."""
    client = local_client()
    stale = await client.create("pods", pod("stale", echo()))
    fresh = dict(stale, metadata={**stale["metadata"], "labels": {"app": "stale", "tier": "web"}})
    await client.update("pods", fresh)  # someone else moves the resourceVersion on
    kl = make_kubelet(client, tmp_path / "k")
    w = PodWorker(kl, stale)
    w._setup()
    w.recs["echo"] = on_started(w.recs["echo"], "svcnet://x", kl.clock(), kl.backoff)
    await w._publish()
    got = await client.get("pods", "stale")
    assert got["status"]["phase"] == "Running" and got["status"]["podIP"] == w.ip
    assert got["metadata"]["labels"]["tier"] == "web"
    rv = got["metadata"]["resourceVersion"]
    await w._publish()  # nothing changed: no second write
    assert (await client.get("pods", "stale"))["metadata"]["resourceVersion"] == rv
