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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
# sub-bands compared with the reference: A-weighted, voice band, mid band, top band
# (indexes into the aggregator's level columns laeq, voice, mid, low, top, tonal)
BANDS = (0, 1, 2, 4)
CMR_FLOOR_DB = -30.0


@dataclass
class Residual:
    have: npt.NDArray[np.bool_]  # a prediction of the music exists for the band
    cmr_db: F64  # (bands, len(BANDS)): what is left over against the music, dB
    excess_db: F64  # (bands, len(BANDS)): the level of what is left over, dB


def pick(
    valid: npt.NDArray[np.bool_], is_reference: npt.NDArray[np.bool_], active: npt.NDArray[np.bool_]
) -> int | None:
    """The reference to use: the active one with the most history, or None."""
    live = np.flatnonzero(is_reference & active)
    if len(live) == 0:
        return None
    return int(live[np.argmax(valid[live].sum(axis=1))])


def coupling(
    valid: npt.NDArray[np.bool_], means: F64, ref: int
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(has a coupling, g (bands, BANDS) in dB) from the coarse buckets shared with
    the reference.  Level codes are 0.5 dB steps."""
    shared = valid & valid[ref][None, :]
    diff = means[:, :, BANDS] - means[ref][None, :, BANDS]
    g = np.where(shared[:, :, None], diff, np.inf).min(axis=1) * 0.5
    has = shared.any(axis=1)
    return has, np.where(has[:, None], g, 0.0)


class RiseLimit:
    """A slowly rising floor under a windowed level, kept from tick to tick:
    minimum statistics with a bounded rise (after Martin, IEEE TSAP 2001, for
    noise floors).  It may fall at once with its window, since a crowd can only
    add power; it may rise only `rise_db_per_min`.  Used for each band's
    coupling to the reference, which is geometry (a wearer walking nearer the
    PA), and for its own baseline without one, which is the music's level: in
    both, a crowd that cheers for longer than the window would otherwise become
    part of the "music" and fade from the score.  A band followed for less than
    `settle_ms` simply takes its window (the window is still filling)."""

    def __init__(self, rise_db_per_min: float, settle_ms: int = 0) -> None:
        self.rise_db_per_s = rise_db_per_min / 60.0
        self.settle_ms = settle_ms
        self.value: F64 | None = None
        self.since_ms: npt.NDArray[np.int64] | None = None
        self.key: int | None = None
        self.at_ms = 0

    def update(
        self, has: npt.NDArray[np.bool_], window: F64, now_ms: int, key: int | None = None
    ) -> F64:
        """The floor (bands, columns) in dB from this tick's window; a new key (another
        reference band) starts again from the window."""
        if (
            self.value is None
            or self.since_ms is None
            or self.value.shape != window.shape
            or key != self.key
        ):
            self.value, self.key, self.at_ms = window.copy(), key, now_ms
            self.since_ms = np.where(has, now_ms, np.iinfo(np.int64).max)
            return self.value
        dt_s = max(0, now_ms - self.at_ms) / 1000.0
        self.at_ms = max(self.at_ms, now_ms)
        # a band seen for the first time, or again after it went away, starts afresh
        self.since_ms = np.where(has, np.minimum(self.since_ms, now_ms), np.iinfo(np.int64).max)
        capped = np.minimum(window, self.value + self.rise_db_per_s * dt_s)
        settled = has & (self.since_ms < now_ms) & (now_ms - self.since_ms >= self.settle_ms)
        self.value = np.where(settled[:, None], capped, window)
        return self.value


def bucket_excess(
    valid: npt.NDArray[np.bool_], means: F64, ref: int, g: F64
) -> tuple[npt.NDArray[np.bool_], F64]:
    """(shares a recent bucket with the reference, excess over the predicted music in
    dB (bands, BANDS)): the median over the last seconds' 500 ms buckets, so a
    break or a drop that one band's reports straddle differently from the
    reference's moves nothing."""
    shared = valid & valid[ref][None, :]
    d = (means[:, :, BANDS] - means[ref][None, :, BANDS]) * 0.5 - g[:, None, :]
    d = np.where(shared[:, :, None], d, np.nan)
    have = shared.any(axis=1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(d, axis=1)
    return have, np.where(have[:, None], med, 0.0)


def residual(levels_db: F64, music_db: F64, have: npt.NDArray[np.bool_]) -> Residual:
    """What the music does not explain, per band and sub-band, from the levels the
    bands heard and the music's predicted level at each band (both in dB)."""
    d = levels_db - music_db
    excess = np.power(10.0, np.clip(d, -60.0, 60.0) / 10.0) - 1.0
    cmr = 10.0 * np.log10(np.maximum(excess, 10 ** (CMR_FLOOR_DB / 10)))
    cmr = np.where(have[:, None], cmr, CMR_FLOOR_DB)
    return Residual(have, cmr, music_db + cmr)
