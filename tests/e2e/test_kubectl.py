"""Real kubectl against a real svcnet control plane (TLS API server + SQLite + the EndpointSlice
and Endpoints controllers), through the kubeconfig the control plane writes.

The newest ``kubectl.1.*`` available runs everything; the oldest (1.27 on the Cloud SDK image)
runs a smoke subset (apply/get/describe/delete, an invalid create, a missing object), because
old and new kubectl speak to the server differently (1.27 parses /openapi/v2 as protobuf;
newer ones use OpenAPI v3 and describe Services from EndpointSlices).
"""

from __future__ import annotations

import ipaddress
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from e2e_support import NEWEST, NO_KUBECTL, OLDEST, Kubectl, columns, kubectl_id

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(NEWEST is None, reason=NO_KUBECTL)]

BOTH = [pytest.param(b, id=kubectl_id(b)) for b in dict.fromkeys([NEWEST, OLDEST])]
NEWEST_ONLY = [pytest.param(NEWEST, id=kubectl_id(NEWEST))]

SERVICE_YAML = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    tier: front
spec:
  selector:
    app: web
  ports:
  - name: http
    port: {port}
    targetPort: 8080
"""

AGE = re.compile(r"^\d+(s|m\d*s?|h\d*m?|d\d*h?|y\d*d?)$|^<unknown>$")


@pytest.fixture
def kubectl_for(control_plane, tmp_path):
    def make(binary: str) -> Kubectl:
        return Kubectl(binary, control_plane.kubeconfig, tmp_path / f"home-{kubectl_id(binary)}")

    return make


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """(header cells, rows by first cell) of a kubectl table."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines, "empty table"
    header = columns(lines[0])
    rows = {}
    for ln in lines[1:]:
        cells = columns(ln)
        rows[cells[0]] = cells
    return header, rows


def describe_fields(text: str) -> dict[str, str]:
    """``Key:   value`` lines of ``kubectl describe`` (first occurrence of each key)."""
    out: dict[str, str] = {}
    for ln in text.splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z ]*?):\s*(.*)$", ln)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).rstrip()
    return out


def node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "z1"}}}


