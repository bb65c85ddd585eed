"""Fixtures for the store tests: every backend, opened fresh per test and closed afterwards."""

from __future__ import annotations

import pytest

from svcnet.store import MemoryStore, SqliteStore

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_store(backend, tmp_path):
    """``make_store(**options)``: a new store of the test's backend (sqlite: a file in tmp_path)."""
    opened = []

    def make(**options):
        if backend == "memory":
            options.pop("compact_every", None)
            s = MemoryStore(**options)
        else:
            s = SqliteStore(tmp_path / f"store{len(opened)}.sqlite", **options)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store):
    return make_store()
