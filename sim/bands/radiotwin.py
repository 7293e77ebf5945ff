"""Bands on the air as a BLE sniffer hears them: firmware band.py, unchanged, in CPython.

What a passer-by can link depends on decisions the firmware makes: when a
band reports and advertises, when it scans, when it goes quiet and which
identity and address it shows.  So this runs `wristband.band.Band` itself
(with `wristband.rotation`, `packet`, `schedule`), N bands in lockstep on one
virtual clock, with the substitutions sim/bands/twin.py makes for the DSP: `time`
is the virtual clock, `gc` and `print` are stubs, `random` is seeded, and
the band's pipeline and hardware are sim/bands/twinhal.py's `Sound` and `Radio`.

`legacy=True` emulates the firmware before issue 13 (its code is gone): the
chip's fixed public address, the plain report counter as the seq, and the id
of the clock's epoch at every report, with no quiet time and nothing reset.
tests/test_linkability.py and `crowdpulse sim sniff` run both through
crowdpulse.sim.bands.sniffer.
"""

from __future__ import annotations

import json
import random
import struct
import sys
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.sim.bands.twinhal import (
    FRAME_MS,
    SKEW_MS,
    Advert,
    Ambience,
    Clock,
    Floor,
    Radio,
    Sound,
)
from wristband import config as band_config
from wristband import packet

_VENUE_KEY = bytes(
    range(32)
)  # the sniffed venue's key: any will do, each band's is derived from it


@dataclass
class Night:
    adverts: list[Advert]
    truth: dict[int, int]  # on-air id -> band index: what only the gateway knows
    boundaries_ms: list[int]  # true UTC of each epoch boundary in the capture
    window_ms: int
    bands: int
    legacy: bool
    reports: int = 0
    quiet_ms: list[float] = field(default_factory=list)  # each band's silence at each switch


class _GC:
    @staticmethod
    def mem_alloc() -> int:
        return 0

    @staticmethod
    def mem_free() -> int:
        return 0

    @staticmethod
    def collect() -> None:
        pass


class LegacyRotation:
    """The old firmware's switch: the id of the clock's epoch at every report,
    with no quiet time and nothing reset (wristband.rotation's interface)."""

    quiet_ms = 0
    quiet = False

    def __init__(self) -> None:
        self.epoch = -1

    def step(self, epoch: int, ms: int) -> int:
        self.epoch = epoch
        return 0


@cache
def _firmware() -> Path:
    from crowdpulse.mpy import firmware_dir

    return firmware_dir() / "wristband"


def _load(name: str, extra: dict[str, types.ModuleType]) -> types.ModuleType:
    """A private copy of wristband.<name>, imported with `extra` standing in for modules."""
    path = _firmware() / f"{name}.py"
    mod = types.ModuleType(f"crowdpulse_radiotwin_{name}")
    mod.__file__ = str(path)
    saved = {k: sys.modules.get(k) for k in extra}
    try:
        sys.modules.update(extra)
        exec(compile(path.read_text(), str(path), "exec"), mod.__dict__)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return mod


def firmware(clock: Clock, rng: random.Random) -> types.ModuleType:
    """wristband.band, its clock, randomness and DSP swapped as the module says."""
    dsp = types.ModuleType("wristband.dsp")
    dsp.FRAME = 160  # type: ignore[attr-defined]
    dsp.Pipeline = lambda sensitivity: None  # type: ignore[attr-defined]  # night() gives each a Sound
    rotation = _load("rotation", {})
    rotation.random = rng  # type: ignore[attr-defined]
    band = _load("band", {"wristband.dsp": dsp, "wristband.rotation": rotation})
    band.time = clock  # type: ignore[attr-defined]
    band.gc = _GC  # type: ignore[attr-defined]
    band.random = rng  # type: ignore[attr-defined]
    band.print = lambda *a, **k: None  # type: ignore[attr-defined]
    return band


