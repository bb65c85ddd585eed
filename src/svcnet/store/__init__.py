"""Versioned object stores with watch (see :mod:`svcnet.store.base` for the rules).

:func:`open_store` turns a store spec into a backend:

- ``"memory:"`` - a :class:`MemoryStore` (nothing survives the process; tests, throwaway runs);
- ``"sqlite:PATH"`` or just ``PATH`` - a :class:`SqliteStore` in that file (parent directories
  are created; ``~`` is expanded). This is the default backend.
"""

from __future__ import annotations

import os
from typing import Any

from svcnet.store.base import ADDED, DELETED, MODIFIED, Event, Store, Watch
from svcnet.store.memory import MemoryStore
from svcnet.store.sqlite import SqliteStore, StoreLocked

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Event",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "StoreLocked",
    "Watch",
    "open_store",
]


def open_store(spec: str, **options: Any) -> Store:
    """Open the store named by ``spec``; ``options`` go to the backend (e.g. ``history=``)."""
    if spec == "memory:":
        return MemoryStore(**options)
    path = spec.removeprefix("sqlite:")
    if not path:
        raise ValueError(f"store spec {spec!r} names no file")
    path = os.path.expanduser(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return SqliteStore(path, **options)
