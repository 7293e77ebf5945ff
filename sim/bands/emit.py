"""Fast mode: what each band would report, without synthesising its audio.

For every band and report interval this draws the report's field codes from
what its wearer and the people around do.  The levels of the sounds are the
acoustic model's (sim/world/acoustics.py, sources in docs/sim.md); how the band's
DSP reads each sound (its sub-band balance, tonal share, fluctuation, how its
claps are masked) is measured on the DSP twin (sim/bands/fastcal.py), and
tests/test_sim_calibration.py checks that fast and twin agree field by field
and on the sentiment the gateway computes from them.

The model is acoustic, not a table per venue: each sound adds its power at
the band, in each sub-band, so a field moves by how far a sound stands out of
the music there.  A cheer that doubles the LAeq in a 76 dB bar vanishes under
a 104 dB PA, with the same constants.  Vectorised over bands: tens of
thousands of bands in real time on one core.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from crowdpulse.reportcodec import code_bytes, new_codes, nibbles
from crowdpulse.sim.bands.fastcal import Calibration, Sound
from crowdpulse.sim.world.acoustics import Floor
from crowdpulse.sim.world.crowd import Actions
from wristband import packet

__all__ = ["Calibration", "Emitter", "Sound", "db", "power"]

F64 = npt.NDArray[np.float64]
FRAME_S = 0.01  # the DSP's frame, and the IMU's sample period
SLOT_S = 0.05  # the programme's variation: 50 ms slots
MUSIC_BEATS = 8  # the scene's music loops (sim/world/scene.py) repeat every 8 beats
SUBBANDS = ("voice", "mid", "low", "top")
CLAP_QUIET_S, CHEER_QUIET_S = 2.0, 1.0  # the firmware's event triggers re-arm after these


def power(db: F64 | float) -> F64:
    return np.asarray(10.0 ** (np.asarray(db, np.float64) / 10.0))


def db(p: F64 | float) -> F64:
    return np.asarray(10.0 * np.log10(np.maximum(np.asarray(p, np.float64), 1e-12)))


def logistic(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0))))


@dataclass
class Mixture:
    """What a band hears over one interval: a background (the music, or the room
    between tracks) and the crowd's sounds, as powers at the band."""

    bg_db: F64  # the background's 250 ms LAeq, dB (music: with its beats' variation)
    bg: Sound
    bg_noise: F64  # (n, 4): the background's sub-band deviations this interval, dB
    crowd: list[tuple[F64, Sound]]  # each steady crowd sound's LAeq power and how it reads
    clap_sel_db: float  # one of the wearer's claps: exposure, dB re 1 s
    clap: Sound  # how the DSP reads a clap (against its exposure)
    beats: F64  # the wearer's claps in the interval
    interval_s: F64

    @property
    def clap_power(self) -> F64:
        return np.asarray(self.beats * power(self.clap_sel_db) / self.interval_s)


def _sub(m: Mixture, k: int, name: str) -> F64:
    """Power of sub-band `name` (exact arithmetic, before the DSP's own floor)."""
    total = power(m.bg_db + getattr(m.bg, f"{name}_db") + m.bg_noise[:, k])
    for p, s in [*m.crowd, (m.clap_power, m.clap)]:
        total = total + p * power(getattr(s, f"{name}_db"))
    return np.asarray(total)


def _tonal(m: Mixture, width: float) -> F64:
    """Tonal share of the mixture: the crowd's own (weighted by voice-band power) where it
    covers the background, the background's where that stands clear of it by more than
    the crowd's sounds need to break the background's lines (their masks_db)."""
    v_bg = power(m.bg_db + m.bg.voice_db)
    v_crowd, t_crowd, mask = np.zeros_like(v_bg), np.zeros_like(v_bg), np.zeros_like(v_bg)
    for p, s in m.crowd:
        v = p * power(s.voice_db)
        v_crowd, t_crowd, mask = v_crowd + v, t_crowd + v * s.tonal, mask + v * s.masks_db
    t_crowd, mask = t_crowd / np.maximum(v_crowd, 1e-30), mask / np.maximum(v_crowd, 1e-30)
    w = np.where(v_crowd > 0, logistic((db(v_bg) - db(v_crowd) - mask) / width), 1.0)
    return np.asarray(t_crowd + (m.bg.tonal - t_crowd) * w)


