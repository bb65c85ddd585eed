"""The ``svcnet`` command: one Typer app; each command lives in its own ``cli/cmd_*.py`` module.

A command module defines ``register(app: typer.Typer) -> None``; :data:`COMMAND_MODULES` lists
them in help order. Commands print Kubernetes-style messages and exit non-zero on failure.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["COMMAND_MODULES", "app", "main"]

#: the command modules, in the order ``svcnet --help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "svcnet.cli.cmd_demo",
    "svcnet.cli.cmd_up",
    "svcnet.cli.cmd_validate",
    "svcnet.cli.cmd_controlplane",
    "svcnet.cli.cmd_node",
    "svcnet.cli.cmd_apply",
    "svcnet.cli.cmd_get",
    "svcnet.cli.cmd_describe",
    "svcnet.cli.cmd_delete",
    "svcnet.cli.cmd_logs",
)

app = typer.Typer(
    name="svcnet",
    help="Kubernetes Service networking that really moves packets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from svcnet import __version__

        typer.echo(f"svcnet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    # eager: handled while the options are parsed, before click asks for a command
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the svcnet version and exit."),
) -> None:
    """Kubernetes Service networking that really moves packets."""


def _load_commands() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(app)


_load_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
