"""Bands on the air as a BLE sniffer hears them: firmware band.py, unchanged, in CPython.

What a passer-by can link depends on decisions the firmware makes: when a
band reports and advertises, when it scans, when it goes quiet, and which
identity and address it shows.  So this runs `wristband.band.Band` itself
(and `wristband.rotation`, `packet`, `schedule`), N bands in lockstep on one
virtual clock, with the substitutions sim/twin.py makes for the DSP:
`time` is the virtual clock, `gc` and `print` are stubs, and
`wristband.dsp.Pipeline` is `Sound`, which returns field codes from a small
model of a dance floor instead of from audio (the sniffer needs the timing
exactly and the values only roughly).

`Radio` is the hardware layer (the API of wristband/hal) as the ESP32's
behaves on the air, with these modelled facts:
- a band's clock is off true UTC by its own skew (a band set by a relay
  beacon learns whole seconds only: up to a second);
- its audio frames tick every 10 ms from a phase of its own, kept until the
  I2S driver restarts; a report's first advert leaves a few ms after the
  frame that closed it;
- advertising events follow at the advertising interval plus BLE's random
  0-10 ms advDelay;
- while it scans, it does not advertise (the worst case: a sniffer sees
  every scan as a gap).

`legacy=True` emulates the firmware before issue 13 (its code is gone): the
chip's fixed public address, the plain report counter as the seq, and a
switch at the boundary with no quiet time.  tests/test_linkability.py and
`crowdpulse sim sniff` run both through crowdpulse.sim.sniffer.
"""

from __future__ import annotations

import random
import struct
import sys
import types
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from wristband import config as band_config
from wristband import packet as P

FRAME_MS = 10
ADV_DELAY_MS = 10.0  # BLE: 0-10 ms of random extra per advertising event
# frame end -> first PDU of a restarted advert (DSP, HMACs, HCI): mean, spread.  The
# spread is kept small on purpose: the less noise, the sharper the sniffer's timing
LATENCY_MS = (2.0, 0.2)
_NONE: list[bytes] = []
SKEW_MS = 1000.0  # clock error of a band set by a relay beacon: uniform in [-SKEW_MS, 0]


@dataclass(frozen=True)
class Floor:
    """The PA's level across a floor and how it varies (sim/scenarios/normal.toml's
    floor, sim/runner.py's spread and sim/emit.py's Calibration.level_noise_db)."""

    back_db: float = 88.0
    front_db: float = 98.0
    spread_db: float = 1.5  # band to band at the same depth
    music_db: float = 2.1  # 250 ms LAeqs of music about their mean: the same for every band
    own_db: float = 1.0  # what each band hears of its own surroundings, per report
    event_per_s: float = 0.05  # reaction onsets (early reports), the same rate for every band


@dataclass
class Advert:
    """One advertising event as a sniffer records it (µs timestamps: ms as float)."""

    t_ms: float
    address: bytes
    report: bytes


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


class Clock:
    """`time` for the firmware: ticks run on; true UTC may jump between windows."""

    def __init__(self, unix_ms: int) -> None:
        self.ms = 0
        self.base = unix_ms  # true UTC (ms) at ticks 0
        self.slept = 0.0

    def ticks_ms(self) -> int:
        return self.ms

    @staticmethod
    def ticks_diff(a: int, b: int) -> int:
        return a - b

    @staticmethod
    def ticks_add(a: int, b: int) -> int:
        return a + b

    def sleep_ms(self, ms: int) -> None:
        self.slept += ms  # lockstep: the round is one frame for everyone; Radio reads it

    def sleep_us(self, us: int) -> None:
        self.slept += us / 1000

    @property
    def utc_ms(self) -> int:
        return self.base + self.ms


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


