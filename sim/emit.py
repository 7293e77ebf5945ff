"""Fast mode: what each band would report, without synthesising its audio.

For every band and report interval this draws the report's field codes from
what its wearer and the people around do, with the constants below; they
are calibrated against the DSP twin (sim/twin.py) on synthesised scenes, and
tests/test_sim_calibration.py checks the two agree on the fields and on the
sentiment the gateway computes from them.  Vectorised over bands: 50,000
bands in real time on one core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse.sim.crowd import Actions
from wristband import packet as P

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """Measured on the twin (see calibrate() in tests/test_sim_calibration.py)."""

    fmax_over_eq_db: float = 2.5  # LAFmax - LAeq, music
    fmax_clap_db: float = 9.0  # extra LAFmax in an interval with the wearer's clap
    clap_detect: float = 0.9  # the wearer's own claps the DSP counts
    neighbour_detect: float = 0.15  # claps per second heard from a clapping neighbourhood
    clap_level_db: float = 6.0  # LAeq rise when the wearer claps along
    cheer_level_db: float = 10.0  # LAeq rise inside a cheering crowd
    cheer_excess_db: float = 12.0  # voice-band excess inside a cheering crowd
    sing_excess_db: float = 5.0
    clap_excess_db: float = 1.5  # claps are in the voice band too
    music_onsets_hz: float = 2.0
    voice_below_laeq_db: float = 4.0
    level_noise_db: float = 0.7
    excess_noise_db: float = 0.8


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

    def reactions(self, act: Actions, zone_cheer_share: F64, zone_of_band: npt.NDArray[np.int32]
                  ) -> npt.NDArray[np.bool_]:
        """Bands whose wearer just started to clap or cheer: they report at once."""
        p = self.person
        clapping = act.clapping[p]
        cheering = act.cheering[p] | (zone_cheer_share[zone_of_band] > 0.3)
        start = (clapping & ~self.was_clapping) | (cheering & ~self.was_cheering)
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
        own_clap = act.clapping[p]
        cheering = act.cheering[p] | (cheer_share > 0.3)
        base = self.music_db[idx] if music_on else np.full(n, 35.0)
        laeq = (base + own_clap * c.clap_level_db + cheer_share * c.cheer_level_db
                + r.normal(0, c.level_noise_db, n))
        lafmax = laeq + c.fmax_over_eq_db + own_clap * c.fmax_clap_db
        claps = r.poisson(own_clap * c.clap_detect * bpm / 60.0 * interval_s
                          + clap_share * c.neighbour_detect * interval_s)
        vexc = (cheering * c.cheer_excess_db + act.singing[p] * c.sing_excess_db
                + own_clap * c.clap_excess_db + np.abs(r.normal(0, c.excess_noise_db, n)))
        onsets = (c.music_onsets_hz if music_on else 0.0) + claps / interval_s
        motion = np.where(self.imu[idx], act.motion_g[p], np.nan)
        out = np.zeros((n, 11), np.uint8)
        out[:, 0] = np.clip(np.round(interval_s * 1000 / P.INTERVAL_STEP_MS), 1, 255)
        out[:, 1] = _level(laeq)
        out[:, 2] = _level(lafmax)
        out[:, 3] = np.minimum(claps, 255)
        out[:, 4] = 0  # applause over music reads ~0 on the band (docs/dsp.md)
        out[:, 5] = _level(laeq - c.voice_below_laeq_db + vexc)
        out[:, 6] = np.clip(np.round(vexc / P.EXCESS_STEP_DB), 0, 255)
        out[:, 7] = np.clip(np.round(onsets / P.ONSET_STEP_HZ), 0, 255)
        out[:, 8] = np.where(np.isnan(motion), P.MOTION_ABSENT,
                             np.clip(np.round(np.nan_to_num(motion) / P.MOTION_STEP_G), 0, 254))
        out[:, 9] = P.BATTERY_UNKNOWN
        out[:, 10] = np.where(event, P.FLAG_EVENT, 0)
        return out


def _level(db: F64) -> npt.NDArray[np.int64]:
    return np.clip(np.round((db - P.LEVEL_OFFSET_DB) / P.LEVEL_STEP_DB), 0, 255).astype(np.int64)