def night(
    bands: int = 30,
    boundaries: int = 6,
    seed: int = 1,
    legacy: bool = False,
    window_s: int = 60,
    floor: Floor | None = None,
) -> Night:
    """`bands` BLE bands listening through `boundaries` id epoch boundaries.

    Each boundary is simulated from window_s before to window_s after it; in
    between, true UTC jumps on while the bands' ticks run on (the sniffer
    has nothing to hear there).  window_s is a multiple of 30 s, so the jump
    keeps every phase a sniffer could read (scan, report, frame)."""
    if window_s % 30:
        raise ValueError("window_s must be a multiple of 30")
    floor = floor or Floor()
    nprng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    first_epoch = 2_000_000
    boundaries_ms = [(first_epoch + 1 + b) * packet.EPOCH_S * 1000 for b in range(boundaries)]
    clock = Clock(boundaries_ms[0] - window_s * 1000)
    mod = firmware(clock, pyrng)
    ambience = Ambience(floor, nprng)
    capture: list[Advert] = []
    radios, fleet = [], []
    for i in range(bands):
        radio, b = _band(f"N{i:04d}", mod, clock, nprng, ambience, capture, boundaries_ms, legacy)
        radios.append(radio)
        fleet.append(b)
    boot = nprng.integers(0, 1000, bands)  # power on at random frames in the first 10 s
    _listen(fleet, clock, boundaries_ms, window_s, boot)
    truth = {}
    for i, b in enumerate(fleet):
        for e in range(first_epoch - 1, first_epoch + boundaries + 2):
            truth[packet.onair_id(b.cfg.key, e)] = i
    return Night(
        capture,
        truth,
        boundaries_ms,
        window_s * 1000,
        bands,
        legacy,
        sum(b.reports for b in fleet),
        [q for r in radios for q in r.quiet_log],
    )


def _band(
    band_id: str,
    mod: types.ModuleType,
    clock: Clock,
    nprng: np.random.Generator,
    ambience: Ambience,
    capture: list[Advert],
    boundaries_ms: list[int],
    legacy: bool,
) -> tuple[Radio, Any]:
    """One band and its radio, drawing from nprng in the order night() always has
    (a seed gives the same night)."""
    floor = ambience.floor
    raw = {
        "version": 1,
        "venue": "sniffed",
        "zone": "floor",
        "band_id": band_id,
        "key": packet.band_key(_VENUE_KEY, band_id).hex(),
        "command_key": packet.command_key(_VENUE_KEY).hex(),
        "transport": "ble",
        "interval_ms": 250,
        "window": [boundaries_ms[0] // 1000 - 3600, boundaries_ms[-1] // 1000 + 3600],
        "board": "esp32-devkitc-inmp441",
        "status_every_s": 3600,
    }
    cfg = band_config.parse(_json(raw))
    public = struct.pack(">HI", 0x2462, nprng.integers(0, 2**32))  # Espressif OUI-style, fixed
    radio = Radio(cfg, clock, -float(nprng.uniform(0, SKEW_MS)), public, capture, nprng, legacy)
    b = mod.Band(cfg, radio)
    depth = float(nprng.uniform(0, 1))
    level = (
        floor.back_db
        + (floor.front_db - floor.back_db) * depth
        + float(nprng.normal(0, floor.spread_db))
    )
    b.pipe = Sound(level, clock, ambience, nprng)
    if legacy:
        b.rotation = LegacyRotation()
    return radio, b


def _listen(
    fleet: list[Any],
    clock: Clock,
    boundaries_ms: list[int],
    window_s: int,
    boot: npt.NDArray[np.int64],
) -> None:
    """The fleet stepped frame by frame through window_s either side of each boundary."""
    frame = 0
    for bi, edge in enumerate(boundaries_ms):
        if bi:
            clock.base = edge - window_s * 1000 - clock.ms  # jump true UTC, ticks run on
        for _ in range(2 * window_s * 1000 // FRAME_MS):
            for i, b in enumerate(fleet):
                if frame >= boot[i]:
                    clock.slept = 0
                    b.step()
            clock.ms += FRAME_MS
            frame += 1


def _json(raw: dict[str, Any]) -> str:
    return json.dumps(raw)