class Sound:
    """Stands in for wristband.dsp.Pipeline: field codes from the Floor model."""

    def __init__(self, level_db: float, clock: Clock, night: Ambience, rng: np.random.Generator) -> None:
        self.level_db = level_db
        self.clock = clock
        self.night = night
        self.rng = rng
        self.codes = bytearray(P.N_CODES)
        self.to_event = int(rng.geometric(night.floor.event_per_s * FRAME_MS / 1000))

    def process(self, frame: bytes) -> None:
        pass

    def event(self) -> bool:
        self.to_event -= 1
        if self.to_event > 0:
            return False
        self.to_event = int(self.rng.geometric(self.night.floor.event_per_s * FRAME_MS / 1000))
        return True

    def finish(self, interval_ms: int, motion: int = P.MOTION_ABSENT, imu_claps: int = 0,
               battery: int = P.BATTERY_UNKNOWN, flags: int = 0) -> bytearray:
        c = self.codes
        laeq = self.level_db + self.night.music(self.clock.utc_ms) + self.rng.normal(0, self.night.floor.own_db)
        c[0] = interval_ms // 10
        for i, off in enumerate((0.0, -1.0, -8.0, 4.0, -12.0)):  # laeq, voice, mid, low, top
            c[1 + i] = P.level_code(laeq + off + self.rng.normal(0, 0.5))
        c[6] = int(np.clip(150 + self.rng.normal(0, 10), 0, 255))  # tonal: mostly music
        c[7] = int(np.clip(20 + self.rng.normal(0, 4), 0, 255))  # fluctuation
        c[8] = motion
        c[9] = P.nibbles(0, imu_claps)
        c[10] = (battery << 4) | (flags & 0x0F)
        return c


class Ambience:
    """What every band hears alike: the music's level from one 250 ms to the next."""

    def __init__(self, floor: Floor, rng: np.random.Generator) -> None:
        self.floor = floor
        self.rng = rng
        self._slots: dict[int, float] = {}

    def music(self, utc_ms: int) -> float:
        slot = utc_ms // 250
        v = self._slots.get(slot)
        if v is None:
            v = self._slots[slot] = float(self.rng.normal(0, self.floor.music_db))
            if len(self._slots) > 4096:
                self._slots.pop(next(iter(self._slots)))
        return v