def _fluct(m: Mixture, norm: float) -> F64:
    """Fluctuation of the mixture: each sound's own, scaled by its share of the voice
    band's power (a steady sound under it compresses a sound's level steps in dB), and
    combined as a p-norm (independent steps partly cancel)."""
    parts = [(power(m.bg_db + m.bg.voice_db), m.bg.fluct)] + [
        (p * power(s.voice_db), s.fluct) for p, s in m.crowd
    ]
    total = sum((v for v, _ in parts), np.zeros(len(m.bg_db)))
    acc = sum(((v / total * f) ** norm for v, f in parts), np.zeros(len(m.bg_db)))
    return np.asarray(acc ** (1.0 / norm))


def read_floor(true_db: F64, curve: tuple[tuple[float, float], ...]) -> F64:
    """What the DSP reads of a mid or top band at this exact level: its 2 ms energies
    are truncated, so quiet bands read low, and below the curve not at all (code 0)."""
    x = np.array([a for a, _ in curve])
    d = np.array([b for _, b in curve])
    # below the curve the deficit grows as steeply as at its first two points
    slope = (d[1] - d[0]) / (x[1] - x[0])
    deficit = np.where(true_db < x[0], d[0] - slope * (x[0] - true_db), np.interp(true_db, x, d))
    return np.asarray(true_db + deficit)


