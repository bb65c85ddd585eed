"""``svcnet up``: the whole local cluster in one foreground process; ``svcnet dns``: the cluster
DNS server alone, against any API server."""

from __future__ import annotations

import asyncio
import sys

import typer

from svcnet.cli.runtime import check_proxy_engine, install_loop, run_until_signalled, setup_logging
from svcnet.controlplane import ControlPlaneConfig
from svcnet.localcluster import LocalCluster, LocalClusterConfig, node_ip, node_name, pod_cidr

__all__ = ["register", "banner"]


def banner(cluster: LocalCluster) -> str:
    cp = cluster.control_plane
    cfg = cluster.config
    lines = [
        "svcnet is up (local mode).",
        f"  API server   {cp.server.url}",
        f"  kubeconfig   {cp.kubeconfig_path}",
        f"               kubectl --kubeconfig {cp.kubeconfig_path} get svc -A",
        f"  state        {cp.config.state}",
    ]
    for i in range(1, cfg.nodes + 1):
        lines.append(f"  {'nodes' if i == 1 else '     '}        {node_name(i)}  {node_ip(i)}  pods {pod_cidr(i)}")
    lines.append(f"  services     ClusterIPs {', '.join(cp.config.service_cidrs)}, NodePorts {cp.config.node_port_range[0]}-{cp.config.node_port_range[1]}, LoadBalancer IPs {', '.join(cp.config.lb_pools)}")
    if cfg.dns:
        lines.append(f"  DNS          dig @127.0.0.1 -p {cluster.dns_server.bound_port} kubernetes.default.svc.cluster.local")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        state: str = typer.Option("", "--state", help="SQLite state file (default: $XDG_STATE_HOME/svcnet/state.db). State survives restarts."),
        api_port: int = typer.Option(6443, "--api-port", help="API server port on 127.0.0.1."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Where to write the kubeconfig (default: in the svcnet state directory; never ~/.kube/config)."),
        nodes: int = typer.Option(1, "--nodes", min=1, max=200, help="Number of node agents (node i has IP 127.0.0.1 or 127.0.1.i)."),
        dns_port: int = typer.Option(10053, "--dns-port", help="Cluster DNS port on 127.0.0.1 (0 = any free port)."),
        scheduler: str = typer.Option("rr", "--proxy-scheduler", help="Default userspace-proxy scheduler: rr wrr lc wlc sed nq dh sh mh."),
        engine: str = typer.Option("auto", "--proxy-engine", help="Who relays TCP bytes: c (the compiled relay), python, or auto (c when it was built)."),
        apply: list[str] = typer.Option([], "-f", "--apply", help="Manifests to apply once the cluster is up (FILE or DIR; repeatable)."),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More logging (-v info, -vv debug)."),
    ) -> None:
        """Run the control plane, N node agents, cluster DNS and a cloud LB in the foreground."""
        setup_logging(verbose)
        check_proxy_engine(engine)
        cfg = LocalClusterConfig(
            control_plane=ControlPlaneConfig(state=state, api_port=api_port, kubeconfig=kubeconfig),
            nodes=nodes,
            dns_port=dns_port,
            scheduler=scheduler,
            tcp_engine=engine,
        )

        async def main(stop: asyncio.Event) -> None:
            cluster = LocalCluster(cfg)
            try:
                await cluster.start()
                await cluster.wait_ready()
                typer.echo(banner(cluster))
                if apply:
                    from svcnet.cli.cmd_apply import run_apply

                    await run_apply(cluster.client, list(apply), out=sys.stdout, err=sys.stderr)
                await stop.wait()
                typer.echo("stopping...")
            finally:
                await cluster.stop()

        install_loop()
        sys.exit(run_until_signalled(main))

    @app.command("dns")
    def dns(
        kubeconfig: str = typer.Option("", "--kubeconfig", help="kubeconfig of the API server (default: svcnet's own)."),
        host: str = typer.Option("127.0.0.1", "--listen", help="Address to answer on."),
        port: int = typer.Option(10053, "--port", help="Port (UDP and TCP)."),
        zone: str = typer.Option("cluster.local", "--zone", help="Cluster domain."),
        ttl: int = typer.Option(5, "--ttl", min=0, max=3600, help="TTL of cluster records."),
        upstream: list[str] = typer.Option([], "--upstream", help="Upstream resolver host:port (repeatable; default: /etc/resolv.conf)."),
        pods: str = typer.Option("insecure", "--pods", help="Pod records: disabled, insecure or verified."),
    ) -> None:
        """Run the cluster DNS server against an API server."""
        from svcnet.client.http import client_from_kubeconfig
        from svcnet.dns.config import DNSConfig
        from svcnet.dns.feed import DNSFeed
        from svcnet.dns.index import ClusterIndex
        from svcnet.dns.server import DNSServer

        dcfg = DNSConfig(zone=zone, ttl=ttl, pods=pods, upstreams=tuple(upstream) if upstream else None)
        problems = dcfg.validate()
        if problems:
            for p in problems:
                typer.echo(f"error: {p}", err=True)
            raise typer.Exit(2)

        async def main(stop: asyncio.Event) -> None:
            client = client_from_kubeconfig(kubeconfig or None)
            index = ClusterIndex.for_config(dcfg)
            server = DNSServer(dcfg, index)
            await server.start(host, port)
            feed = DNSFeed(client, index, pods=pods == "verified")
            task = asyncio.get_running_loop().create_task(feed.run())
            typer.echo(f"cluster DNS for {zone} on {host}:{server.bound_port} (UDP and TCP)")
            typer.echo(f"  dig @{host} -p {server.bound_port} kubernetes.default.svc.{zone}")
            try:
                await stop.wait()
            finally:
                task.cancel()
                await server.stop()
                await client.close()

        install_loop()
        sys.exit(run_until_signalled(main))
