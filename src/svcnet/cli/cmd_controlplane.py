"""``svcnet apiserver`` and ``svcnet controller-manager``: the control plane as separate processes.

``svcnet up`` (``cmd_up.py``) runs both, and the node agents, in one process.
"""

from __future__ import annotations

import asyncio
import sys

import typer

from svcnet.cli.runtime import install_loop, run_until_signalled
from svcnet.controlplane import ControllerManager, ControlPlane, ControlPlaneConfig

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("apiserver")
    def apiserver(
        state: str = typer.Option("", "--state", help="SQLite state file (default: in the svcnet state directory); 'memory:' keeps nothing"),
        api_host: str = typer.Option("127.0.0.1", "--api-host", help="Address to listen on (loopback by default)."),
        api_port: int = typer.Option(6443, "--api-port", help="Port to listen on."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Where to write the admin kubeconfig (default: in the svcnet state directory; never ~/.kube/config)."),
        service_cidr: str = typer.Option("127.96.0.0/16", "--service-cluster-ip-range", help="Service ClusterIP range (comma-separated for dual-stack)."),
        node_port_range: str = typer.Option("30000-32767", "--service-node-port-range"),
    ) -> None:
        """Run only the API server (Kubernetes REST + watch over the store)."""
        lo, hi = (int(x) for x in node_port_range.split("-", 1))
        cfg = ControlPlaneConfig(
            state=state,
            api_host=api_host,
            api_port=api_port,
            kubeconfig=kubeconfig,
            service_cidrs=tuple(c.strip() for c in service_cidr.split(",") if c.strip()),
            node_port_range=(lo, hi),
        )

        async def main(stop: asyncio.Event) -> None:
            cp = ControlPlane(cfg)
            await cp.start()
            typer.echo(f"API server listening on {cp.server.url}")
            typer.echo(f"state: {cp.config.state}")
            typer.echo(f"kubeconfig: {cp.kubeconfig_path}")
            try:
                await stop.wait()
            finally:
                await cp.stop()

        install_loop()
        sys.exit(run_until_signalled(main))

    @app.command("controller-manager")
    def controller_manager(
        kubeconfig: str = typer.Option("", "--kubeconfig", help="kubeconfig of the API server (default: svcnet's own)."),
        controllers: str = typer.Option("", "--controllers", help="Comma-separated subset to run (default: all)."),
        lb_pool: str = typer.Option("127.240.0.0/24", "--lb-pool", help="LoadBalancer IP pool(s), comma-separated CIDRs or start-end ranges."),
    ) -> None:
        """Run the controllers against an API server (over HTTP)."""
        from svcnet.client.http import client_from_kubeconfig

        async def main(stop: asyncio.Event) -> None:
            client = client_from_kubeconfig(kubeconfig or None)
            only = tuple(c.strip() for c in controllers.split(",") if c.strip()) or None
            cm = ControllerManager(client, lb_pools=tuple(p.strip() for p in lb_pool.split(",") if p.strip()), only=only)
            await cm.start()
            typer.echo(f"controllers running: {', '.join(cm.running)}")
            try:
                await stop.wait()
            finally:
                await cm.stop()
                await client.close()

        install_loop()
        sys.exit(run_until_signalled(main))
