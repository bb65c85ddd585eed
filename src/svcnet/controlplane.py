"""The control plane as a service: store + registry + API server (+ TLS, tokens, kubeconfig),
and the controller manager that runs every controller against any client.

``svcnet up`` runs both in one process (controllers use the in-process transport);
``svcnet apiserver`` and ``svcnet controller-manager`` run them as separate processes (the
controllers then use the HTTP transport through a kubeconfig).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from svcnet.apiserver.auth import TokenAuth, write_token_file
from svcnet.apiserver.certs import ensure_serving_certs
from svcnet.apiserver.registry import ClusterConfig, Registry
from svcnet.apiserver.server import APIServer
from svcnet.client.base import Client
from svcnet.client.inprocess import InProcessTransport
from svcnet.client.kubeconfig import default_kubeconfig_path, state_dir, write_kubeconfig
from svcnet.store import open_store
from svcnet.tasks import cancel_and_wait

__all__ = ["ControlPlane", "ControlPlaneConfig", "ControllerManager", "LOCAL_DEFAULTS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlPlaneConfig:
    #: the store: a SQLite file path, or "memory:"
    state: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 6443
    kubeconfig: str = ""
    service_cidrs: tuple[str, ...] = ("127.96.0.0/16",)
    node_port_range: tuple[int, int] = (30000, 32767)
    lb_pools: tuple[str, ...] = ("127.240.0.0/24",)
    auth: bool = True

    def resolved(self) -> "ControlPlaneConfig":
        """Fill in the defaults that live in the user's state directory."""
        sd = state_dir()
        return ControlPlaneConfig(
            state=self.state or str(sd / "state.db"),
            api_host=self.api_host,
            api_port=self.api_port,
            kubeconfig=self.kubeconfig or str(default_kubeconfig_path()),
            service_cidrs=self.service_cidrs,
            node_port_range=self.node_port_range,
            lb_pools=self.lb_pools,
            auth=self.auth,
        )


#: local mode (the embedded default): everything on loopback addresses
LOCAL_DEFAULTS = ControlPlaneConfig()


class ControlPlane:
    """Store, registry and API server, with the files a client needs to reach them."""

    def __init__(self, config: ControlPlaneConfig):
        self.config = config.resolved()
        self.store = None
        self.registry: Registry | None = None
        self.server: APIServer | None = None
        self.kubeconfig_path: Path | None = None
        self.files_dir = Path(self.config.kubeconfig).parent if self.config.kubeconfig else state_dir()

    async def start(self) -> None:
        cfg = self.config
        self.store = open_store(cfg.state)
        self.registry = Registry(
            self.store,
            ClusterConfig(
                service_cidrs=cfg.service_cidrs,
                node_port_range=cfg.node_port_range,
                api_endpoint=(cfg.api_host, cfg.api_port) if cfg.api_port else None,
            ),
        )
        auth = certs = None
        token = ""
        if cfg.auth:
            token, _viewer = write_token_file(self.files_dir / "tokens.csv")
            auth = TokenAuth.from_file(self.files_dir / "tokens.csv")
            hosts = [cfg.api_host] if cfg.api_host not in ("0.0.0.0", "::") else ["127.0.0.1"]
            certs = ensure_serving_certs(self.files_dir / "pki", hosts)
        self.server = APIServer(self.registry, host=cfg.api_host, port=cfg.api_port, auth=auth, certs=certs)
        await self.server.start()
        # the API endpoint is known only now when port 0 was asked for
        self.registry.config = ClusterConfig(
            service_cidrs=cfg.service_cidrs,
            node_port_range=cfg.node_port_range,
            api_endpoint=(cfg.api_host if cfg.api_host not in ("0.0.0.0", "::") else "127.0.0.1", self.server.port),
        )
        self.registry.bootstrap()
        if cfg.kubeconfig:
            self.kubeconfig_path = write_kubeconfig(
                cfg.kubeconfig, self.server.url, token, ca_pem=certs.ca_pem if certs else None
            )

    def client(self) -> Client:
        """An in-process client (same pipeline as HTTP, no socket)."""
        assert self.registry is not None
        return Client(InProcessTransport(self.registry))

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.store is not None:
            self.store.close()


# ---------------------------------------------------------------------------------------------

def _controller_factories(lb_pools: tuple[str, ...]) -> dict[str, Callable[[Client], object]]:
    """name -> factory; each controller has an ``async run()``. Imported lazily so a missing
    optional piece does not stop the others."""
    out: dict[str, Callable[[Client], object]] = {}

    def add(name: str, module: str, cls: str, **kw: object) -> None:
        def make(client: Client) -> object:
            mod = __import__(module, fromlist=[cls])
            return getattr(mod, cls)(client, **kw)

        out[name] = make

    add("endpointslice", "svcnet.controllers.endpointslice", "EndpointSliceController")
    add("endpoints", "svcnet.controllers.endpoints", "EndpointsController")
    add("loadbalancer-ipam", "svcnet.controllers.lbcontroller", "LoadBalancerController", pools=lb_pools)
    add("replicaset", "svcnet.controllers.replicaset", "ReplicaSetController")
    add("deployment", "svcnet.controllers.deployment", "DeploymentController")
    add("scheduler", "svcnet.controllers.scheduler", "Scheduler")
    add("garbagecollector", "svcnet.controllers.gc", "GarbageCollector")
    add("event-ttl", "svcnet.controllers.eventttl", "EventTTLController")
    return out


@dataclass
class ControllerManager:
    """Runs the controllers; a controller that crashes is restarted after a back-off."""

    client: Client
    lb_pools: tuple[str, ...] = ("127.240.0.0/24",)
    only: tuple[str, ...] | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    running: dict[str, object] = field(default_factory=dict)

    async def start(self) -> None:
        for name, make in _controller_factories(self.lb_pools).items():
            if self.only is not None and name not in self.only:
                continue
            try:
                ctl = make(self.client)
            except (ImportError, AttributeError) as e:
                log.warning("controller %s not available: %s", name, e)
                continue
            self.running[name] = ctl
            self.tasks.append(asyncio.get_running_loop().create_task(self._supervise(name, ctl.run), name=f"ctl-{name}"))

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.5
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller %s crashed; restarting in %.1fs", name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)

    async def stop(self) -> None:
        await cancel_and_wait(self.tasks)
        self.tasks.clear()