class Radio:
    """The hardware layer's API (wristband/hal), on the air as an ESP32 band."""

    def __init__(self, cfg: Any, clock: Clock, skew_ms: float, public: bytes, capture: list[Advert],
                 rng: np.random.Generator, legacy: bool) -> None:
        self.cfg = cfg
        self.clock = clock
        self.skew_ms = skew_ms
        self.address = public if legacy else bytes(P.ADDRESS_SIZE)
        self.capture = capture
        self.rng = rng
        self.legacy = legacy
        self.quit = False
        self._now_at = -1
        self._now = 0
        self.phase = float(rng.uniform(0, FRAME_MS))  # this band's audio frames, within 10 ms
        self.adv: bytes | None = None
        self.interval_ms = 100
        self.next_adv = 0.0
        self.scan_until = -1
        self.quiet_since: float | None = None
        self.quiet_log: list[float] = []
        self.mic_on = False
        self.started = False  # legacy: the old firmware never restarted its frames

    # -- time ---------------------------------------------------------------
    @property
    def t(self) -> float:
        """True UTC (ms) of this band's current frame edge."""
        return self.clock.utc_ms + self.phase

    def now(self) -> int:
        ms = self.clock.ms
        if ms != self._now_at:
            self._now_at = ms
            self._now = int((self.clock.utc_ms + self.skew_ms) // 1000)
        return self._now

    def set_time(self, unix: int) -> None:
        pass

    def sync_time(self, host: str) -> bool:
        return True

    # -- the air --------------------------------------------------------------
    def advertise(self, adv: bytes, interval_ms: int = 100) -> None:
        if self.legacy:
            adv = self._plain_seq(adv)
        self.adv = adv
        self.interval_ms = interval_ms
        self.next_adv = self.t + max(0.0, float(self.rng.normal(*LATENCY_MS)))
        self._on_air()

    def _plain_seq(self, adv: bytes) -> bytes:
        """The old firmware sent its counter as the seq: re-encode with the counter on air."""
        report = P.manufacturer_data(adv)
        assert report is not None
        r = P.decode(report)
        epoch = P.epoch_of(self.now())
        for e in (epoch, epoch - 1, epoch + 1):
            if P.onair_id(self.cfg.key, e) == r.onair:
                epoch = e
                break
        off = P.seq_offset(self.cfg.key, epoch)
        counter = (r.seq - off) & 0xFFFF
        codes = report[7:P.BODY_SIZE]
        return P.adv_payload(P.encode_codes(self.cfg.key, epoch, (counter - off) & 0xFFFF, codes))

    def advertise_stop(self) -> None:
        self.adv = None

    def go_quiet(self, ms: int) -> None:
        self.adv = None
        self.quiet_since = self.t
        self.scan_start(ms)

    def new_address(self, address: bytes) -> None:
        self.adv = None
        self.scan_until = -1
        if self.quiet_since is not None:
            self.quiet_log.append(self.t - self.quiet_since)
            self.quiet_since = None
        if not self.legacy:
            self.address = bytes(address)

    def scan_start(self, ms: int) -> bool:
        self.scan_until = self.clock.utc_ms + ms
        return True

    def scan_results(self) -> list[bytes]:
        return _NONE

    def _on_air(self) -> None:
        """Advertising events due by the end of this frame."""
        end = self.clock.utc_ms + FRAME_MS
        while self.adv is not None and self.next_adv < end:
            if self.next_adv >= self.scan_until:
                self.capture.append(Advert(self.next_adv, self.address, P.manufacturer_data(self.adv) or b""))
            self.next_adv += self.interval_ms + float(self.rng.uniform(0, ADV_DELAY_MS))

    def service(self) -> None:
        if self.adv is not None and self.next_adv < self.clock.utc_ms + FRAME_MS:
            self._on_air()

    # -- the microphone: its frames keep their phase until the driver restarts --
    def mic_start(self) -> bool:
        if not self.mic_on and not (self.legacy and self.started):
            # I2S starts its frames when asked: after whatever the band slept first
            self.phase = (self.phase + self.clock.slept + float(self.rng.normal(*LATENCY_MS))) % FRAME_MS
            self.started = True
        self.mic_on = True
        return True

    def mic_stop(self) -> None:
        self.mic_on = False

    def mic_read(self, buf: bytearray, timeout_ms: int) -> bool:
        return True

    def mic_dropped(self) -> int:
        return 0

    # -- the rest of the layer ---------------------------------------------------
    def start(self) -> None:
        pass

    def net_start(self) -> None:
        pass

    def net_up(self) -> bool:
        return False

    def led(self, on: bool) -> None:
        pass

    def button_pressed(self) -> bool:
        return False

    def mute_request(self) -> None:
        return None

    def feed(self) -> None:
        pass

    def battery(self) -> None:
        return None

    def accel(self) -> None:
        return None


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
    band.Rotation = rotation.Rotation  # type: ignore[attr-defined]
    return band


def night(bands: int = 30, boundaries: int = 6, seed: int = 1, legacy: bool = False,
          window_s: int = 60, floor: Floor | None = None) -> Night:
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
    venue = bytes(range(32))
    first_epoch = 2_000_000
    boundaries_ms = [(first_epoch + 1 + b) * P.EPOCH_S * 1000 for b in range(boundaries)]
    clock = Clock(boundaries_ms[0] - window_s * 1000)
    mod = firmware(clock, pyrng)
    ambience = Ambience(floor, nprng)
    capture: list[Advert] = []
    radios, fleet = [], []
    for i in range(bands):
        band_id = f"N{i:04d}"
        raw = {"version": 1, "venue": "sniffed", "zone": "floor", "band_id": band_id,
               "key": P.band_key(venue, band_id).hex(), "command_key": P.command_key(venue).hex(),
               "transport": "ble", "interval_ms": 250,
               "window": [boundaries_ms[0] // 1000 - 3600, boundaries_ms[-1] // 1000 + 3600],
               "board": "esp32-devkitc-inmp441", "status_every_s": 3600}
        cfg = band_config.parse(_json(raw))
        public = struct.pack(">HI", 0x2462, nprng.integers(0, 2**32))  # Espressif OUI-style, fixed
        radio = Radio(cfg, clock, -float(nprng.uniform(0, SKEW_MS)), public, capture, nprng, legacy)
        b = mod.Band(cfg, radio)
        depth = float(nprng.uniform(0, 1))
        level = floor.back_db + (floor.front_db - floor.back_db) * depth + float(nprng.normal(0, floor.spread_db))
        b.pipe = Sound(level, clock, ambience, nprng)
        if legacy:
            b.rotation = mod.Rotation(0)
        radios.append(radio)
        fleet.append(b)
    boot = nprng.integers(0, 1000, bands)  # power on at random frames in the first 10 s
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
    truth = {}
    for i, b in enumerate(fleet):
        for e in range(first_epoch - 1, first_epoch + boundaries + 2):
            truth[P.onair_id(b.cfg.key, e)] = i
    return Night(capture, truth, boundaries_ms, window_s * 1000, bands, legacy,
                 sum(b.reports for b in fleet), [q for r in radios for q in r.quiet_log])


def _json(raw: dict[str, Any]) -> str:
    import json

    return json.dumps(raw)
