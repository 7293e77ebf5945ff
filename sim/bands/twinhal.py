"""The radio twin's world: the hardware layer its bands run on, and what they hear.

`Radio` implements the API of wristband/hal the way an ESP32 band behaves on
the air, with these modelled facts:
- a band's clock is off true UTC by its own skew (a band set by a relay
  beacon learns whole seconds only: up to a second);
- its audio frames tick every 10 ms from a phase of their own, kept until the
  I2S driver restarts; a report's first advert leaves a few ms after the
  frame that closed it;
- advertising events follow at the advertising interval plus BLE's random
  0-10 ms advDelay;
- while it scans, it does not advertise (the worst case: a sniffer sees
  every scan as a gap).
`Sound` stands in for wristband.dsp.Pipeline: field codes from a model of a
dance floor (`Floor`, `Ambience`) instead of from audio; the sniffer needs
the timing exactly and the values only roughly.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowdpulse.reportcodec import CODE, with_seq
from wristband import packet

FRAME_MS = 10
ADV_DELAY_MS = 10.0  # BLE: 0-10 ms of random extra per advertising event
# frame end -> first PDU of a restarted advert (DSP, HMACs, HCI): mean, spread.  The
# spread is kept small on purpose: the less noise, the sharper the sniffer's timing
LATENCY_MS = (2.0, 0.2)
SKEW_MS = 1000.0  # clock error of a band set by a relay beacon: uniform in [-SKEW_MS, 0]
_NONE: list[bytes] = []
# the levels of the fake DSP's report: the band's level plus these (dB)
LEVELS_DB = (("laeq", 0.0), ("voice", -1.0), ("mid", -8.0), ("low", 4.0), ("top", -12.0))


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


@dataclass(frozen=True)
class Floor:
    """The PA's level across a floor and how it varies (sim/scenarios/normal.toml's
    floor, sim/runs/runner.py's spread and sim/bands/emit.py's Calibration.level_noise_db)."""

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


class Sound:
    """Stands in for wristband.dsp.Pipeline: field codes from the Floor model."""

    def __init__(
        self, level_db: float, clock: Clock, night: Ambience, rng: np.random.Generator
    ) -> None:
        self.level_db = level_db
        self.clock = clock
        self.night = night
        self.rng = rng
        self.codes = bytearray(packet.N_CODES)
        self.to_event = int(rng.geometric(night.floor.event_per_s * FRAME_MS / 1000))

    def process(self, frame: bytes) -> None:
        pass

    def event(self) -> bool:
        self.to_event -= 1
        if self.to_event > 0:
            return False
        self.to_event = int(self.rng.geometric(self.night.floor.event_per_s * FRAME_MS / 1000))
        return True

    def finish(
        self,
        interval_ms: int,
        motion: int = packet.MOTION_ABSENT,
        imu_claps: int = 0,
        battery: int = packet.BATTERY_UNKNOWN,
        flags: int = 0,
    ) -> bytearray:
        c = self.codes
        laeq = (
            self.level_db
            + self.night.music(self.clock.utc_ms)
            + self.rng.normal(0, self.night.floor.own_db)
        )
        c[CODE["interval"]] = interval_ms // packet.INTERVAL_STEP_MS
        for name, off in LEVELS_DB:
            c[CODE[name]] = packet.level_code(laeq + off + self.rng.normal(0, 0.5))
        c[CODE["tonal"]] = int(np.clip(150 + self.rng.normal(0, 10), 0, 255))  # mostly music
        c[CODE["fluct"]] = int(np.clip(20 + self.rng.normal(0, 4), 0, 255))
        c[CODE["motion"]] = motion
        c[CODE["claps"]] = packet.nibbles(0, imu_claps)  # audio claps, IMU claps
        c[CODE["status"]] = packet.nibbles(battery, flags)
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

    def __init__(
        self,
        cfg: Any,
        clock: Clock,
        skew_ms: float,
        public: bytes,
        capture: list[Advert],
        rng: np.random.Generator,
        legacy: bool,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.skew_ms = skew_ms
        self.address = public if legacy else bytes(packet.ADDRESS_SIZE)
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
        report = packet.manufacturer_data(adv)
        assert report is not None
        r = packet.decode(report)
        epoch = packet.epoch_of(self.now())
        for e in (epoch, epoch - 1, epoch + 1):
            if packet.onair_id(self.cfg.key, e) == r.onair:
                epoch = e
                break
        counter = (r.seq - packet.seq_offset(self.cfg.key, epoch)) & 0xFFFF
        clear = packet.unmask(
            report, self.cfg.key, epoch
        )  # the old firmware sent its fields in clear
        body = with_seq(clear, counter)
        tag = hmac.new(self.cfg.key, body, hashlib.sha256).digest()[: packet.TAG_SIZE]
        plain: bytes = packet.adv_payload(body + tag)
        return plain

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
                self.capture.append(
                    Advert(self.next_adv, self.address, packet.manufacturer_data(self.adv) or b"")
                )
            self.next_adv += self.interval_ms + float(self.rng.uniform(0, ADV_DELAY_MS))

    def service(self) -> None:
        if self.adv is not None and self.next_adv < self.clock.utc_ms + FRAME_MS:
            self._on_air()

    # -- the microphone: its frames keep their phase until the driver restarts --
    def mic_start(self) -> bool:
        if not self.mic_on:
            # I2S starts its frames when asked: after whatever the band slept first
            self.phase = (
                self.phase + self.clock.slept + float(self.rng.normal(*LATENCY_MS))
            ) % FRAME_MS
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
