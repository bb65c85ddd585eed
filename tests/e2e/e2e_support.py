"""Helpers for the end-to-end tests (a uniquely named module, imported by ``conftest.py`` and
the tests; ``import conftest`` could pick up another directory's conftest).

:class:`BackgroundControlPlane`: a real control plane (SQLite state, TLS, tokens, a kubeconfig)
on 127.0.0.1 with a free port, on its own thread and event loop, so a test can block on a
subprocess (kubectl) while the server keeps serving. :class:`Kubectl` runs a kubectl binary with
a private HOME. Every wait has a timeout; everything lives in the test's ``tmp_path``, so tests
are independent under ``pytest -n``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from svcnet.client.base import Client
from svcnet.client.http import client_from_kubeconfig
from svcnet.controlplane import ControllerManager, ControlPlane, ControlPlaneConfig

T = TypeVar("T")

#: generous: a loaded CI machine; no test asserts on time
CALL_TIMEOUT = 30.0
KUBECTL_DIRS = ("/usr/lib/google-cloud-sdk/bin",)


class BackgroundControlPlane:
    """A :class:`ControlPlane` (plus a :class:`ControllerManager` running the EndpointSlice and
    Endpoints controllers over HTTP, as a separate controller-manager would) on a private
    thread with its own event loop.

    ``call(fn)`` runs ``fn(client)`` - an HTTP :class:`Client` from the generated kubeconfig -
    on that loop and returns its result."""

    def __init__(self, directory: Path, *, service_cidr: str = "10.96.0.0/12", controllers: tuple[str, ...] = ("endpointslice", "endpoints")):
        self.dir = directory
        self.config = ControlPlaneConfig(
            state=str(directory / "state.db"),
            api_port=0,
            kubeconfig=str(directory / "kubeconfig"),
            service_cidrs=(service_cidr,),
        )
        self.controllers = controllers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="control-plane", daemon=True)
        self.cp: ControlPlane | None = None
        self.cm: ControllerManager | None = None
        self.client: Client | None = None
        self.cm_client: Client | None = None

    @property
    def kubeconfig(self) -> str:
        return self.config.kubeconfig

    def start(self) -> "BackgroundControlPlane":
        self.thread.start()
        self._run(self._start())
        return self

    async def _start(self) -> None:
        self.cp = ControlPlane(self.config)
        await self.cp.start()
        self.client = client_from_kubeconfig(self.kubeconfig)
        if self.controllers:
            self.cm_client = client_from_kubeconfig(self.kubeconfig)
            self.cm = ControllerManager(self.cm_client, only=self.controllers)
            await self.cm.start()

    async def _stop(self) -> None:
        if self.cm is not None:
            await self.cm.stop()
        for c in (self.client, self.cm_client):
            if c is not None:
                await c.close()
        if self.cp is not None:
            await self.cp.stop()
        # let cancelled connection handlers finish before the loop stops (no "Task was
        # destroyed but it is pending" noise)
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in rest:
            t.cancel()
        if rest:
            await asyncio.wait(rest, timeout=5)

    def _run(self, coro: Awaitable[T], timeout: float = CALL_TIMEOUT) -> T:
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    def call(self, fn: Callable[[Client], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        assert self.client is not None
        return self._run(fn(self.client), timeout)

    def wait_for(self, fn: Callable[[Client], Awaitable[Any]], what: str, timeout: float = CALL_TIMEOUT) -> Any:
        """Poll ``fn(client)`` until it returns something truthy."""

        async def poll() -> Any:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            last = None
            while loop.time() < deadline:
                last = await fn(self.client)  # type: ignore[arg-type]
                if last:
                    return last
                await asyncio.sleep(0.05)
            raise AssertionError(f"timed out waiting for {what}; last: {last!r}")

        return self._run(poll(), timeout + 5)

    def stop(self) -> None:
        try:
            if self.thread.is_alive():
                self._run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.thread.is_alive():
                self.loop.close()


# ---------------------------------------------------------------------------------------------
# kubectl


def _minor(path: str) -> int:
    m = re.search(r"kubectl\.1\.(\d+)$", path)
    return int(m.group(1)) if m else -1


def kubectl_binaries() -> list[str]:
    """Versioned ``kubectl.1.N`` binaries (the Cloud SDK ships several), oldest first; else the
    ``kubectl`` on PATH; else nothing."""
    found: dict[int, str] = {}
    dirs = list(KUBECTL_DIRS) + os.environ.get("PATH", "").split(os.pathsep)
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if re.fullmatch(r"kubectl\.1\.\d+", name) and os.access(p, os.X_OK):
                found.setdefault(_minor(p), p)
    if found:
        return [found[k] for k in sorted(found)]
    plain = shutil.which("kubectl")
    return [plain] if plain else []


KUBECTLS = kubectl_binaries()
NEWEST = KUBECTLS[-1] if KUBECTLS else None
OLDEST = KUBECTLS[0] if KUBECTLS else None
NO_KUBECTL = "no kubectl binary found (looked for kubectl.1.* in /usr/lib/google-cloud-sdk/bin and PATH, and kubectl on PATH)"


def kubectl_id(path: str | None) -> str:
    if path is None:
        return "none"
    m = _minor(path)
    return f"kubectl-1.{m}" if m >= 0 else "kubectl"


class Kubectl:
    """Runs one kubectl binary against a kubeconfig with a private HOME and cache directory
    (never the user's ~/.kube)."""

    def __init__(self, binary: str, kubeconfig: str, home: Path):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": kubeconfig,
            "LANG": "C.UTF-8",
        }

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", self.kubeconfig, "--cache-dir", str(self.home / "cache"), "--request-timeout", "20s", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), input=input, capture_output=True, text=True, env=self.env, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)


def columns(line: str) -> list[str]:
    """Split a kubectl table line into cells (cells are separated by 2+ spaces; a cell such as
    ``http  81/TCP`` never appears in tables)."""
    return re.split(r"\s{2,}", line.strip())
