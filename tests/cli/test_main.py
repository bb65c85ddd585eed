"""The ``svcnet`` command itself: version, help, an unknown command."""

from __future__ import annotations

import subprocess
import sys

from svcnet import __version__


def svcnet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "svcnet.cli.main", *args], capture_output=True, text=True, timeout=60)


def test_version_prints_the_package_version_without_a_command() -> None:
    r = svcnet("--version")
    assert (r.returncode, r.stdout) == (0, f"svcnet {__version__}\n")


def test_help_lists_every_command() -> None:
    r = svcnet("--help")
    assert r.returncode == 0
    for cmd in ("demo", "up", "apply", "get", "describe", "delete", "validate", "apiserver", "controller-manager", "dns"):
        assert f" {cmd} " in r.stdout, cmd


def test_unknown_command_exits_2() -> None:
    r = svcnet("frobnicate")
    assert r.returncode == 2
    assert "No such command 'frobnicate'" in r.stderr
