"""The DNS core does no I/O: index, names, records, answer, wire, responder and config import no
socket, asyncio, subprocess, sqlite3 or pyroute2 (docs/conventions.md "Pure core, thin edges")."""

import ast
import importlib
import pathlib

import pytest

import svcnet.dns

PURE = ["config", "index", "names", "records", "answer", "wire", "responder"]
FORBIDDEN = {"socket", "asyncio", "subprocess", "sqlite3", "pyroute2", "selectors", "threading"}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("name", PURE)
def test_purity_no_io_imports(name):
    path = pathlib.Path(svcnet.dns.__file__).parent / f"{name}.py"
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"svcnet.dns.{name} imports {bad}"
    # and nothing it imports from svcnet is an I/O module either
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svcnet.dns."):
            assert node.module.rsplit(".", 1)[1] in PURE, f"{name} imports {node.module}"


@pytest.mark.parametrize("name", PURE + ["forward", "server"])
def test_modules_declare_all_and_stay_small(name):
    mod = importlib.import_module(f"svcnet.dns.{name}")
    assert mod.__all__ and all(hasattr(mod, n) for n in mod.__all__)
    assert mod.__doc__ and "Theory of operation" in mod.__doc__
    lines = len(pathlib.Path(mod.__file__).read_text().splitlines())
    assert lines < 720, f"{name}.py has {lines} lines"