async def make_ready_pod(client, name: str, ip: str, *, node_name: str = "n1", ready: bool = True) -> dict:
    """A pod scheduled on ``node_name`` (spec.nodeName), then Running with ``ip`` and a Ready
    condition written through the status subresource, as a kubelet would."""
    await client.create("pods", {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "registry.example/app:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
    })
    p = await client.get("pods", name)
    p["status"].update(
        phase="Running",
        podIP=ip,
        podIPs=[{"ip": ip}],
        hostIP="127.0.0.1",
        startTime="2024-05-01T10:00:00Z",
        conditions=[
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2024-05-01T10:00:00Z"},
            {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": "2024-05-01T10:00:00Z"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z"},
        ],
        containerStatuses=[{
            "name": "app", "ready": ready, "started": True, "restartCount": 0, "image": "registry.example/app:1", "imageID": "",
            "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}},
        }],
    )
    return await client.update_status("pods", p)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_apply_configure_unchanged_get_describe_delete(binary, control_plane, kubectl_for, tmp_path):
    k = kubectl_for(binary)
    manifest = tmp_path / "web.yaml"

    # apply: create
    manifest.write_text(SERVICE_YAML.format(port=80))
    assert ok(k("apply", "-f", str(manifest))).strip() == "service/web created"
    first = control_plane.call(lambda c: c.get("services", "web"))
    assert first["spec"]["ports"][0]["port"] == 80
    last_applied = yaml.safe_load(first["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080}]

    # a second apply that changes the port: configured, the port and the annotation change
    manifest.write_text(SERVICE_YAML.format(port=81))
    assert ok(k("apply", "-f", str(manifest))).strip() == "service/web configured"
    second = control_plane.call(lambda c: c.get("services", "web"))
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in second["spec"]["ports"]] == [("http", 81, 8080, "TCP")]
    assert second["spec"]["clusterIP"] == first["spec"]["clusterIP"]  # allocated values survive
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    last_applied = yaml.safe_load(second["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["ports"] == [{"name": "http", "port": 81, "targetPort": 8080}]

    # the same manifest again: unchanged, nothing written
    assert ok(k("apply", "-f", str(manifest))).strip() == "service/web unchanged"
    third = control_plane.call(lambda c: c.get("services", "web"))
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]

    # get -o wide
    header, rows = table(ok(k("get", "svc", "-o", "wide")))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    web = rows["web"]
    assert web[:5] == ["web", "ClusterIP", second["spec"]["clusterIP"], "<none>", "81/TCP"]
    assert AGE.match(web[5]), web[5]
    assert web[6] == "app=web"
    assert rows["kubernetes"][:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    assert rows["kubernetes"][6] == "<none>"
    # without -o wide the priority-1 SELECTOR column is hidden
    header, rows = table(ok(k("get", "svc", "web")))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]

    # describe
    d = describe_fields(ok(k("describe", "svc", "web")))
    assert d["Name"] == "web" and d["Namespace"] == "default"
    assert d["Labels"] == "tier=front"
    assert d["Selector"] == "app=web"
    assert d["Type"] == "ClusterIP"
    assert d["IP"] == second["spec"]["clusterIP"]
    assert re.fullmatch(r"http\s+81/TCP", d["Port"]), d["Port"]
    assert d["TargetPort"] == "8080/TCP"
    assert d["Endpoints"] in ("", "<none>")  # no pods
    assert d["Session Affinity"] == "None"

    # get -o yaml parses and matches the server's object
    obj = yaml.safe_load(ok(k("get", "svc", "web", "-o", "yaml")))
    assert obj["kind"] == "Service" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["name"] == "web" and obj["metadata"]["uid"] == second["metadata"]["uid"]
    assert obj["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert obj["spec"] == second["spec"]

    # delete -f
    r = k("delete", "-f", str(manifest))
    assert ok(r).strip() == 'service "web" deleted'
    names = control_plane.call(lambda c: c.list("services", "default"))
    assert [o["metadata"]["name"] for o in names["items"]] == ["kubernetes"]
    r = k("get", "svc", "web")
    assert r.returncode == 1 and 'services "web" not found' in r.stderr


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_create_of_an_invalid_manifest_fails_with_the_servers_message(binary, control_plane, kubectl_for, tmp_path):
    k = kubectl_for(binary)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: 70000\n    targetPort: 8080\n")
    r = k("create", "-f", str(bad))
    assert r.returncode == 1, r
    assert r.stdout == ""
    assert 'The Service "x" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive' in r.stderr

    # several errors: kubectl lists the causes
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  type: NodePort\n  ports:\n  - port: 0\n")
    r = k("create", "-f", str(bad))
    assert r.returncode == 1
    assert 'The Service "x" is invalid' in r.stderr
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in r.stderr

    # nothing was created
    r = k("get", "svc", "x")
    assert r.returncode == 1


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_get_of_a_missing_service_is_not_found(binary, control_plane, kubectl_for):
    k = kubectl_for(binary)
    r = k("get", "svc", "nosuch")
    assert r.returncode == 1 and r.stdout == ""
    assert 'Error from server (NotFound): services "nosuch" not found' in r.stderr
    r = k("get", "pods", "-o", "name")
    assert r.returncode == 0 and r.stdout == ""
    r = k("get", "nosuchkind")
    assert r.returncode == 1 and 'the server doesn\'t have a resource type "nosuchkind"' in r.stderr


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_get_endpointslices_pods_and_describe_endpoints(binary, control_plane, kubectl_for, tmp_path):
    """Pods (spec.nodeName + Ready through the status subresource) behind a Service: the
    EndpointSlice controller (over HTTP) publishes them, kubectl prints them."""
    k = kubectl_for(binary)
    control_plane.call(lambda c: c.create("nodes", node("n1")))
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE_YAML.format(port=80))
    ok(k("apply", "-f", str(manifest)))
    control_plane.call(lambda c: make_ready_pod(c, "web-a", "10.244.1.5"))
    control_plane.call(lambda c: make_ready_pod(c, "web-b", "10.244.1.6"))
    control_plane.call(lambda c: make_ready_pod(c, "web-c", "10.244.1.7", ready=False))

    async def slice_with_three(c):
        lst = await c.list("endpointslices", "default", label_selector="kubernetes.io/service-name=web")
        eps = [e for s in lst["items"] for e in s.get("endpoints") or []]
        return lst["items"] if len(eps) == 3 else None

    slices = control_plane.wait_for(slice_with_three, "an EndpointSlice with three endpoints")
    assert len(slices) == 1
    sl = slices[0]

    header, rows = table(ok(k("get", "endpointslices")))
    assert header == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    row = rows[sl["metadata"]["name"]]
    assert row[1:4] == ["IPv4", "8080", "10.244.1.5,10.244.1.6,10.244.1.7"]
    assert AGE.match(row[4])
    assert rows["kubernetes"][1] == "IPv4"

    header, rows = table(ok(k("get", "pods")))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows["web-a"][1:4] == ["1/1", "Running", "0"]
    assert rows["web-c"][1:4] == ["0/1", "Running", "0"]
    header, rows = table(ok(k("get", "pods", "-o", "wide")))
    assert header[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert rows["web-b"][5:7] == ["10.244.1.6", "n1"]

    # describe lists the ready endpoints (from the EndpointSlices, or the Endpoints object for
    # older kubectl - both controllers run)
    def described_endpoints() -> str:
        return describe_fields(ok(k("describe", "svc", "web")))["Endpoints"]

    deadline = time.monotonic() + 30
    while described_endpoints() != "10.244.1.5:8080,10.244.1.6:8080" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert described_endpoints() == "10.244.1.5:8080,10.244.1.6:8080"

    # deleting the service through kubectl removes its slices (the controller cleans up)
    ok(k("delete", "svc", "web"))

    async def no_slices(c):
        lst = await c.list("endpointslices", "default", label_selector="kubernetes.io/service-name=web")
        return not lst["items"]

    control_plane.wait_for(no_slices, "the slices of a deleted service to go")


# ---------------------------------------------------------------------------------------------
# watch


class LineReader:
    """stdout of a running process, line by line, with timeouts (a thread feeds a queue)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pred, what: str, timeout: float = 30) -> list[str]:
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; lines so far: {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"kubectl exited ({self.proc.poll()}) before {what}; lines: {self.seen}")
            self.seen.append(line)
            got.append(line)
            if pred(line):
                return got


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _svc(name: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [{"port": port}]}}


async def _set_port(c, name: str, port: int) -> dict:
    return await c.patch("services", name, {"spec": {"ports": [{"port": port, "targetPort": port}]}})


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_get_watch_prints_rows_as_services_change(binary, control_plane, kubectl_for):
    k = kubectl_for(binary)
    proc = k.popen("get", "svc", "--watch")
    try:
        out = LineReader(proc)
        first = out.until(lambda ln: ln.startswith("kubernetes "), "the initial list")
        assert columns(first[0]) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]

        created = control_plane.call(lambda c: c.create("services", _svc("w1", 80)))
        ip = created["spec"]["clusterIP"]
        added = out.until(lambda ln: ln.startswith("w1 "), "the ADDED row")
        assert columns(added[-1])[:5] == ["w1", "ClusterIP", ip, "<none>", "80/TCP"]

        control_plane.call(lambda c: _set_port(c, "w1", 81))
        modified = out.until(lambda ln: ln.startswith("w1 "), "the MODIFIED row")
        assert columns(modified[-1])[:5] == ["w1", "ClusterIP", ip, "<none>", "81/TCP"]

        control_plane.call(lambda c: c.create("services", _svc("w2", 90)))
        out.until(lambda ln: ln.startswith("w2 "), "the second service's row")

        control_plane.call(lambda c: c.delete("services", "w1"))
        deleted = out.until(lambda ln: ln.startswith("w1 "), "the DELETED row")
        assert columns(deleted[-1])[:5] == ["w1", "ClusterIP", ip, "<none>", "81/TCP"]
        assert proc.poll() is None  # still watching
    finally:
        stop(proc)
    w1_rows = [columns(ln)[4] for ln in out.seen if ln.startswith("w1 ")]
    assert w1_rows == ["80/TCP", "81/TCP", "81/TCP"]
    assert sum(1 for ln in out.seen if ln.startswith("NAME ")) == 1  # one header
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "error" not in err.lower(), err


@pytest.mark.parametrize("binary", NEWEST_ONLY)
def test_kubectl_get_watch_output_watch_events(binary, control_plane, kubectl_for):
    k = kubectl_for(binary)
    proc = k.popen("get", "svc", "--watch", "--output-watch-events", "-l", "watched=yes")
    try:
        out = LineReader(proc)
        control_plane.call(lambda c: c.create("services", _svc("unwatched", 80)))  # never printed
        s = _svc("e1", 80)
        s["metadata"]["labels"] = {"watched": "yes"}
        control_plane.call(lambda c: c.create("services", s))
        out.until(lambda ln: ln.startswith("ADDED ") and " e1 " in f"{ln} ", "ADDED")
        control_plane.call(lambda c: _set_port(c, "e1", 82))
        out.until(lambda ln: ln.startswith("MODIFIED ") and " e1 " in f"{ln} ", "MODIFIED")
        control_plane.call(lambda c: c.delete("services", "e1"))
        out.until(lambda ln: ln.startswith("DELETED ") and " e1 " in f"{ln} ", "DELETED")
    finally:
        stop(proc)
    events = [(columns(ln)[0], columns(ln)[1], columns(ln)[5]) for ln in out.seen if not ln.startswith("EVENT")]
    assert events == [("ADDED", "e1", "80/TCP"), ("MODIFIED", "e1", "82/TCP"), ("DELETED", "e1", "82/TCP")]
    header = [ln for ln in out.seen if ln.startswith("EVENT")]
    assert header and columns(header[0])[:2] == ["EVENT", "NAME"]


# ---------------------------------------------------------------------------------------------
# more of what kubectl users do


@pytest.mark.parametrize("binary", NEWEST_ONLY)
def test_kubectl_misc_verbs(binary, control_plane, kubectl_for, tmp_path):
    """label, patch, edit-less replace, get -o jsonpath, api-resources, dry-run=server."""
    k = kubectl_for(binary)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE_YAML.format(port=80))
    ok(k("create", "-f", str(manifest)))
    assert ok(k("label", "svc", "web", "team=net")).strip() == "service/web labeled"
    assert ok(k("patch", "svc", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}')).strip() == "service/web patched"
    assert ok(k("patch", "svc", "web", "--type=json", "-p", '[{"op":"replace","path":"/spec/selector/app","value":"web2"}]')).strip() == "service/web patched"
    out = ok(k("get", "svc", "web", "-o", "jsonpath={.metadata.labels.team} {.spec.ports[0].targetPort} {.spec.selector.app}"))
    assert out == "net 9090 web2"

    obj = yaml.safe_load(ok(k("get", "svc", "web", "-o", "yaml")))
    obj["spec"]["ports"][0]["targetPort"] = 7070
    manifest.write_text(yaml.safe_dump(obj))
    assert ok(k("replace", "-f", str(manifest))).strip() == "service/web replaced"
    assert control_plane.call(lambda c: c.get("services", "web"))["spec"]["ports"][0]["targetPort"] == 7070

    res = ok(k("api-resources", "--no-headers"))
    kinds = {columns(ln)[-1] for ln in res.splitlines() if ln.strip()}
    assert {"Service", "Pod", "EndpointSlice", "Endpoints", "Node", "Namespace"} <= kinds

    manifest.write_text(SERVICE_YAML.format(port=80).replace("name: web", "name: dry"))
    assert ok(k("create", "-f", str(manifest), "--dry-run=server")).strip() == "service/dry created (server dry run)"
    assert k("get", "svc", "dry").returncode == 1

    # (not `kubectl create namespace`: kubectl >= 1.32 sends typed-client bodies as protobuf,
    # which svcnet does not decode; it answers 415)
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n")
    assert ok(k("create", "-f", str(tmp_path / "ns.yaml"))).strip() == "namespace/team-a created"
    header, rows = table(ok(k("get", "ns")))
    assert header == ["NAME", "STATUS", "AGE"] and rows["team-a"][1] == "Active"

    clusterip = control_plane.call(lambda c: c.get("services", "web"))["spec"]["clusterIP"]
    assert ipaddress.ip_address(clusterip) in ipaddress.ip_network("10.96.0.0/12")


def test_kubectl_is_skipped_only_when_missing():
    """Sanity: the binaries found are runnable (a broken install fails, not skips)."""
    if NEWEST is None:
        pytest.skip(NO_KUBECTL)
    r = subprocess.run([NEWEST, "version", "--client", "-o", "yaml"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    assert yaml.safe_load(r.stdout)["clientVersion"]["major"] == "1"
    assert Path(NEWEST).exists()


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_field_validation_strict_warn_and_ignore(binary, control_plane, kubectl_for, tmp_path):
    """kubectl's default --validate=strict sends fieldValidation=Strict: unknown fields fail
    the request with the kube-apiserver's message; warn prints kubectl's warnings and drops
    them; false (Ignore) drops them silently."""
    k = kubectl_for(binary)
    m = tmp_path / "unknown.yaml"
    m.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: unk\nspec:\n  foo: bar\n  ports:\n  - port: 80\n    bogus: 1\n")
    r = k("create", "-f", str(m))
    assert r.returncode == 1
    assert (
        f'Error from server (BadRequest): error when creating "{m}": Service in version "v1" cannot be handled as a Service: '
        'strict decoding error: unknown field "spec.foo", unknown field "spec.ports[0].bogus"'
    ) in r.stderr
    assert k("get", "svc", "unk").returncode == 1

    r = k("apply", "-f", str(m), "--validate=warn")
    assert ok(r).strip() == "service/unk created"
    assert 'Warning: unknown field "spec.foo"' in r.stderr and 'Warning: unknown field "spec.ports[0].bogus"' in r.stderr
    stored = control_plane.call(lambda c: c.get("services", "unk"))
    assert "foo" not in stored["spec"] and stored["spec"]["ports"][0].keys() == {"port", "protocol", "targetPort"}
    ok(k("delete", "svc", "unk"))

    r = k("create", "-f", str(m), "--validate=false")
    assert ok(r).strip() == "service/unk created" and "Warning" not in r.stderr
    assert "foo" not in control_plane.call(lambda c: c.get("services", "unk"))["spec"]


DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: svcnet/echo
"""


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_scale_uses_the_scale_subresource(binary, control_plane, kubectl_for, tmp_path):
    k = kubectl_for(binary)
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT_YAML)
    assert ok(k("create", "-f", str(manifest))).strip() == "deployment.apps/web created"
    assert ok(k("scale", "deployment", "web", "--replicas=5")).strip() == "deployment.apps/web scaled"
    deploy = control_plane.call(lambda c: c.get("deployments", "web"))
    assert deploy["spec"]["replicas"] == 5 and deploy["metadata"]["generation"] == 2

    scale = yaml.safe_load(ok(k("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale")))
    assert scale == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k_: deploy["metadata"][k_] for k_ in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
        "spec": {"replicas": 5}, "status": {"replicas": 0, "selector": "app=web"},
    }

    r = k("scale", "deployment", "web", "--current-replicas=3", "--replicas=2")
    assert r.returncode == 1 and "Expected replicas to be 3, was 5" in r.stderr
    r = k("patch", "deployment", "web", "--subresource=scale", "--type=merge", "-p", '{"spec":{"replicas":-1}}')
    assert r.returncode == 1 and "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in r.stderr, r.stderr
    assert control_plane.call(lambda c: c.get("deployments", "web"))["spec"]["replicas"] == 5


@pytest.mark.parametrize("binary", BOTH)
def test_kubectl_logs_through_the_api_server_from_the_kubelet(binary, control_plane, kubectl_for, tmp_path):
    """kubectl logs -> pods/log -> the kubelet log server of the pod's node (a real LogServer
    on loopback, run on the control plane's loop; its Node records the port)."""
    from svcnet.kubelet.logs import LogServer

    cdir = tmp_path / "app"
    cdir.mkdir()
    (cdir / "0.log").write_bytes(b"run 0\n")
    (cdir / "1.log").write_bytes(b"one\ntwo\nthree\n")
    srv = LogServer(lambda ns, pod, container: cdir)
    port = control_plane.call(lambda c: srv.start("127.0.0.1", 0))

    async def setup(c):
        await c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        n = await c.get("nodes", "n1")
        n["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
        await c.update_status("nodes", n)
        for name, containers in (("web", ["app"]), ("two", ["a", "b"])):
            await c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                    "spec": {"nodeName": "n1", "containers": [{"name": x, "image": "svcnet/echo"} for x in containers]}})

    control_plane.call(setup)
    try:
        k = kubectl_for(binary)
        assert ok(k("logs", "web")) == "one\ntwo\nthree\n"
        assert ok(k("logs", "pod/web", "--tail=1")) == "three\n"
        assert ok(k("logs", "web", "--previous")) == "run 0\n"
        r = k("logs", "two")  # kubectl picks the first container itself and says so
        assert (r.returncode, r.stdout, r.stderr) == (0, "one\ntwo\nthree\n", 'Defaulted container "a" out of: a, b\n')
        r = k("get", "--raw", "/api/v1/namespaces/default/pods/two/log")  # the server does not guess
        assert r.returncode == 1 and "a container name must be specified for pod two, choose one of: [a b]" in r.stderr, r.stderr
        r = k("logs", "nope")
        assert r.returncode == 1 and '(NotFound): pods "nope" not found' in r.stderr, r.stderr  # kubectl words the rest by version
    finally:
        control_plane.call(lambda c: srv.stop())


