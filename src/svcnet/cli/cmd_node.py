"""``svcnet node`` and ``svcnet cloud-lb``: a node agent and the cloud LB as separate processes.

With ``svcnet apiserver``, ``svcnet controller-manager`` and ``svcnet dns`` these are the pieces
``svcnet up`` runs in one process; each talks to the API server only through the client
interface (over HTTP here), so it can run anywhere that reaches the API.

In local mode every node agent shares the host's network namespace: exactly one of them should
listen on ClusterIPs and externalIPs (``--cluster-ips``, the default; pass ``--no-cluster-ips``
to the others), each needs its own node IP and pod range, and LoadBalancer IPs belong either to
``svcnet cloud-lb`` or, without one, to the node agents (``--lb-ips``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys

import typer

from svcnet.cli.runtime import check_proxy_engine, install_loop, run_until_signalled, setup_logging

__all__ = ["register", "default_pod_cidr"]


def default_pod_cidr(ip: str) -> str | None:
    """The pod range ``svcnet up`` gives the node with this IP (127.0.0.1 -> node1 ->
    127.244.1.0/24, 127.0.1.N -> 127.244.N.0/24); None for any other IP."""
    from svcnet.localcluster import node_ip, pod_cidr

    for i in range(1, 256):
        if node_ip(i) == ip:
            return pod_cidr(i)
    return None


def _local_mode_problem(ip: str, cidr: str | None) -> str | None:
    """Local mode keeps nodes and pods on loopback addresses (nothing reaches the host's
    network): anything else is refused here rather than half-started."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return f"--ip {ip!r} is not an IP address"
    if not addr.is_loopback:
        return f"--ip {ip}: local mode puts nodes on loopback addresses (127.0.0.0/8)"
    if cidr is None:
        return f"--pod-cidr is required for node IP {ip} (there is a default only for svcnet up's node IPs)"
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return f"--pod-cidr {cidr!r} is not a CIDR"
    if net.version != 4 or not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
        return f"--pod-cidr {cidr}: local mode puts pods on loopback addresses (inside 127.0.0.0/8)"
    return None


def register(app: typer.Typer) -> None:
    @app.command("node")
    def node(
        name: str = typer.Option("node1", "--name", help="Node name."),
        ip: str = typer.Option("127.0.0.1", "--ip", help="Node IP (a loopback address in local mode; nodeN of svcnet up is 127.0.1.N)."),
        pod_cidr: str = typer.Option("", "--pod-cidr", help="Pod IP range of this node (default: svcnet up's for this node IP, e.g. 127.244.2.0/24 for 127.0.1.2)."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="kubeconfig of the API server (default: svcnet's own)."),
        state_dir: str = typer.Option("", "--state-dir", help="Pod logs and process records (default: <svcnet state dir>/nodes/<name>)."),
        cluster_ips: bool = typer.Option(True, "--cluster-ips/--no-cluster-ips", help="Listen on ClusterIPs and externalIPs (one node per host)."),
        lb_ips: bool = typer.Option(False, "--lb-ips/--no-lb-ips", help="Listen on LoadBalancer IPs too (when no svcnet cloud-lb runs)."),
        scheduler: str = typer.Option("rr", "--proxy-scheduler", help="Default scheduler: rr wrr lc wlc sed nq dh sh mh."),
        engine: str = typer.Option("auto", "--proxy-engine", help="Who relays TCP bytes: c (the compiled relay), python, or auto (c when it was built)."),
        healthz_port: int = typer.Option(10256, "--healthz-port", help="Proxy health endpoint on the node IP (0 = any free port; the cloud LB checks 10256)."),
        metrics_port: int = typer.Option(0, "--metrics-port", help="Proxy metrics on 127.0.0.1 (0 = any free port)."),
        kubelet_port: int = typer.Option(0, "--kubelet-port", help="Container logs (/containerLogs) on the node IP (0 = any free port; recorded in the Node)."),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More logging (-v info, -vv debug)."),
    ) -> None:
        """Run a node agent (pod runtime + userspace proxy) against an API server."""
        from svcnet.proxy.schedulers import SCHEDULERS

        setup_logging(verbose)
        cidr = pod_cidr or default_pod_cidr(ip)
        problem = _local_mode_problem(ip, cidr)
        if problem:
            typer.echo(f"error: {problem}", err=True)
            raise typer.Exit(2)
        if scheduler not in SCHEDULERS:
            typer.echo(f"error: unknown scheduler {scheduler!r} (one of: {' '.join(SCHEDULERS)})", err=True)
            raise typer.Exit(2)
        check_proxy_engine(engine)

        async def main(stop: asyncio.Event) -> None:
            from svcnet.client.http import client_from_kubeconfig
            from svcnet.client.kubeconfig import state_dir as svcnet_state_dir
            from svcnet.kubelet.agent import Kubelet
            from svcnet.proxy.agent import NodeProxy
            from svcnet.proxy.userspace.tcp import TcpOptions

            client = client_from_kubeconfig(kubeconfig or None)
            kubelet = Kubelet(client, name, ip, cidr, state_dir or svcnet_state_dir() / "nodes" / name, kubelet_port=kubelet_port)
            proxy = NodeProxy(
                client,
                node_name=name,
                node_ips=[ip],
                bind_cluster_ips=cluster_ips,
                bind_lb_ips=lb_ips,
                scheduler=scheduler,
                tcp_options=TcpOptions(engine=engine),
                metrics_addr=f"127.0.0.1:{metrics_port}",
                healthz_addr=f"{ip}:{healthz_port}",
            )
            try:
                await kubelet.start()
                await proxy.start()
                typer.echo(f"node {name} ({ip}, pods {cidr}) running: pod runtime and userspace proxy")
                typer.echo(f"  health http://{proxy.healthz_address}/healthz")
                await stop.wait()
                typer.echo("stopping...")
            finally:
                await proxy.stop()
                await kubelet.stop()
                await client.close()

        install_loop()
        sys.exit(run_until_signalled(main))

    @app.command("cloud-lb")
    def cloud_lb(
        kubeconfig: str = typer.Option("", "--kubeconfig", help="kubeconfig of the API server (default: svcnet's own)."),
        node_healthz_port: int = typer.Option(10256, "--node-healthz-port", help="Port of the node proxies' /healthz on each node IP."),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True, help="More logging (-v info, -vv debug)."),
    ) -> None:
        """Run the cloud load balancer: LoadBalancer IPs forwarded to healthy nodes' NodePorts."""
        setup_logging(verbose)

        async def main(stop: asyncio.Event) -> None:
            from svcnet.client.http import client_from_kubeconfig
            from svcnet.cloudlb import CloudLoadBalancer

            client = client_from_kubeconfig(kubeconfig or None)
            lb = CloudLoadBalancer(client, node_healthz_port=node_healthz_port)
            try:
                await lb.start()
                typer.echo("cloud load balancer running: LoadBalancer IPs -> NodePorts of healthy nodes")
                await stop.wait()
            finally:
                await lb.stop()
                await client.close()

        install_loop()
        sys.exit(run_until_signalled(main))
