"""``svcnet logs POD``: a container's log, as ``kubectl logs`` prints it (``pods/log``)."""

from __future__ import annotations

import sys
from typing import TextIO

import typer

from svcnet.api.errors import APIError
from svcnet.cli.cmdutil import run_command
from svcnet.client.base import Client

__all__ = ["register", "run_logs"]


async def run_logs(
    client: Client,
    pod: str,
    *,
    namespace: str | None = None,
    container: str | None = None,
    follow: bool = False,
    previous: bool = False,
    tail: int = -1,
    limit_bytes: int = 0,
    out=None,
    err: TextIO | None = None,
) -> int:
    from svcnet.cli.printers import format_error

    out = out or sys.stdout.buffer
    err = err or sys.stderr
    kind, _, name = pod.rpartition("/")
    if kind not in ("", "pod", "pods", "po"):
        err.write(f"error: svcnet logs takes a pod (POD or pod/POD), not {pod}\n")
        return 1
    try:
        async for chunk in client.logs(
            name, namespace, container=container or None, follow=follow, previous=previous,
            tail_lines=tail if tail >= 0 else None, limit_bytes=limit_bytes or None,
        ):
            out.write(chunk)
            out.flush()
    except APIError as e:
        err.write(format_error(e))
        return 1
    return 0


def register(app: typer.Typer) -> None:
    @app.command("logs")
    def logs(
        pod: str = typer.Argument(..., help="POD or pod/POD."),
        container: str = typer.Option("", "--container", "-c", help="Container name (default: the pod's only one)."),
        namespace: str = typer.Option("", "--namespace", "-n", help="Namespace (default: the kubeconfig's, else default)."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as the log grows."),
        previous: bool = typer.Option(False, "--previous", "-p", help="The log of the container's previous run."),
        tail: int = typer.Option(-1, "--tail", help="Only the last N lines (-1: all)."),
        limit_bytes: int = typer.Option(0, "--limit-bytes", help="At most N bytes (0: no limit)."),
        kubeconfig: str = typer.Option("", "--kubeconfig", help="Path to the kubeconfig file."),
        context: str = typer.Option("", "--context", help="The kubeconfig context to use."),
    ) -> None:
        """Print a container's log (through the API server from the kubelet of the pod's node)."""
        code = run_command(
            lambda client: run_logs(
                client, pod, namespace=namespace or None, container=container, follow=follow,
                previous=previous, tail=tail, limit_bytes=limit_bytes,
            ),
            kubeconfig=kubeconfig or None,
            context=context or None,
        )
        raise typer.Exit(code)
