"""``svcnet validate``: placeholder until the validation layer lands."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate() -> None:
        """Validate manifests offline."""
        raise typer.Exit(2)
