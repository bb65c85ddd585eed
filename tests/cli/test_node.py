"""``svcnet node``: the local-mode address rules it checks before starting anything."""

from __future__ import annotations

import subprocess
import sys

import pytest

from svcnet.cli.cmd_node import _local_mode_problem, default_pod_cidr


@pytest.mark.parametrize(
    "ip, cidr",
    [("127.0.0.1", "127.244.1.0/24"), ("127.0.1.2", "127.244.2.0/24"), ("127.0.1.17", "127.244.17.0/24"), ("127.0.3.1", None), ("10.0.0.1", None)],
)
def test_default_pod_cidr_follows_svcnet_up(ip, cidr):
    assert default_pod_cidr(ip) == cidr


@pytest.mark.parametrize(
    "ip, cidr, problem",
    [
        ("127.0.3.1", "127.245.1.0/24", None),
        ("127.0.0.1", "127.244.1.0/24", None),
        ("node1", "127.244.1.0/24", "--ip 'node1' is not an IP address"),
        ("10.1.1.1", "127.244.1.0/24", "--ip 10.1.1.1: local mode puts nodes on loopback addresses (127.0.0.0/8)"),
        ("::1", "127.244.1.0/24", None),
        ("127.0.3.1", None, "--pod-cidr is required for node IP 127.0.3.1 (there is a default only for svcnet up's node IPs)"),
        ("127.0.3.1", "10.0.0.0/24", "--pod-cidr 10.0.0.0/24: local mode puts pods on loopback addresses (inside 127.0.0.0/8)"),
        ("127.0.3.1", "126.0.0.0/7", "--pod-cidr 126.0.0.0/7: local mode puts pods on loopback addresses (inside 127.0.0.0/8)"),
        ("127.0.3.1", "127.x/24", "--pod-cidr '127.x/24' is not a CIDR"),
    ],
)
def test_local_mode_problem(ip, cidr, problem):
    assert _local_mode_problem(ip, cidr) == problem


def test_node_refuses_a_non_loopback_ip_before_starting_anything():
    r = subprocess.run(
        [sys.executable, "-m", "svcnet.cli.main", "node", "--ip", "192.168.1.5", "--pod-cidr", "127.245.0.0/24", "--kubeconfig", "/nonexistent"],
        capture_output=True, text=True, timeout=60,
    )
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "error: --ip 192.168.1.5: local mode puts nodes on loopback addresses (127.0.0.0/8)\n"
