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
from crowdpulse.gateway import fastmath, reference
from wristband import packet

F64 = npt.NDArray[np.float64]
Slots = tuple[
    npt.NDArray[np.bool_], F64
]  # (valid (bands, buckets), mean codes (bands, buckets, 7))
N_LEVELS = 7  # laeq, voice, mid, low, top, tonal, fluct: in the fine and coarse rings alike
TONAL, FLUCT = 5, 6
# a band's low band must rise this far over its reference's before the band is taken
# to have moved (Floors._moved)
PLAY_DB = 1.0
LATE_MS = 2_000  # reports this late still land in the bucket they belong to


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
    # crowd sound: engagement = logistic((what the music does not explain, dB
    # against the music) - mid) / width), against the music reference ...
    cmr_mid_db: float = -3.0
    cmr_width_db: float = 5.0
    # ... read partly against the room, not only the music: a crowd at its limit of
    # voice and hands is as loud under a quiet PA as under a loud one, so the same
    # crowd-to-music ratio is worth more under a louder PA (by pa_slope dB per dB
    # of music over pa_ref_db at the band; `crowdpulse bench calibrate` chose 0.5)
    pa_slope: float = 0.5
    pa_ref_db: float = 96.0
    # ... or, without one, against the band's own last minutes, which music
    # dynamics also move: a higher bar, and only where the sound turned to noise
    own_mid_db: float = 1.0
    own_width_db: float = 2.0
    tonal_drop: float = (
        0.12  # a tonal share this far below the baseline's: the sound turned to noise
    )
    tonal_blind: float = 0.15  # what an excess still counts for where the share held (dense mixes)
    # what is left over but is not a crowd: its spectrum (rain, hiss, fans put it
    # above 4 kHz; voices and hands below) and its rhythm (one talker's syllables)
    rain_top_db: float = -3.0  # top band over voice band of the excess, where half is discounted
    rain_width_db: float = 1.5
    talker_fluct_db: float = 0.7  # fluctuation above the music's, where half is discounted
    talker_width_db: float = 0.15
    talker_discount: float = 0.5  # at most: a chanting crowd also moves in syllables
    # the wearer's own hands and body, inside 1 - exp(-x)
    clap_per_s: float = 0.15
    imu_clap_per_s: float = 0.25
    motion_per_g: float = 0.5
    # how fast a band's coupling to the reference may rise beyond what its low band
    # says it moved (the sweep's choice, `crowdpulse bench calibrate`), and how fast its
    # own baseline may (gateway/reference.py RiseLimit): the same, since a louder track
    # lifts the low band and so the baseline with it (on the real 18-minute set 0.25
    # and 0.05 read within 0.6 point on every track: docs/sentiment.md)
    rise_db_per_min: float = 0.05
    baseline_rise_db_per_min: float = 0.05
    # ... and, without a reference, how fast the baseline's tonal share may fall (a
    # crowd that stays turns the sound to noise for good; calibrated on the sweep, with
    # a real 18-minute set of music alone as the guard: docs/sentiment.md), and how long
    # a band is followed before either limit holds (four 15 s buckets of programme)
    tonal_fall_per_min: float = 0.002
    baseline_settle_ms: int = 60_000
    # the published score's 1€ filter (gateway/smoothing.py): at rest it low-passes at
    # score_min_cutoff_hz; its cutoff rises by score_beta Hz per point/s of the score's
    # own speed (low-passed at score_d_cutoff_hz).  min cutoff 0: no smoothing.
    score_min_cutoff_hz: float = 0.01
    score_beta: float = 0.015
    score_d_cutoff_hz: float = 0.1
    zone_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class RefSlots:
    """The aggregator's buckets a music reference is compared in: the coarse ones
    (Aggregator.slot_levels), the complete coarse ones (the same, less the bucket
    being filled) and the fine ones (Aggregator.bucket_levels)."""

    coarse: Slots
    complete: Slots
    fine: Slots


