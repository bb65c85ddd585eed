"""The API layer is pure: no module under src/svcnet/api imports I/O machinery (docs/conventions.md).

Sources are parsed with ``ast``, never imported, so a forbidden import cannot hide behind a
conditional or run at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import svcnet.api

FORBIDDEN = {"socket", "subprocess", "asyncio", "sqlite3", "pyroute2"}
API_DIR = Path(svcnet.api.__file__).parent
MODULES = sorted(API_DIR.rglob("*.py"))


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                roots.add(arg.value.split(".")[0])
    return roots


def test_purity_scans_some_modules() -> None:
    names = {p.relative_to(API_DIR).as_posix() for p in MODULES}
    assert {"errors.py", "validation/service.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(API_DIR).as_posix() for p in MODULES])
def test_purity_no_io_imports(path: Path) -> None:
    bad = imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "source,found",
    [
        ("import socket", {"socket"}),
        ("import asyncio.subprocess as x", {"asyncio"}),
        ("from sqlite3 import connect", {"sqlite3"}),
        ("def f():\n    import pyroute2", {"pyroute2"}),
        ("__import__('subprocess')", {"subprocess"}),
        ("from . import socket", set()),
    ],
)
def test_purity_detector(source: str, found: set[str]) -> None:
    assert imported_roots(source) & FORBIDDEN == found
