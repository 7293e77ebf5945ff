"""Fast mode: what each band would report, without synthesising its audio.

For every band and report interval this draws the report's field codes from
what its wearer and the people around do, with the constants below; they
are calibrated against the DSP twin (sim/twin.py) on synthesised scenes at
PA levels from a quiet bar to the front of a floor, and
tests/test_sim_calibration.py checks the two agree on the fields and on the
sentiment the gateway computes from them.

The model is acoustic, not a table per venue: each crowd sound has a level
at the band, and a field moves by how far the sound stands out of the music
at that band (the power sum of the two; docs/sim.md).  A cheer that doubles
the LAeq in a 76 dB bar vanishes under a 100 dB PA, with the same constants.
Vectorised over bands: 50,000 bands in real time on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse.sim.crowd import Actions
from wristband import packet as P

F64 = npt.NDArray[np.float64]
# the F time weighting (IEC 61672, 125 ms): a short burst's exposure lifts the meter by
# 10*log10(1 s / 125 ms), and it falls by 10*log10(e) / 125 ms per second after
FAST_RISE_DB = 9.03
FAST_DECAY_DB_S = 34.7
VOICE_RISE_S, VOICE_FALL_S = 20.0, 2.5  # the DSP's voice background (docs/dsp.md)
QUIET_ROOM_DB = 35.0  # between tracks: ventilation and the microphone's own noise
CLAP_QUIET_S, CHEER_QUIET_S = 2.0, 1.0  # the firmware's event triggers re-arm after these


@dataclass(frozen=True)
class Calibration:
    """Measured on the twin (calibrate() in tests/test_sim_calibration.py): scenes
    of sim/scene.py with the PA from 72 to 102 dB(A), after the DSP's 20 s
    warm-up; one value per 250 ms interval, 40 bands a situation.  Levels are
    A-weighted dB SPL at the band; "voice" offsets are what the band's voice-band
    field reads above a sound's LAeq."""

    # the music, in 250 ms windows
    music_window_db: float = -0.7  # mean of 250 ms LAeqs (in dB) - the music's LAeq: it is louder on its beats
    level_noise_db: float = 2.1  # spread of 250 ms LAeqs of music: beats and snares come and go
    fmax_over_eq_db: float = 1.7  # LAFmax - LAeq, music
    steady_fmax_db: float = 0.5  # LAFmax - LAeq of a steady crowd sound
    # the crowd's sounds at the band
    applause_db: float = 90.0  # LAeq of the whole zone clapping
    cheer_db: float = 95.0  # LAeq of the whole zone cheering
    own_cheer_db: float = 90.1  # the wearer's own voice
    sing_db: float = 86.0  # the wearer and those around singing along
    clap_sel_db: float = 84.9  # exposure (dB re 1 s) of one of the wearer's claps
    # the voice band and its excess over the band's background
    applause_voice_db: float = -1.8
    cheer_voice_db: float = 0.9
    sing_voice_db: float = 1.0
    clap_voice_db: float = -2.2
    voice_below_laeq_db: float = 0.0  # music: the voice field is gain-corrected to read like LAeq
    voice_slope: float = 1.0  # excess per dB the voice band rises over the background
    voice_floor_db: float = 2.4  # rises below this leave the excess at its floor of 0
    excess_noise_db: float = 0.0  # over steady music the excess sits at 0
    # claps counted: the detector needs the clap's transient clear of what it sits on
    clap_detect: float = 0.99  # the share counted when nothing masks it
    clap_mask_db: float = -8.6  # clap exposure above the music's LAeq at which half are counted
    clap_mask_width_db: float = 4.2  # logistic scale of that
    neighbour_detect: float = 0.0  # claps per second heard from a clapping neighbourhood (a blur)
    # onsets: the music's beats, hidden once a crowd sound covers them
    music_onsets_hz: float = 2.9
    onset_mask_db: float = -1.0  # crowd level above the music at which half the beats are lost
    onset_mask_width_db: float = 4.3
    applause_onset_db: float = 3.8  # applause covers beats as if this much louder (its 1-4 kHz hump)
    crowd_onsets_hz: float = 0.33  # onsets a covering crowd sound makes itself
    clap_onsets_per_beat: float = 0.32  # own claps mostly merge with the beat's own onset