class Floors:
    """What the model keeps from tick to tick: each band's coupling to the
    reference and its own baseline, each allowed to rise only slowly once its
    window is full (gateway/reference.py RiseLimit); the coupling also as far as
    the band's low band says it moved nearer the PA."""

    def __init__(self, m: Model) -> None:
        self._coupling = reference.RiseLimit(m.rise_db_per_min)
        self._baseline = reference.RiseLimit(m.baseline_rise_db_per_min, m.baseline_settle_ms)
        # the tonal share's floor is kept upside down: it may fall only slowly
        self._untonal = reference.RiseLimit(m.tonal_fall_per_min, m.baseline_settle_ms)
        self._moves = reference.Moves(PLAY_DB)
        self._own_moves = reference.Moves(PLAY_DB)

    def baseline(
        self, window_db: F64, low_db: F64, alive: npt.NDArray[np.bool_], now_ms: int
    ) -> F64:
        """Without a reference, the band's own baseline (bands, BANDS): its window's,
        rising no faster than its own low band says the music got louder (a louder
        track lifts the bass; a crowd, hardly), else baseline_rise_db_per_min."""
        at = (-1, now_ms // 1000)  # the 4-minute window is summed once a second
        moved = None
        if at != self._own_moves.at or len(self._own_moves.has) != len(low_db):
            moved = self._own_moves.update(alive, low_db, at)
        return self._baseline.update(alive, window_db, now_ms, moved_db=moved)

    def tonal(self, window: F64, alive: npt.NDArray[np.bool_], now_ms: int) -> F64:
        """The baseline's tonal share (bands,): its window's, falling only slowly."""
        return -self._untonal.update(alive, -window[:, None], now_ms)[:, 0]

    def coupling(self, slots: RefSlots, ref: int, now_ms: int) -> tuple[npt.NDArray[np.bool_], F64]:
        """(has a coupling, g): the window's, or lower where the tracked floor of the
        complete buckets is (a bucket being filled is too noisy to remember)."""
        has, g = reference.coupling(slots.coarse[0], slots.coarse[1], ref)
        done, g_done = reference.coupling(slots.complete[0], slots.complete[1], ref)
        moved = self._moved(slots.complete, ref, now_ms)
        kept = self._coupling.update(done, g_done, now_ms, key=ref, moved_db=moved)
        return has, np.where(done[:, None], np.minimum(g, kept), g)

    def _moved(self, complete: Slots, ref: int, now_ms: int) -> F64:
        """How far each band's low band says it moved nearer the PA since the last tick
        (reference.Moves): its coupling may rise as far, while a crowd, which leaves
        the low band alone, still may not."""
        n = len(complete[0])
        # complete buckets change once a bucket (15 s); a bucket's late reports, a
        # second or two after it closed, are in by then
        at = (ref, (now_ms - LATE_MS) // agg.COARSE_MS)
        if at == self._moves.at and len(self._moves.has) == n:
            return np.zeros(n)
        has, geo = reference.geometry(complete[0], complete[1], ref, agg.N_COARSE // 2)
        return self._moves.update(has, geo, at)


@dataclass
class BandView:
    active: npt.NDArray[np.bool_]
    weight: F64
    laeq: F64
    engagement: F64
    referenced: npt.NDArray[np.bool_]  # scored against the music reference


def _means(sums: npt.NDArray[np.int64], dur: F64, first: int, n: int) -> F64:
    return np.asarray(sums[:, first : first + n] / np.where(dur > 0, dur, 1.0)[:, None])


def _logistic(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + fastmath.exp(-np.clip(x, -30, 30))))


def _crowd_sound(
    res: reference.Residual,
    fluct_over_db: F64,
    mid_db: float,
    width_db: float,
    m: Model,
    music_db: F64 | None = None,
) -> F64:
    """Engagement from what the music does not explain, discounted where that looks
    like rain or a fan (spectrum) or one talker (rhythm).  music_db: the music's
    LAeq at each band, where it is known (against a reference)."""
    cmr = fastmath.db_of_power(np.mean(res.power[:, :2], axis=1))  # A, voice
    if music_db is not None:
        cmr = cmr + m.pa_slope * (music_db - m.pa_ref_db)
    sound = _logistic((cmr - mid_db) / width_db)
    top_over_voice = res.excess_db[:, 3] - res.excess_db[:, 1]
    rain = _logistic((top_over_voice - m.rain_top_db) / m.rain_width_db)
    talker = _logistic((fluct_over_db - m.talker_fluct_db) / m.talker_width_db)
    return np.asarray(sound * (1.0 - rain) * (1.0 - m.talker_discount * talker))


def _sound(
    levels: F64,
    base: F64,
    slots: RefSlots | None,
    refs: npt.NDArray[np.bool_],
    alive: npt.NDArray[np.bool_],
    m: Model,
    floors: Floors | None,
    now_ms: int,
) -> tuple[F64, npt.NDArray[np.bool_], int | None]:
    """(crowd sound engagement, scored against a reference, the reference) per band."""
    db = levels[:, reference.BANDS] * packet.LEVEL_STEP_DB
    fluct = levels[:, FLUCT] * packet.TEXTURE_STEP_DB
    # without a reference: the band's own baseline stands for the music
    own_music = base[:, reference.BANDS] * packet.LEVEL_STEP_DB
    own_tonal = base[:, TONAL] * packet.TONAL_STEP
    if floors is not None:
        own_low = base[:, reference.LOW] * packet.LEVEL_STEP_DB
        own_music = floors.baseline(own_music, own_low, alive, now_ms)
        own_tonal = floors.tonal(own_tonal, alive, now_ms)
    own = reference.residual(db, own_music, np.ones(len(db), bool))
    drop = own_tonal - levels[:, TONAL] * packet.TONAL_STEP
    noisy = np.clip(drop / m.tonal_drop, 0.0, 1.0)
    sound = _crowd_sound(
        own, fluct - base[:, FLUCT] * packet.TEXTURE_STEP_DB, m.own_mid_db, m.own_width_db, m
    ) * (m.tonal_blind + (1.0 - m.tonal_blind) * noisy)
    referenced = np.zeros(len(db), bool)
    ref = None if slots is None else reference.pick(slots.coarse[0], refs, alive)
    if ref is not None and slots is not None:
        if floors is not None:
            has, g = floors.coupling(slots, ref, now_ms)
        else:
            has, g = reference.coupling(slots.coarse[0], slots.coarse[1], ref)
        shared, d = reference.bucket_excess(slots.fine[0], slots.fine[1], ref, g)
        music = db[ref][None, :] + g  # the programme's level at each band, by sub-band
        res = reference.residual(music + d, music, has & shared)
        referenced = has & shared & ~refs
        with_ref = _crowd_sound(
            res,
            fluct - fluct[ref],
            m.cmr_mid_db,
            m.cmr_width_db,
            m,
            music[:, 0] + packet.LEVEL_OFFSET_DB,
        )
        sound = np.where(referenced, with_ref, sound)
    return sound, referenced, ref


def band_view(
    recent: npt.NDArray[np.int64],
    base: npt.NDArray[np.int64],
    last_ms: npt.NDArray[np.int64],
    now_ms: int,
    m: Model,
    slots: RefSlots | None = None,
    is_reference: npt.NDArray[np.bool_] | None = None,
    floors: Floors | None = None,
) -> BandView:
    """Each band's engagement now.  slots are needed only when the venue has a
    reference; floors keep each band's coupling and baseline from tick to tick."""
    dur = recent[:, agg.F_DUR].astype(np.float64)
    age = (now_ms - last_ms).astype(np.float64)
    alive = (dur > 0) & (age <= m.age_out_ms) & (age >= -2_000)
    refs = np.zeros(len(dur), bool) if is_reference is None else is_reference
    active = alive & ~refs
    levels = _means(recent, dur, agg.F_LAEQ, N_LEVELS)
    bdur = base[:, agg.C_DUR].astype(np.float64)
    base_levels = np.where((bdur > 0)[:, None], _means(base, bdur, agg.C_LAEQ, N_LEVELS), levels)
    sound, referenced, ref = _sound(levels, base_levels, slots, refs, alive, m, floors, now_ms)
    secs = np.where(dur > 0, dur, 1.0) / 1000.0
    claps = recent[:, agg.F_CLAPS] / secs
    # claps the music itself makes (a drum machine's) are not the crowd's: what the
    # reference hears, or else the band's own usual rate
    usual = base[:, agg.C_CLAPS] / np.maximum(bdur / 1000.0, 1e-3)
    if ref is not None:
        usual = np.where(referenced, claps[ref], usual)
    claps = np.maximum(claps - usual, 0.0)
    mdur = recent[:, agg.F_MOTDUR].astype(np.float64)
    motion = (
        np.where(mdur > 0, recent[:, agg.F_MOT] / np.where(mdur > 0, mdur, 1), 0)
        * packet.MOTION_STEP_G
    )
    x = (
        m.clap_per_s * claps
        + m.imu_clap_per_s * recent[:, agg.F_IMUCLAPS] / secs
        + m.motion_per_g * motion
    )
    engagement = 1.0 - (1.0 - sound) * fastmath.exp(-x)
    weight = np.where(active, fastmath.exp(-np.maximum(age, 0) / m.freshness_ms), 0.0)
    laeq = packet.level_db(levels[:, 0])
    return BandView(active, weight, np.asarray(laeq), np.asarray(engagement), referenced)


def zone_stats(
    values: F64, weights: F64, trim: float, presorted: bool = False
) -> tuple[float, float]:
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
    return m.ambience_floor + m.ambience_span * float(
        np.clip((level - m.quiet_db) / (m.loud_db - m.quiet_db), 0, 1)
    )


@dataclass
class ZoneScore:
    zone: str
    score: float | None
    confidence: float
    bands: int
    referenced: float = 0.0  # share of the bands scored against the music reference


NO_REFERENCE_CONFIDENCE = 0.6


def zone_scores(
    view: BandView, zone_of: npt.NDArray[np.int32], zones: list[str], m: Model
) -> list[ZoneScore]:
    idx = np.flatnonzero(view.active)
    # by zone, then engagement (in [0, 1)): one float sort is ~3x faster than lexsort
    order = idx[np.argsort(zone_of[idx] * 2.0 + view.engagement[idx])]
    bounds = np.searchsorted(zone_of[order], np.arange(len(zones) + 1))
    out = []
    for z, name in enumerate(zones):
        sel = order[bounds[z] : bounds[z + 1]]
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