JSONPATH_TEMPLATES = [
    "{.items[*].metadata.name}",
    "{.metadata.name} {.spec.ports[0].port}",
    '{range .items[*]}{.metadata.name}{"\\t"}{.spec.type}{"\\n"}{end}',
    '{.items[?(@.spec.type=="NodePort")].spec.ports[0].nodePort}',
    "{.spec.ports}",
    "{.spec}",
    "{.metadata.labels['tier']}",
    "{.missing.field}",
    "{..port}",
    "{.items[-1:].metadata.name}",
    "{$.kind}",
]


@pytest.mark.parametrize("binary", NEWEST_ONLY)
def test_svcnet_get_jsonpath_prints_what_kubectl_prints(binary, control_plane, kubectl_for, tmp_path):
    import subprocess as sp
    import sys

    k = kubectl_for(binary)
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SERVICE_YAML.format(port=80))
    ok(k("create", "-f", str(manifest)))
    (tmp_path / "np.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  ports:\n  - port: 81\n")
    ok(k("create", "-f", str(tmp_path / "np.yaml")))
    for template in JSONPATH_TEMPLATES:
        for target in (["svc"], ["svc", "web"]):
            want = k("get", *target, "-o", f"jsonpath={template}")
            got = sp.run([sys.executable, "-m", "svcnet.cli.main", "get", *target, "-o", f"jsonpath={template}", "--kubeconfig", control_plane.kubeconfig],
                         capture_output=True, text=True, timeout=60)
            assert (got.returncode, got.stdout) == (want.returncode, want.stdout), (template, target, got.stderr)
