"""Fixtures for the kubelet tests."""

import pytest

from ._util import random_pod_ip


@pytest.fixture
def pod_ip() -> str:
    return random_pod_ip()