class Emitter:
    """Per-band report codes, as arrays over the bands that report now."""

    def __init__(
        self,
        person: npt.NDArray[np.int64],
        music_db: F64,
        rng: np.random.Generator,
        imu: npt.NDArray[np.bool_] | None = None,
        cal: Calibration | None = None,
        floor: Floor | None = None,
    ) -> None:
        self.person = person  # which person wears each band
        self.music_db = music_db  # LAeq of the PA's music at each band (distance, body)
        self.rng = rng
        self.imu = imu if imu is not None else np.zeros(len(person), bool)
        self.cal = cal or Calibration()
        self.floor = floor or Floor()
        n = len(person)
        self.was_clapping = np.zeros(n, bool)
        self.was_cheering = np.zeros(n, bool)
        self.slot = 0  # the programme's clock, in 50 ms slots
        # the PA's sound reaches each band 0-60 ms late (sim/world/acoustics.py): 0 or 1 slot
        self.shift = np.round(
            self.rng.uniform(0, self.floor.pa_delay_max_ms / 1000 / SLOT_S, n)
        ).astype(np.int64)
        # time since each wearer last clapped / cheered: the firmware's triggers need a quiet spell
        self.clap_quiet = np.full(n, np.inf)
        self.cheer_quiet = np.full(n, np.inf)

    def reactions(
        self,
        act: Actions,
        zone_cheer_share: F64,
        zone_of_band: npt.NDArray[np.int32],
        dt: float = 0.05,
    ) -> npt.NDArray[np.bool_]:
        """Bands whose wearer just started to clap or cheer: they report at once.
        As the firmware's triggers (docs/dsp.md): a clap burst after 2 s without
        claps, a cheer swell after 1 s without one; dt: time since the last call."""
        p = self.person
        clapping = act.clapping[p]
        cheering = act.cheering[p] | (zone_cheer_share[zone_of_band] > 0.3)
        self.clap_quiet = np.where(self.was_clapping, 0.0, self.clap_quiet + dt)
        self.cheer_quiet = np.where(self.was_cheering, 0.0, self.cheer_quiet + dt)
        start = (clapping & ~self.was_clapping & (self.clap_quiet >= CLAP_QUIET_S)) | (
            cheering & ~self.was_cheering & (self.cheer_quiet >= CHEER_QUIET_S)
        )
        self.was_clapping, self.was_cheering = clapping, cheering
        return start

    def advance(self, seconds: float) -> None:
        """The programme moves on (the runner calls this every step)."""
        self.slot += max(1, int(round(seconds / SLOT_S)))

    def _programme(self, interval_s: F64, bpm: float, shift: npt.NDArray[np.int64]) -> F64:
        """The programme's deviation over each band's last interval, in units of its sd.
        As in the twin's scene, the music repeats every MUSIC_BEATS beats: a pattern of
        50 ms slots per tempo, the same for every band (each a slot or so late for its
        distance) and for the reference, so it averages out over a few seconds."""
        pattern = _pattern(int(round(bpm)))
        k = np.clip(np.round(np.asarray(interval_s) / SLOT_S), 1, len(pattern)).astype(np.int64)
        end = self.slot - shift
        cums = np.concatenate([[0.0], np.cumsum(np.concatenate([pattern, pattern]))])
        i = end % len(pattern) + len(pattern)
        return np.asarray((cums[i + 1] - cums[i + 1 - k]) / np.sqrt(k))

    def _background(
        self,
        level_db: F64,
        interval_s: F64,
        bpm: float,
        shift: npt.NDArray[np.int64],
        music_on: bool,
        sound: Sound,
        sd: tuple[float, ...],
        own_sd: tuple[float, ...],
    ) -> tuple[F64, Sound, F64]:
        """(250 ms LAeq, how it reads, sub-band deviations): music varies with its beats,
        the same for all (sd) and a little band by band (own_sd); the room between
        tracks is steady."""
        c, n = self.cal, len(level_db)
        if not music_on:
            return np.full(n, self.floor.quiet_db), c.quiet, np.zeros((n, 4))
        dev = (
            self._programme(interval_s, bpm, shift)[:, None] * np.array(sd)[None, :]
            + self.rng.standard_normal((n, 5)) * np.array(own_sd)[None, :]
        )
        # sub-band deviations relative to the LAeq's (each sub-band's level is the
        # LAeq's plus its offset)
        return np.asarray(level_db + c.music_window_db + dev[:, 0]), sound, dev[:, 1:] - dev[:, :1]

    def codes(
        self,
        idx: npt.NDArray[np.int64],
        act: Actions,
        zone_clap_share: F64,
        zone_cheer_share: F64,
        zone_of_band: npt.NDArray[np.int32],
        interval_s: F64,
        bpm: float,
        music_on: bool,
        event: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.uint8]:
        """Codes (len(idx), N_CODES) for packet.encode_codes: interval..status."""
        c, fl, n = self.cal, self.floor, len(idx)
        p = self.person[idx]
        zb = zone_of_band[idx]
        interval_s = np.broadcast_to(np.asarray(interval_s, np.float64), (n,))
        # the wearer's claps fall on the beats inside this interval; phase: the share of
        # a beat since the last clap when the interval starts
        own_clap = act.clapping[p] & music_on  # people clap along to the beat
        beats = np.floor(self.rng.random(n) + bpm / 60.0 * interval_s) * own_clap
        crowd = [
            (zone_clap_share[zb] * power(fl.applause_db + c.applause_read_db), c.applause),
            # the zone's voices and the wearer's own: independent, so their level steps
            # partly cancel (the fluctuation's p-norm), as the twin hears them
            (zone_cheer_share[zb] * power(fl.cheer_db + c.cheer_read_db), c.cheer),
            (act.cheering[p] * power(fl.own_voice_db + c.cheer_read_db), c.cheer),
            (act.singing[p] * power(fl.sing_db + c.sing_read_db), c.sing),
        ]
        # each crowd sound comes and goes a little from one 250 ms to the next (its mean power kept)
        crowd = [
            (pw * power(s.sd_db * self.rng.standard_normal(n) - s.sd_db**2 * np.log(10) / 20), s)
            for pw, s in crowd
        ]
        clap_sel = fl.clap_db + c.clap_sel_db
        bg_db, bg, dev = self._background(
            self.music_db[idx],
            interval_s,
            bpm,
            self.shift[idx],
            music_on,
            c.music,
            c.music_sd,
            c.band_sd,
        )
        mix = Mixture(bg_db, bg, dev, crowd, clap_sel, c.clap, beats, interval_s)
        # a clap is counted when its transient stands clear of the music's beats
        clear = clap_sel - self.music_db[idx]
        detect = c.clap_detect * logistic((clear - c.clap_mask_db) / c.clap_mask_width_db)
        claps = self.rng.binomial(beats.astype(np.int64), detect)
        has = self.imu[idx]
        frames = np.maximum(np.round(interval_s / FRAME_S), 1)
        motion = np.where(has, act.motion_g[p] + beats * c.jolt_motion_g / frames, np.nan)
        imu_claps = np.where(has, beats, 0).astype(np.int64)
        flags = np.where(event, packet.FLAG_EVENT, 0)
        return self.encode(mix, claps, imu_claps, motion, flags)

    def reference_codes(
        self, interval_s: float, bpm: float, music_on: bool, level_db: float
    ) -> npt.NDArray[np.uint8]:
        """Codes (1, N_CODES) of a music reference: the programme alone, dry, at line level
        (level_db on the DSP's scale).  Between tracks the line carries nothing."""
        iv = np.array([interval_s])
        if not music_on:
            silent = new_codes(1)
            silent["interval"] = interval_code(iv)
            silent["motion"] = packet.MOTION_ABSENT
            silent["status"] = nibbles("status", battery=packet.BATTERY_UNKNOWN, flags=0)
            return code_bytes(silent)
        c = self.cal
        bg_db, bg, dev = self._background(
            np.array([level_db]),
            iv,
            bpm,
            np.zeros(1, np.int64),
            True,
            c.reference,
            c.reference_sd,
            (0.0,) * 5,
        )
        mix = Mixture(bg_db, bg, dev, [], 0.0, self.cal.clap, np.zeros(1), iv)
        zero = np.zeros(1, np.int64)
        return self.encode(mix, zero, zero, np.full(1, np.nan), zero)

    def encode(
        self,
        m: Mixture,
        claps: npt.NDArray[np.int64],
        imu_claps: npt.NDArray[np.int64],
        motion_g: F64,
        flags: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.uint8]:
        c = self.cal
        sub = {name: _sub(m, k, name) for k, name in enumerate(SUBBANDS)}
        around = power(m.bg_db) + sum((p for p, _ in m.crowd), np.zeros(len(m.bg_db)))
        laeq = around + m.clap_power
        # the wearer's claps make the voice band jump and break its steady lines, as far
        # as they stand out of the rest
        rate, clear = m.beats / m.interval_s, m.clap_sel_db - db(around)
        tonal = _tonal(m, c.tonal_width_db)
        tonal = tonal - rate * c.clap_tonal * logistic(
            (clear - c.clap_tonal_mid_db) / c.clap_tonal_width_db
        )
        fluct = _fluct(m, c.fluct_norm)
        fluct = fluct + rate * c.clap_fluct_db * logistic(
            (clear - c.clap_fluct_mid_db) / c.clap_fluct_width_db
        )
        # the microphone clips where the waveform's bass peaks pass full scale
        over = np.maximum(db(sub["low"]) - c.clip_x0_db, 0.0) ** 1.5
        clip = c.clip_k * over
        tonal = tonal - c.clip_tonal_k * over
        n = len(m.bg_db)
        out = new_codes(n)
        out["interval"] = interval_code(m.interval_s)
        out["laeq"] = _level(db(laeq) - clip)
        out["voice"] = _level(db(sub["voice"]) - clip)
        out["mid"] = _level(read_floor(db(sub["mid"]), c.mid_floor) - clip)
        out["low"] = _level(db(sub["low"]) - clip - c.clip_low_k * over)
        out["top"] = _level(read_floor(db(sub["top"]), c.top_floor) - clip)
        out["tonal"] = np.clip(np.round(tonal / packet.TONAL_STEP), 0, 255)
        out["fluct"] = np.clip(np.round(fluct / packet.TEXTURE_STEP_DB), 0, 255)
        out["motion"] = np.where(
            np.isnan(motion_g),
            packet.MOTION_ABSENT,
            np.clip(np.round(np.nan_to_num(motion_g) / packet.MOTION_STEP_G), 0, 254),
        )
        out["claps"] = nibbles("claps", audio_claps=claps, imu_claps=imu_claps)
        out["status"] = nibbles("status", battery=packet.BATTERY_UNKNOWN, flags=flags)
        return code_bytes(out)


@cache
def _pattern(bpm: int) -> F64:
    """MUSIC_BEATS beats of the programme's 50 ms variation at this tempo (unit sd)."""
    n = max(2, int(round(MUSIC_BEATS * 60.0 / bpm / SLOT_S)))
    x = np.random.default_rng(20261124 + bpm).standard_normal(n)
    return np.asarray((x - x.mean()) / x.std())


def interval_code(interval_s: F64) -> npt.NDArray[np.int64]:
    """The report's interval field: the interval in INTERVAL_STEP_MS steps (1-255).
    A step is one DSP frame, so it is also how many frames the twin runs."""
    code = np.clip(
        np.round(np.asarray(interval_s, np.float64) * 1000 / packet.INTERVAL_STEP_MS), 1, 255
    )
    return np.asarray(code, np.int64)


def _level(x: F64) -> npt.NDArray[np.int64]:
    return np.clip(np.round((x - packet.LEVEL_OFFSET_DB) / packet.LEVEL_STEP_DB), 0, 255).astype(
        np.int64
    )
