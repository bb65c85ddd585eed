"""Fixtures for the end-to-end tests (helpers live in :mod:`e2e_support`)."""

from __future__ import annotations

import pytest

from e2e_support import BackgroundControlPlane


@pytest.fixture
def control_plane(tmp_path):
    """A control plane with the EndpointSlice and Endpoints controllers, on its own thread."""
    bg = BackgroundControlPlane(tmp_path / "cp").start()
    yield bg
    bg.stop()
