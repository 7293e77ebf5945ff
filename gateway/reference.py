"""The music reference: how each band hears the PA, and what is left over.

A reference band hears the programme with no crowd on it (the mixer's booth
output through a line-level ADC, the gateway host's line-in, or the simulator's
music).  Every band hears the same programme through its own path (distance,
bodies, a pocket): in each frequency band k, in dB,

    L_band,k(t) = L_ref,k(t) + g_k + crowd_k(t)        crowd_k >= 0 dB of excess

The coupling g_k is fitted per band, robustly, as the lowest difference between
the band's and the reference's mean level over the last few minutes' 15 s
buckets: music alone is what the band hears at its quietest relative to the
programme, and a crowd can only add power.  What the programme does not
explain is the crowd; its power against the music's is

    CMR_k = 10 log10(10^(d_k/10) - 1),   d_k = L_band,k - L_ref,k - g_k

so a louder chorus (L_ref rises) moves nothing, and a crowd at the music's own
level reads 0 dB.  docs/sentiment.md has the derivation and its limits.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway import fastmath

F64 = npt.NDArray[np.float64]
# sub-bands compared with the reference: A-weighted, voice band, mid band, top band
# (indexes into the aggregator's level columns laeq, voice, mid, low, top, tonal)
BANDS = (0, 1, 2, 4)
# the low band (below 200 Hz): the music's bass carries 15 dB more there than its
# A-weighted level, a crowd's voices and hands 12-24 dB less, so a crowd as loud as
# the music moves it by well under 0.1 dB; what moves it is where the band is
LOW = 3
CMR_FLOOR_DB = -30.0
FLOOR_POWER = 10 ** (CMR_FLOOR_DB / 10)


@dataclass
class Residual:
    have: npt.NDArray[np.bool_]  # a prediction of the music exists for the band
    cmr_db: F64  # (bands, len(BANDS)): what is left over against the music, dB
    excess_db: F64  # (bands, len(BANDS)): the level of what is left over, dB
    power: F64  # (bands, len(BANDS)): cmr_db as a power ratio


def pick(
    valid: npt.NDArray[np.bool_], is_reference: npt.NDArray[np.bool_], active: npt.NDArray[np.bool_]
) -> int | None:
    """The reference to use: the active one with the most history, or None."""
    live = np.flatnonzero(is_reference & active)
    if len(live) == 0:
        return None
    return int(live[np.argmax(valid[live].sum(axis=1))])


def _against(
    valid: npt.NDArray[np.bool_], means: F64, ref: int, cols: tuple[int, ...] | int
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(the buckets each band shares with the reference, each band's level over the
    reference's in them, dB).  Level codes are 0.5 dB steps."""
    shared: npt.NDArray[np.bool_] = valid & valid[ref][None, :]
    return shared, np.asarray((means[:, :, cols] - means[ref][None, :, cols]) * 0.5)


def _nanmedian(x: F64) -> F64:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band with no bucket at all
        return np.asarray(np.nanmedian(x, axis=1))


