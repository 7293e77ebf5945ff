"""From each band's recent sums to a 0-100 sentiment per zone and for the venue.

docs/sentiment.md explains the model; in short:
- ambience: how loud the room is, from the zone's *median* band level, so a
  band beside the PA or in a pocket does not move it (quiet room ~10, music ~38);
- crowd sound per band: with a music reference (gateway/reference.py), the
  power the programme does not explain, against the music's (CMR); without
  one, the band's excess over its own 4-minute baseline, discounted where the
  sound stays as tonal as music;
- the wearer's own hands and body: claps heard, claps felt at the wrist, motion;
- zone score = ambience + the room left above it, times a freshness-weighted
  trimmed mean of the bands' engagement;
- venue score = the zones' scores weighted by zone weight and active bands.
A zone with fewer than k active bands publishes nothing (k-anonymity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway import aggregate as agg
from crowdpulse.gateway import reference
from wristband import packet as P

F64 = npt.NDArray[np.float64]
N_LEVELS = 6  # laeq, voice, mid, low, top, tonal: the coarse ring's columns after its duration
TONAL = 5


@dataclass(frozen=True)
class Model:
    k_anonymity: int = 5
    age_out_ms: int = 10_000
    freshness_ms: float = 5_000.0
    trim: float = 0.10
    quiet_db: float = 55.0  # ambience 0 at and below this median LAeq
    loud_db: float = 85.0  # ambience full at and above
    ambience_floor: float = 0.10
    ambience_span: float = 0.28
    # crowd sound, as engagement = logistic((crowd dB - mid) / width)
    cmr_mid_db: float = -4.0  # with a reference: crowd-to-music ratio
    cmr_width_db: float = 2.5
    excess_free_db: float = 1.5  # without: excess over the band's own baseline, less this
    excess_mid_db: float = 2.0
    excess_width_db: float = 1.2
    tonal_hold: float = 0.05  # tonal share as steady as the baseline's: the music changed
    # the wearer's own hands and body, inside 1 - exp(-x)
    clap_per_s: float = 0.15
    imu_clap_per_s: float = 0.25
    motion_per_g: float = 0.5
    zone_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class BandView:
    active: npt.NDArray[np.bool_]
    weight: F64
    laeq: F64
    engagement: F64
    referenced: npt.NDArray[np.bool_]  # scored against the music reference


def _means(sums: npt.NDArray[np.int64], dur: F64, first: int, n: int) -> F64:
    return np.asarray(sums[:, first:first + n] / np.where(dur > 0, dur, 1.0)[:, None])


def _logistic(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -30, 30))))


def _crowd_without_reference(levels: F64, base: F64, m: Model) -> F64:
    """Engagement from the excess over the band's own baseline (dB codes / 2)."""
    excess = np.maximum(levels[:, 0] - base[:, 0], levels[:, 1] - base[:, 1]) * P.LEVEL_STEP_DB
    # a crowd is noise: where the tonal share held up, the music itself got louder
    drop = (base[:, TONAL] - levels[:, TONAL]) * P.TONAL_STEP
    credible = np.clip(drop / m.tonal_hold, 0.0, 1.0)
    x = (excess - m.excess_free_db - m.excess_mid_db) / m.excess_width_db
    return np.asarray(_logistic(x) * (0.5 + 0.5 * credible))


def band_view(recent: npt.NDArray[np.int64], base: npt.NDArray[np.int64],
              last_ms: npt.NDArray[np.int64], now_ms: int, m: Model,
              slots: tuple[npt.NDArray[np.bool_], F64] | None = None,
              is_reference: npt.NDArray[np.bool_] | None = None) -> BandView:
    dur = recent[:, agg.F_DUR].astype(np.float64)
    age = (now_ms - last_ms).astype(np.float64)
    alive = (dur > 0) & (age <= m.age_out_ms) & (age >= -2_000)
    refs = np.zeros(len(dur), bool) if is_reference is None else is_reference
    active = alive & ~refs
    levels = _means(recent, dur, agg.F_LAEQ, N_LEVELS)  # laeq, voice, mid, low, top, tonal codes
    bdur = base[:, agg.C_DUR].astype(np.float64)
    base_levels = np.where((bdur > 0)[:, None], _means(base, bdur, agg.C_LAEQ, N_LEVELS), levels)
    sound = _crowd_without_reference(levels, base_levels, m)
    referenced = np.zeros(len(dur), bool)
    ref = None if slots is None else reference.pick(slots[0], refs, alive)
    if ref is not None and slots is not None:
        has, g = reference.coupling(slots[0], slots[1], ref)
        lv = levels[:, reference.BANDS] * P.LEVEL_STEP_DB
        res = reference.residual(lv, lv[ref], g, has)
        # A-weighted and voice band; the mid band of quiet music sits near a band's
        # own noise floor, which would read as crowd
        cmr = 10.0 * np.log10(np.mean(np.power(10.0, res.cmr_db[:, :2] / 10.0), axis=1))
        referenced = has & active
        sound = np.where(referenced, _logistic((cmr - m.cmr_mid_db) / m.cmr_width_db), sound)
    secs = np.where(dur > 0, dur, 1.0) / 1000.0
    mdur = recent[:, agg.F_MOTDUR].astype(np.float64)
    motion = np.where(mdur > 0, recent[:, agg.F_MOT] / np.where(mdur > 0, mdur, 1), 0) * P.MOTION_STEP_G
    x = (m.clap_per_s * recent[:, agg.F_CLAPS] / secs
         + m.imu_clap_per_s * recent[:, agg.F_IMUCLAPS] / secs + m.motion_per_g * motion)
    engagement = 1.0 - (1.0 - sound) * np.exp(-x)
    weight = np.where(active, np.exp(-np.maximum(age, 0) / m.freshness_ms), 0.0)
    laeq = P.level_db(levels[:, 0])
    return BandView(active, weight, np.asarray(laeq), np.asarray(engagement), referenced)


