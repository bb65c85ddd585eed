"""Probes: defaults, the pure state machine (thresholds, gating, deletion), real checkers."""

import asyncio
import sys

import pytest

from svcnet.kubelet.probes import (
    FAILURE,
    SUCCESS,
    UNKNOWN,
    ProbeError,
    initial_state,
    on_deletion,
    probe_due,
    probe_record,
    probe_spec,
    resolve_port,
    run_probe,
)

from ._util import free_port

S, F = SUCCESS, FAILURE


def spec(kind="readiness", **probe):
    probe.setdefault("tcpSocket", {"port": 80})
    return probe_spec(kind, {f"{kind}Probe": probe})


# -- spec defaults ---------------------------------------------------------------------------


def test_probe_spec_upstream_defaults():
    ps = probe_spec("readiness", {"readinessProbe": {"httpGet": {"port": 80}}})
    assert (ps.initial_delay, ps.period, ps.timeout, ps.success_threshold, ps.failure_threshold) == (0, 10, 1, 1, 3)
    assert ps.handler == "httpGet" and ps.action == {"port": 80}


def test_probe_spec_none_without_probe():
    assert probe_spec("liveness", {"name": "c"}) is None


@pytest.mark.parametrize("kind", ["liveness", "startup"])
def test_probe_spec_success_threshold_forced_to_one(kind):
    assert spec(kind, successThreshold=5).success_threshold == 1


def test_probe_spec_readiness_keeps_success_threshold():
    assert spec("readiness", successThreshold=3).success_threshold == 3