def _midmean(x: F64) -> F64:
    """The mean of the middle half of each row (axis 1), NaN left out.  Levels come
    in 0.5 dB steps: a median of a few of them snaps to that grid, which under a
    loud PA is as large as a whole crowd's excess (10 dB under the music adds
    0.4 dB), while the mean of the middle half is dithered by the music's own
    movement and still drops the buckets a break or a drop straddles."""
    s = np.sort(x, axis=1)  # NaN sort last
    n = np.isfinite(x).sum(axis=1, keepdims=True)
    at = np.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2))
    keep = (at >= n // 4) & (at < n - n // 4)  # from four buckets on, the outer ones go
    count = keep.sum(axis=1)
    total = np.where(keep, s, 0.0).sum(axis=1)
    return np.asarray(np.where(count > 0, total / np.maximum(count, 1), np.nan))


def coupling(
    valid: npt.NDArray[np.bool_], means: F64, ref: int
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(has a coupling, g (bands, BANDS) in dB) from the coarse buckets shared with
    the reference."""
    shared, diff = _against(valid, means, ref, BANDS)
    g = np.where(shared[:, :, None], diff, np.inf).min(axis=1)
    has = np.asarray(shared.any(axis=1))
    return has, np.where(has[:, None], g, 0.0)


class RiseLimit:
    """A slowly rising floor under a windowed level, kept from tick to tick:
    minimum statistics with a bounded rise (after Martin, IEEE TSAP 2001, for
    noise floors).  It may fall at once with its window, since a crowd can only
    add power; it may rise only `rise_db_per_min`, plus what other evidence says
    the band moved (a credit, spent as the window lets the floor rise).  Used for
    each band's coupling to the reference, which is geometry (a wearer walking
    nearer the PA), and for its own baseline without one, which is the music's
    level: in both, a crowd that cheers for longer than the window would
    otherwise become part of the "music" and fade from the score.  A band
    followed for less than `settle_ms` simply takes its window (the window is
    still filling)."""

    def __init__(self, rise_db_per_min: float, settle_ms: int = 0) -> None:
        self.rise_db_per_s = rise_db_per_min / 60.0
        self.settle_ms = settle_ms
        self.value: F64 | None = None
        self.credit: F64 | None = None
        self.since_ms: npt.NDArray[np.int64] | None = None
        self.key: int | None = None
        self.at_ms = 0

    def update(
        self,
        has: npt.NDArray[np.bool_],
        window: F64,
        now_ms: int,
        key: int | None = None,
        moved_db: F64 | None = None,
    ) -> F64:
        """The floor (bands, columns) in dB from this tick's window; a new key (another
        reference band) starts again from the window.  moved_db (bands,): how far
        other evidence says each band moved since the last tick (dB, + nearer): the
        floor may rise that much more, now or once its window allows."""
        if (
            self.value is None
            or self.credit is None
            or self.since_ms is None
            or self.value.shape != window.shape
            or key != self.key
        ):
            self.value, self.key, self.at_ms = window.copy(), key, now_ms
            self.credit = np.zeros_like(window)
            self.since_ms = np.where(has, now_ms, np.iinfo(np.int64).max)
            return self.value
        dt_s = max(0, now_ms - self.at_ms) / 1000.0
        self.at_ms = max(self.at_ms, now_ms)
        # a band seen for the first time, or again after it went away, starts afresh
        self.since_ms = np.where(has, np.minimum(self.since_ms, now_ms), np.iinfo(np.int64).max)
        if moved_db is not None:
            self.credit = np.maximum(self.credit + moved_db[:, None], 0.0)
        rise = self.rise_db_per_s * dt_s
        capped = np.minimum(window, self.value + rise + self.credit)
        settled = has & (self.since_ms < now_ms) & (now_ms - self.since_ms >= self.settle_ms)
        spent = np.maximum(capped - self.value - rise, 0.0)
        self.credit = np.where(settled[:, None], np.maximum(self.credit - spent, 0.0), 0.0)
        self.value = np.where(settled[:, None], capped, window)
        return self.value


def geometry(
    valid: npt.NDArray[np.bool_], means: F64, ref: int, least: int
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(has one, the band's low-band level over the reference's in dB): the median over
    the coarse buckets both have, where they share at least `least` (a median of two
    or three buckets jumps by decibels as the next comes in).  A crowd barely moves
    it (LOW); a wearer who walks nearer the PA moves it with the coupling."""
    shared, diff = _against(valid, means, ref, LOW)
    has = shared.sum(axis=1) >= least
    return has, np.where(has, _nanmedian(np.where(shared, diff, np.nan)), 0.0)


class Moves:
    """How far each band moved nearer the PA, from its geometry (above) once per
    coarse bucket: a play operator with `play_db` of backlash, so that the
    median's own wander (tenths of a dB as buckets come and go) never adds up,
    while a real move counts whole, from where the geometry stood when it last
    counted one.  A new key (another reference band) starts again."""

    def __init__(self, play_db: float) -> None:
        self.play_db = play_db
        self.at: tuple[int, int] | None = None  # (reference, bucket) last measured
        self.has = np.zeros(0, bool)
        self.play = np.zeros(0)
        self.rest = np.zeros(0)

    def update(self, has: npt.NDArray[np.bool_], geo: F64, at: tuple[int, int]) -> F64:
        """The moves (bands,) in dB since the last call (+ nearer; 0 where unknown)."""
        fresh = self.at is None or self.at[0] != at[0] or len(self.has) != len(geo)
        self.at = at
        if fresh:
            self.has, self.play, self.rest = has, geo, geo
            return np.zeros(len(geo))
        known = has & self.has
        play = np.where(known, np.clip(self.play, geo - self.play_db, geo), geo)
        counts = known & (play != self.play)
        moved = np.where(counts, geo - self.rest, 0.0)
        self.has, self.play = has, play
        self.rest = np.where(counts | ~known, geo, self.rest)
        return moved


def bucket_excess(
    valid: npt.NDArray[np.bool_], means: F64, ref: int, g: F64
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(shares a recent bucket with the reference, excess over the predicted music in
    dB (bands, BANDS)): the mean of the middle half of the last seconds' 500 ms
    buckets (_midmean), so a break or a drop that one band's reports straddle
    differently from the reference's moves nothing."""
    shared, diff = _against(valid, means, ref, BANDS)
    d = np.where(shared[:, :, None], diff - g[:, None, :], np.nan)
    have = np.asarray(shared.any(axis=1))
    return have, np.where(have[:, None], _midmean(d), 0.0)


def residual(levels_db: F64, music_db: F64, have: npt.NDArray[np.bool_]) -> Residual:
    """What the music does not explain, per band and sub-band, from the levels the
    bands heard and the music's predicted level at each band (both in dB)."""
    d = levels_db - music_db
    excess = fastmath.power_of_db(np.clip(d, -60.0, 60.0)) - 1.0
    power = np.where(have[:, None], np.maximum(excess, FLOOR_POWER), FLOOR_POWER)
    cmr = fastmath.db_of_power(power)
    return Residual(have, cmr, music_db + cmr, power)