def power(db: F64 | float) -> F64:
    return np.asarray(10.0 ** (np.asarray(db) / 10.0))


def db(p: F64) -> F64:
    return np.asarray(10.0 * np.log10(np.maximum(p, 1e-12)))


class Emitter:
    """Per-band report codes, as arrays over the bands that report now."""

    def __init__(self, person: npt.NDArray[np.int64], music_db: F64, rng: np.random.Generator,
                 imu: npt.NDArray[np.bool_] | None = None, cal: Calibration | None = None) -> None:
        self.person = person  # which person wears each band
        self.music_db = music_db  # LAeq of the PA's music at each band (distance, body, pocket)
        self.rng = rng
        self.imu = imu if imu is not None else np.zeros(len(person), bool)
        self.cal = cal or Calibration()
        n = len(person)
        self.was_clapping = np.zeros(n, bool)
        self.was_cheering = np.zeros(n, bool)
        # time since each wearer last clapped / cheered: the firmware's triggers need a quiet spell
        self.clap_quiet = np.full(n, np.inf)
        self.cheer_quiet = np.full(n, np.inf)
        # the band's voice background (dB), as its DSP keeps it: NaN until its first report
        self.voice_bg = np.full(n, np.nan)

    def reactions(self, act: Actions, zone_cheer_share: F64, zone_of_band: npt.NDArray[np.int32],
                  dt: float = 0.05) -> npt.NDArray[np.bool_]:
        """Bands whose wearer just started to clap or cheer: they report at once.
        As the firmware's triggers (docs/dsp.md): a clap burst after 2 s without
        claps, a cheer swell after 1 s without one; dt: time since the last call."""
        p = self.person
        clapping = act.clapping[p]
        cheering = act.cheering[p] | (zone_cheer_share[zone_of_band] > 0.3)
        self.clap_quiet = np.where(self.was_clapping, 0.0, self.clap_quiet + dt)
        self.cheer_quiet = np.where(self.was_cheering, 0.0, self.cheer_quiet + dt)
        start = ((clapping & ~self.was_clapping & (self.clap_quiet >= CLAP_QUIET_S))
                 | (cheering & ~self.was_cheering & (self.cheer_quiet >= CHEER_QUIET_S)))
        self.was_clapping, self.was_cheering = clapping, cheering
        return start

    def codes(self, idx: npt.NDArray[np.int64], act: Actions, zone_clap_share: F64, zone_cheer_share: F64,
              zone_of_band: npt.NDArray[np.int32], interval_s: F64, bpm: float, music_on: bool,
              event: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
        """Codes (len(idx), 11) for packet.encode_codes: interval..flags."""
        c, r, n = self.cal, self.rng, len(idx)
        p = self.person[idx]
        zb = zone_of_band[idx]
        clap_share, cheer_share = zone_clap_share[zb], zone_cheer_share[zb]
        own_clap = act.clapping[p] & music_on  # people clap along to the beat
        interval_s = np.broadcast_to(np.asarray(interval_s, np.float64), (n,))
        music = self.music_db[idx] if music_on else np.full(n, QUIET_ROOM_DB)
        # steady crowd sounds, as powers at the band
        app = clap_share * power(c.applause_db)
        cheer = cheer_share * power(c.cheer_db) + act.cheering[p] * power(c.own_cheer_db)
        sing = act.singing[p] * power(c.sing_db)
        crowd = app + cheer + sing
        # the wearer's claps fall on the beats inside this interval; phase: the share of
        # a beat since the last clap when the interval starts
        phase = r.random(n)
        beats = np.floor(phase + bpm / 60.0 * interval_s) * own_clap
        clap = beats * power(c.clap_sel_db) / interval_s
        # 250 ms of music vary with its beats; the room between tracks is steady
        window = music + c.music_window_db + r.normal(0, c.level_noise_db, n) if music_on else music
        laeq = db(power(window) + crowd + clap)
        # a clap lifts the F-weighted meter, which then decays at 34.7 dB/s: a window
        # without a clap still starts on the tail of the one before
        tail_db = np.where(beats > 0, 0.0, -FAST_DECAY_DB_S * phase * 60.0 / bpm)
        lafmax = db(power(window + c.fmax_over_eq_db) + crowd * power(c.steady_fmax_db)
                    + own_clap * power(c.clap_sel_db + FAST_RISE_DB + tail_db))
        # voice band: the crowd's voice-band power against the music's, which the
        # band's background has learned
        voice_crowd = (app * power(c.applause_voice_db) + cheer * power(c.cheer_voice_db)
                       + sing * power(c.sing_voice_db) + clap * power(c.clap_voice_db))
        level = db(power(music) + voice_crowd)
        bg = self.voice_bg[idx]
        bg = np.where(np.isnan(bg), music, bg)
        vexc = (np.maximum(c.voice_slope * (level - bg) - c.voice_floor_db, 0.0)
                + np.abs(r.normal(0, c.excess_noise_db, n)))
        # the background creeps up to a sustained sound (20 s) and drops fast (2.5 s):
        # applause or singing that goes on for minutes stops being an excess
        tau = np.where(level > bg, VOICE_RISE_S, VOICE_FALL_S)
        self.voice_bg[idx] = bg + (level - bg) * (1.0 - np.exp(-interval_s / tau))
        voice = db(power(window - c.voice_below_laeq_db) + voice_crowd)
        # a clap is counted when its transient stands clear of the music's beats (masking
        # by the crowd's own sounds was not measured: claps stand out of them in the twin)
        clear = c.clap_sel_db - music
        detect = c.clap_detect / (1.0 + np.exp(-(clear - c.clap_mask_db) / c.clap_mask_width_db))
        claps = r.binomial(beats.astype(np.int64), detect) + r.poisson(clap_share * c.neighbour_detect * interval_s)
        # the music's onsets survive while no crowd sound covers its beats
        cover = db(app * power(c.applause_onset_db) + cheer + sing) - music
        heard = 1.0 / (1.0 + np.exp((cover - c.onset_mask_db) / c.onset_mask_width_db))
        onset_hz = ((c.music_onsets_hz if music_on else 0.0) * heard + c.crowd_onsets_hz * (crowd > 0) * (1 - heard)
                    + own_clap * c.clap_onsets_per_beat * bpm / 60.0)
        onsets = r.poisson(onset_hz * interval_s) / interval_s
        motion = np.where(self.imu[idx], act.motion_g[p], np.nan)
        out = np.zeros((n, 11), np.uint8)
        out[:, 0] = np.clip(np.round(interval_s * 1000 / P.INTERVAL_STEP_MS), 1, 255)
        out[:, 1] = _level(laeq)
        out[:, 2] = _level(np.maximum(lafmax, laeq))
        out[:, 3] = np.minimum(claps, 255)
        out[:, 4] = 0  # applause over music reads ~0 on the band (docs/dsp.md, docs/sim.md)
        out[:, 5] = _level(voice)
        out[:, 6] = np.clip(np.round(vexc / P.EXCESS_STEP_DB), 0, 255)
        out[:, 7] = np.clip(np.round(onsets / P.ONSET_STEP_HZ), 0, 255)
        out[:, 8] = np.where(np.isnan(motion), P.MOTION_ABSENT,
                             np.clip(np.round(np.nan_to_num(motion) / P.MOTION_STEP_G), 0, 254))
        out[:, 9] = P.BATTERY_UNKNOWN
        out[:, 10] = np.where(event, P.FLAG_EVENT, 0)
        return out


def _level(db: F64) -> npt.NDArray[np.int64]:
    return np.clip(np.round((db - P.LEVEL_OFFSET_DB) / P.LEVEL_STEP_DB), 0, 255).astype(np.int64)