def test_probe_spec_time_scale():
    ps = probe_spec("readiness", {"readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 2, "initialDelaySeconds": 5, "timeoutSeconds": 4}}, time_scale=0.1)
    assert (ps.period, ps.initial_delay) == pytest.approx((0.2, 0.5))
    assert ps.timeout == pytest.approx(0.5)  # scaled 0.4 but floored at min(4, 0.5)


# -- machine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, want", [("readiness", F), ("liveness", S), ("startup", UNKNOWN)])
def test_initial_result_per_kind(kind, want):
    assert initial_state(spec(kind), 100.0).result == want


def test_initial_delay_then_period():
    ps = spec(initialDelaySeconds=5, periodSeconds=10)
    st = initial_state(ps, 100.0)
    assert not probe_due(ps, st, 104.9, running=True, started=True)
    assert probe_due(ps, st, 105.0, running=True, started=True)
    st = probe_record(ps, st, S, started_at=105.0).state
    assert not probe_due(ps, st, 114.9, running=True, started=True)
    assert probe_due(ps, st, 115.0, running=True, started=True)


def test_not_due_when_not_running():
    ps = spec()
    assert not probe_due(ps, initial_state(ps, 0), 50, running=False, started=True)


@pytest.mark.parametrize(
    "kind, started, due",
    [
        ("startup", False, True),
        ("startup", True, False),  # startup stops once the container started
        ("liveness", False, False),  # liveness and readiness wait for the startup gate
        ("readiness", False, False),
        ("liveness", True, True),
        ("readiness", True, True),
    ],
)
def test_startup_gating_table(kind, started, due):
    ps = spec(kind)
    assert probe_due(ps, initial_state(ps, 0), 0, running=True, started=started) is due


def run(ps, results, t0=0.0):
    """Feed raw results one period apart; return the published result after each."""
    st = initial_state(ps, t0)
    out = []
    t = t0
    for r in results:
        o = probe_record(ps, st, r, started_at=t)
        st = o.state
        out.append((st.result, o.changed, o.restart))
        t += ps.period
    return out


@pytest.mark.parametrize(
    "kind, thresholds, results, published",
    [
        pytest.param("readiness", {}, [S], [S], id="readiness-first-success-ready"),
        pytest.param("readiness", {}, [S, F, F, F], [S, S, S, F], id="readiness-3-failures-unready"),
        pytest.param("readiness", {}, [S, F, F, S, F, F], [S, S, S, S, S, S], id="readiness-failure-run-reset"),
        pytest.param("readiness", {"successThreshold": 2}, [S, S, F, S, S], [F, S, S, S, S], id="readiness-success-threshold-2"),
        pytest.param("readiness", {"failureThreshold": 1}, [S, F, S], [S, F, S], id="readiness-failure-threshold-1"),
        pytest.param("liveness", {}, [F, F], [S, S], id="liveness-below-threshold"),
        pytest.param("liveness", {}, [F, F, F], [S, S, F], id="liveness-threshold-restart"),
        pytest.param("startup", {"failureThreshold": 2}, [F, S], [UNKNOWN, S], id="startup-success"),
        pytest.param("startup", {"failureThreshold": 2}, [F, F], [UNKNOWN, F], id="startup-failure"),
    ],
)
def test_threshold_table(kind, thresholds, results, published):
    got = run(spec(kind, **thresholds), results)
    assert [g[0] for g in got] == published


def test_none_result_is_thrown_away():
    ps = spec(failureThreshold=2)
    st = initial_state(ps, 0)
    st = probe_record(ps, st, F, started_at=0).state
    o = probe_record(ps, st, None, started_at=10)
    assert (o.state.run, o.state.last, o.changed, o.state.next_at) == (1, F, False, 20)


def test_liveness_failure_holds_and_restarts_once():
    ps = spec("liveness", failureThreshold=1)
    st = initial_state(ps, 0)
    o = probe_record(ps, st, F, started_at=0)
    assert o.restart and o.changed and o.state.on_hold
    assert not probe_due(ps, o.state, 1000, running=True, started=True)


def test_readiness_failure_does_not_restart():
    ps = spec("readiness", failureThreshold=1)
    o = probe_record(ps, probe_record(ps, initial_state(ps, 0), S, started_at=0).state, F, started_at=10)
    assert o.changed and not o.restart and not o.state.on_hold


def test_changed_only_on_transition():
    got = run(spec(failureThreshold=1), [S, S, F, F, S])
    assert [g[1] for g in got] == [True, False, True, False, True]


@pytest.mark.parametrize("kind, result, stopped", [("liveness", S, True), ("startup", S, True), ("readiness", F, False)])
def test_on_deletion(kind, result, stopped):
    ps = spec(kind)
    st = on_deletion(ps, initial_state(ps, 0))
    assert st.stopped is stopped
    if kind != "readiness":
        assert st.result == result
        assert not probe_due(ps, st, 100, running=True, started=kind != "startup")
    else:
        assert probe_due(ps, st, 100, running=True, started=True)  # readiness keeps probing


# -- checkers --------------------------------------------------------------------------------


CONTAINER = {"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}


@pytest.mark.parametrize("port, want", [(8080, 8080), ("8080", 8080), ("http", 8080), ("dns", 53)])
def test_resolve_port_table(port, want):
    assert resolve_port(port, CONTAINER) == want


@pytest.mark.parametrize("port", ["nope", 0, 70000, None])
def test_resolve_port_errors(port):
    with pytest.raises(ProbeError):
        resolve_port(port, CONTAINER)


@pytest.fixture
async def http_server(pod_ip):
    """A tiny HTTP server on the pod IP that answers ``/code/<n>`` with status n and echoes headers."""
    seen = []

    async def handle(r, w):
        head = (await r.readuntil(b"\r\n\r\n")).decode()
        seen.append(head)
        path = head.split()[1]
        code = int(path.rsplit("/", 1)[1]) if path.startswith("/code/") else 200
        if path == "/slow":
            await asyncio.sleep(2)
        w.write(f"HTTP/1.1 {code} X\r\nContent-Length: 2\r\n\r\nok".encode())
        await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, pod_ip, 0)
    port = srv.sockets[0].getsockname()[1]
    yield pod_ip, port, seen
    srv.close()
    await srv.wait_closed()


@pytest.mark.parametrize("code, want", [(200, S), (204, S), (302, S), (399, S), (400, F), (404, F), (500, F), (503, F)])
async def test_http_probe_status_codes(http_server, code, want):
    ip, port, _ = http_server
    ps = probe_spec("readiness", {"readinessProbe": {"httpGet": {"path": f"/code/{code}", "port": port}}})
    result, _ = await run_probe(ps, {}, ip)
    assert result == want


async def test_http_probe_sends_headers_and_named_port(http_server):
    ip, port, seen = http_server
    c = {"ports": [{"name": "web", "containerPort": port}]}
    ps = probe_spec("liveness", {"livenessProbe": {"httpGet": {"path": "/healthz", "port": "web", "httpHeaders": [{"name": "X-Test", "value": "yes"}]}}})
    assert (await run_probe(ps, c, ip))[0] == S
    assert "GET /healthz HTTP/1.1" in seen[0] and "X-Test: yes" in seen[0] and "User-Agent: kube-probe/" in seen[0]


async def test_http_probe_timeout_is_failure(http_server):
    ip, port, _ = http_server
    ps = probe_spec("readiness", {"readinessProbe": {"httpGet": {"path": "/slow", "port": port}, "timeoutSeconds": 1}}, time_scale=0.3)
    result, out = await run_probe(ps, {}, ip)
    assert result == F and "timed out" in out


async def test_http_probe_connection_refused(pod_ip):
    ps = probe_spec("readiness", {"readinessProbe": {"httpGet": {"port": free_port(pod_ip)}}})
    assert (await run_probe(ps, {}, pod_ip))[0] == F


async def test_http_probe_https_unsupported(pod_ip):
    ps = probe_spec("readiness", {"readinessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS"}}})
    result, out = await run_probe(ps, {}, pod_ip)
    assert result is None and "HTTPS" in out


