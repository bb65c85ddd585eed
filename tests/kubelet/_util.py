"""Shared helpers for the kubelet tests: loopback pod IPs, free ports, bounded waits."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time


def random_pod_ip() -> str:
    """An address of 127.244.250.0/24 (the stand-in test range), random to keep parallel runs apart."""
    return f"127.244.250.{random.randint(2, 254)}"


def free_port(ip: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def free_tcp_udp_port(ip: str) -> int:
    """A port free for both TCP and UDP on ``ip``."""
    for _ in range(50):
        p = free_port(ip)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((ip, p))
            return p
        except OSError:
            continue
    raise RuntimeError("no port free for TCP and UDP")


async def eventually(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll an (async or sync) predicate until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    state = data[data.rfind(b")") + 2 : data.rfind(b")") + 3]
    return state not in (b"Z", b"X")


def kill_group(pid: int) -> None:
    """Clean-up for tests: SIGKILL the process group a test started (by its leader's PID)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