def zone_stats(values: F64, weights: F64, trim: float, presorted: bool = False) -> tuple[float, float]:
    """(weighted mean of the middle (1 - 2*trim) of the weight, confidence 0-1),
    from one sort.  Confidence grows with the effective number of bands and
    falls with their disagreement (the spread of the middle half)."""
    if presorted:
        v, w = values, weights
    else:
        order = np.argsort(values, kind="stable")
        v, w = values[order], weights[order]
    total = float(w.sum())
    if total <= 0:
        return float("nan"), 0.0
    hi_edge = np.cumsum(w)
    lo_edge = hi_edge - w
    lo, hi = trim * total, (1 - trim) * total
    kept = np.clip(np.minimum(hi_edge, hi) - np.maximum(lo_edge, lo), 0, None)
    mean = float((v * kept).sum() / kept.sum()) if kept.sum() > 0 else float(v[len(v) // 2])
    q1 = v[min(int(np.searchsorted(hi_edge, 0.25 * total)), len(v) - 1)]
    q3 = v[min(int(np.searchsorted(hi_edge, 0.75 * total)), len(v) - 1)]
    n_eff = total**2 / max(float((w**2).sum()), 1e-12)
    return mean, float(n_eff / (n_eff + 10.0) * (1.0 - min(1.0, (q3 - q1) / 0.5)))


def trimmed_mean(values: F64, weights: F64, trim: float) -> float:
    return zone_stats(values, weights, trim)[0]


def ambience(laeq_db: F64, m: Model) -> float:
    level = float(np.median(laeq_db))
    return m.ambience_floor + m.ambience_span * float(np.clip((level - m.quiet_db) / (m.loud_db - m.quiet_db), 0, 1))


@dataclass
class ZoneScore:
    zone: str
    score: float | None
    confidence: float
    bands: int
    referenced: float = 0.0  # share of the bands scored against the music reference


NO_REFERENCE_CONFIDENCE = 0.6


def zone_scores(view: BandView, zone_of: npt.NDArray[np.int32], zones: list[str], m: Model) -> list[ZoneScore]:
    idx = np.flatnonzero(view.active)
    # by zone, then engagement (in [0, 1)): one float sort is ~3x faster than lexsort
    order = idx[np.argsort(zone_of[idx] * 2.0 + view.engagement[idx])]
    bounds = np.searchsorted(zone_of[order], np.arange(len(zones) + 1))
    out = []
    for z, name in enumerate(zones):
        sel = order[bounds[z]:bounds[z + 1]]
        n = len(sel)
        if n < m.k_anonymity:
            out.append(ZoneScore(name, None, 0.0, n))
            continue
        amb = ambience(view.laeq[sel], m)
        # in a small zone one band is a big share: always trim at least ~1.5 bands a side
        trim = min(0.4, max(m.trim, 1.5 / n))
        mean, conf = zone_stats(view.engagement[sel], view.weight[sel], trim, presorted=True)
        # without the music reference, music and crowd are told apart by the band's
        # own evidence only: say so in the confidence
        referenced = float(view.referenced[sel].mean())
        conf *= NO_REFERENCE_CONFIDENCE + (1.0 - NO_REFERENCE_CONFIDENCE) * referenced
        out.append(ZoneScore(name, 100.0 * min(1.0, amb + (1.0 - amb) * mean), conf, n, referenced))
    return out


def venue_score(zones: list[ZoneScore], m: Model) -> tuple[float | None, float]:
    """(score, confidence) over zones that publish one, weighted by zone weight x bands."""
    num = den = conf = 0.0
    for z in zones:
        if z.score is None:
            continue
        w = m.zone_weights.get(z.zone, 1.0) * z.bands
        num += w * z.score
        conf += w * z.confidence
        den += w
    if den == 0:
        return None, 0.0
    return num / den, conf / den
