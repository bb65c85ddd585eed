"""preStop hooks: each handler, failure and timeout reporting (no pods needed)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from svcnet.kubelet.lifecycle import run_pre_stop


def _container(hook: dict | None) -> dict:
    c: dict = {"name": "c", "image": "x"}
    if hook is not None:
        c["lifecycle"] = {"preStop": hook}
    return c


async def test_run_pre_stop_none_is_ok():
    assert await run_pre_stop(_container(None), "127.0.0.1", env=None, cwd=None, timeout=1) is None


async def test_run_pre_stop_sleep_waits_its_seconds():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await run_pre_stop(_container({"sleep": {"seconds": 0.2}}), "127.0.0.1", env=None, cwd=None, timeout=5) is None
    assert loop.time() - t0 >= 0.2


async def test_run_pre_stop_sleep_longer_than_grace_times_out():
    err = await run_pre_stop(_container({"sleep": {"seconds": 5}}), "127.0.0.1", env=None, cwd=None, timeout=0.1)
    assert err == "preStop hook did not finish within 0.1s"


@pytest.mark.parametrize(
    ("code", "ok"),
    [pytest.param(0, True, id="exit 0"), pytest.param(3, False, id="exit 3")],
)
async def test_run_pre_stop_exec(code, ok, tmp_path):
    hook = {"exec": {"command": [sys.executable, "-c", f"import sys; print('bye'); sys.exit({code})"]}}
    err = await run_pre_stop(_container(hook), "127.0.0.1", env=None, cwd=str(tmp_path), timeout=10)
    assert (err is None) == ok
    if not ok:
        assert err.startswith("preStop hook failed:")


async def test_run_pre_stop_http_get_hits_the_pod():
    seen = []

    async def handle(r, w):
        seen.append(await r.readline())
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        hook = {"httpGet": {"path": "/drain", "port": port}}
        assert await run_pre_stop(_container(hook), "127.0.0.1", env=None, cwd=None, timeout=5) is None
    finally:
        srv.close()
    assert seen and seen[0].startswith(b"GET /drain ")


async def test_run_pre_stop_unknown_handler():
    assert await run_pre_stop(_container({"tcpSocket": {"port": 1}}), "127.0.0.1", env=None, cwd=None, timeout=1) == (
        "preStop hook has no supported handler"
    )
