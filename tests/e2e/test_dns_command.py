"""``svcnet dns`` as its own process against a running API server (over HTTPS, through the
kubeconfig), asked with dnspython: a Service created afterwards is answered, a deleted one turns
NXDOMAIN."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

pytestmark = pytest.mark.slow


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ask(port: int, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=2)


def _until(pred, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
            if v:
                return v
        except dns.exception.Timeout:
            pass
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_svcnet_dns_serves_a_remote_api_server(control_plane):
    port = _free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "svcnet.cli.main", "dns", "--kubeconfig", control_plane.kubeconfig, "--port", str(port), "--upstream", "127.0.0.1:9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert f"on 127.0.0.1:{port}" in first, first
        svc = control_plane.call(
            lambda c: c.create(
                "services",
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
            )
        )
        name = "web.default.svc.cluster.local."
        reply = _until(lambda: (r := _ask(port, name)).answer and r)
        assert [rd.address for rd in reply.answer[0]] == [svc["spec"]["clusterIP"]]
        assert reply.flags & dns.flags.AA
        control_plane.call(lambda c: c.delete("services", "web"))
        _until(lambda: _ask(port, name).rcode() == dns.rcode.NXDOMAIN)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
