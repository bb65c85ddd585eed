"""Running long-lived commands: the event loop (uvloop when available), logging, and a clean
stop on Ctrl-C / SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from svcnet.api.errors import SvcnetError

__all__ = ["install_loop", "run_until_signalled", "setup_logging"]


def install_loop() -> str:
    """Use uvloop when it is installed (set ``SVCNET_LOOP=asyncio`` to opt out)."""
    if os.environ.get("SVCNET_LOOP", "") != "asyncio":
        try:
            import uvloop

            uvloop.install()
            return "uvloop"
        except ImportError:
            pass
    return "asyncio"


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main(stop)`` until it returns; SIGINT/SIGTERM set ``stop`` (a second signal forces
    exit). Returns the process exit code."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        hits = {"n": 0}

        def on_signal() -> None:
            hits["n"] += 1
            if hits["n"] > 1:
                os._exit(130)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await main(stop)
        return 0

    try:
        return asyncio.run(runner())
    except (OSError, SvcnetError) as e:  # expected failures (port taken, store locked...): no traceback
        print(f"error: {e}", file=sys.stderr)
        return 1


def check_proxy_engine(engine: str) -> None:
    """Exit 2 with one line when ``--proxy-engine`` names an engine this install cannot run."""
    import typer

    from svcnet.proxy.userspace.relay import engine_name

    try:
        engine_name(engine)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
