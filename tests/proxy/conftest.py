"""Async tests under tests/proxy run on uvloop, the loop the node agent uses in production
(tests/cloudlb run on the stdlib loop, so the shared data plane is exercised on both)."""

from __future__ import annotations

import uvloop


def pytest_asyncio_loop_factories(config, item):  # type: ignore[no-untyped-def]
    return {"uvloop": uvloop.new_event_loop}
