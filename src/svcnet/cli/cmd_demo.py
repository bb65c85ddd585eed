"""``svcnet demo``: the README's main command (see :mod:`svcnet.demo`)."""

from __future__ import annotations

import asyncio
import sys

import typer

from svcnet.cli.runtime import install_loop, run_until_signalled, setup_logging

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        once: bool = typer.Option(False, "--once", help="Run a short non-interactive demo, print a summary, exit 0 only if no request failed."),
        nodes: int = typer.Option(2, "--nodes", min=1, max=20, help="Node agents to run."),
        duration: float = typer.Option(0.0, "--duration", help="Seconds to run (default: until Ctrl-C; 20 with --once)."),
        kill_every: float = typer.Option(4.0, "--kill-every", help="Delete a pod every this many seconds."),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True),
    ) -> None:
        """A local cluster with an echo app behind ClusterIP, NodePort and LoadBalancer; live traffic while pods are deleted."""
        from svcnet.demo import DemoConfig, run_demo

        setup_logging(verbose)
        cfg = DemoConfig(nodes=nodes, duration=duration, kill_every=kill_every, once=once)
        result: dict = {}

        async def main(stop: asyncio.Event) -> None:
            task = asyncio.create_task(run_demo(cfg))
            waiter = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            else:
                result["stats"] = task.result()
            waiter.cancel()

        install_loop()
        rc = run_until_signalled(main)
        stats = result.get("stats")
        if stats is not None:
            typer.echo(f"{stats.ok} requests succeeded, {stats.failed} failed, {len(stats.deleted)} pods deleted and replaced.")
            if once and stats.failed:
                rc = 1
        sys.exit(rc)
