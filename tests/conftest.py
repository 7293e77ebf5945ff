"""Shared fixtures: a real Mosquitto per test, a real MPD, the MicroPython plugin, and
the 32-bit-checked DSP twin under every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from crowdpulse.broker import BrokerError, Mosquitto
from crowdpulse.mpdserver import MpdError, MpdServer
from crowdpulse.sim.bands import twin, twin32

# Shared, noisy machines and JIT compilation on first use: no per-example deadline.
settings.register_profile("crowdpulse", deadline=None)
settings.load_profile("crowdpulse")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "mpy"))
pytest_plugins = ["mpy_plugin", "flash_helpers"]


@pytest.fixture(scope="session", autouse=True)
def dsp_twin_checked_for_32_bits() -> Iterator[None]:
    """Every DSP computation in the tests runs on the twin whose viper kernels
    check each intermediate against the ESP32's signed 32-bit range
    (sim/bands/twin32.py): every test signal doubles as a proof that the band's
    arithmetic does not overflow.  Compiled on first use."""
    patch = pytest.MonkeyPatch()
    patch.setattr(twin, "modules", twin32.checked_modules)
    yield
    patch.undo()


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


TRACK_S = 4.0  # the MPD tests' tracks: short, so that a set moves on in seconds


@pytest.fixture(scope="session")
def music_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One track per artist of the sample library (20) as short tagged FLAC files."""
    from crowdpulse.selector.library import sample_library
    from crowdpulse.sim.world.music import write_folder

    folder = tmp_path_factory.mktemp("music")
    first = {t.artist: t for t in reversed(sample_library())}
    write_folder(sorted(first.values(), key=lambda t: t.id), folder, TRACK_S)
    return folder


@pytest.fixture
def mpd_server(music_folder: Path) -> Iterator[MpdServer]:
    """A fresh MPD on a free loopback port, null output, serving music_folder;
    tests may stop() and start() it."""
    try:
        server = MpdServer(music_folder)
        server.start()
    except MpdError as exc:
        pytest.fail(str(exc))
    yield server
    server.close()
