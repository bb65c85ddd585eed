"""The kubelet's pure cores do no I/O, every module declares ``__all__``, the stand-in stays light."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import svcnet.kubelet

FORBIDDEN = {"socket", "subprocess", "asyncio", "sqlite3", "pyroute2"}
PKG = Path(svcnet.kubelet.__file__).parent
PURE = ["ipam.py", "envvars.py", "images.py", "pods.py"]
MODULES = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("name", PURE)
def test_purity_pure_modules_no_io_imports(name):
    bad = imported_roots((PKG / name).read_text()) & FORBIDDEN
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", MODULES)
def test_purity_modules_declare_all(name):
    mod = importlib.import_module(f"svcnet.kubelet.{name}")
    assert mod.__doc__ and "Theory of operation" in mod.__doc__
    assert mod.__all__ and all(hasattr(mod, n) for n in mod.__all__)


def test_purity_package_lazy_exports():
    assert svcnet.kubelet.PodIPAM.__module__ == "svcnet.kubelet.ipam"
    with pytest.raises(AttributeError):
        svcnet.kubelet.nope  # noqa: B018


def test_purity_standin_does_not_import_the_agent():
    code = "import sys, svcnet.kubelet.standin; print(sorted(m for m in sys.modules if m.startswith('svcnet.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True).stdout
    loaded = set(ast.literal_eval(out))
    assert loaded <= {"svcnet", "svcnet.kubelet", "svcnet.kubelet.images", "svcnet.kubelet.standin"}, loaded
