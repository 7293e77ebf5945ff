"""Shared fixtures: a real Mosquitto per test, and the MicroPython plugin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from crowdpulse.broker import BrokerError, Mosquitto

# Shared, noisy machines and JIT compilation on first use: no per-example deadline.
settings.register_profile("crowdpulse", deadline=None)
settings.load_profile("crowdpulse")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "mpy"))
pytest_plugins = ["mpy_plugin", "flash_helpers"]


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free loopback port; tests may stop() and start() it."""
    try:
        broker = Mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))
    broker.start()
    yield broker
    broker.close()


@pytest.fixture(scope="session")
def shared_mosquitto() -> Iterator[Mosquitto]:
    """One broker for tests that only publish and subscribe on their own topics."""
    try:
        broker = Mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))
    broker.start()
    yield broker
    broker.close()