async def test_tcp_probe_success_and_failure(http_server):
    ip, port, _ = http_server
    ok = probe_spec("readiness", {"readinessProbe": {"tcpSocket": {"port": port}}})
    assert (await run_probe(ok, {}, ip))[0] == S
    bad = probe_spec("readiness", {"readinessProbe": {"tcpSocket": {"port": free_port(ip)}}})
    assert (await run_probe(bad, {}, ip))[0] == F


async def test_tcp_probe_unknown_named_port_is_error(pod_ip):
    ps = probe_spec("readiness", {"readinessProbe": {"tcpSocket": {"port": "nope"}}})
    assert (await run_probe(ps, CONTAINER, pod_ip))[0] is None


@pytest.mark.parametrize("code, want", [(0, S), (1, F), (3, F)])
async def test_exec_probe_exit_status(code, want):
    ps = probe_spec("liveness", {"livenessProbe": {"exec": {"command": [sys.executable, "-c", f"import sys; sys.exit({code})"]}, "timeoutSeconds": 10}})
    assert (await run_probe(ps, {}, ""))[0] == want


async def test_exec_probe_gets_container_env_and_cwd(tmp_path):
    (tmp_path / "ready").write_text("x")
    cmd = [sys.executable, "-c", "import os,sys; sys.exit(0 if os.environ['POD_IP']=='1.2.3.4' and os.path.exists('ready') else 1)"]
    ps = probe_spec("readiness", {"readinessProbe": {"exec": {"command": cmd}, "timeoutSeconds": 10}})
    assert (await run_probe(ps, {}, "", env={"POD_IP": "1.2.3.4"}, cwd=str(tmp_path)))[0] == S


async def test_exec_probe_timeout_kills_and_fails():
    ps = probe_spec("liveness", {"livenessProbe": {"exec": {"command": ["sleep", "30"]}, "timeoutSeconds": 1}}, time_scale=0.5)
    result, out = await asyncio.wait_for(run_probe(ps, {}, ""), 5)
    assert result == F and "timed out" in out


async def test_exec_probe_missing_command_is_error():
    ps = probe_spec("liveness", {"livenessProbe": {"exec": {"command": ["/no/such/binary"]}}})
    assert (await run_probe(ps, {}, ""))[0] is None


async def test_grpc_probe_unsupported():
    ps = probe_spec("liveness", {"livenessProbe": {"grpc": {"port": 9000}}})
    result, out = await run_probe(ps, {}, "127.0.0.1")
    assert result is None and "grpc" in out
