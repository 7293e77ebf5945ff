"""Each band's recent reports, as integer sums in time buckets.

Sums are commutative: two gateway workers that each saw part of the traffic
can exchange their accepted reports and end with the same state in any order
(a (band, seq) seen twice counts once).  Two rings per band:
- fine: 500 ms buckets over the last 4 s: what the band hears now;
- coarse: 15 s buckets over the last 4 min: the band's own baseline.
Buckets are keyed by the relay's arrival time, not the gateway's clock.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.batch import Reports, nibble
from crowdpulse.reportcodec import REPORT_DTYPE

FINE_MS = 500
N_FINE = 8
COARSE_MS = 15_000
N_COARSE = 16
SEEN = 16  # (band, seq) remembered per band for de-duplication

# Accepted report records: what a worker shares with the others.  seq is the
# band's counter (the on-air seq less the epoch's offset), so it runs across epochs.
RECORD = np.dtype(
    [
        ("band", "<i4"),
        ("seq", "<u2"),
        ("flags", "u1"),
        ("claps", "u1"),
        ("arrival_ms", "<i8"),
        ("interval_ms", "<u2"),
        ("laeq", "u1"),
        ("voice", "u1"),
        ("mid", "u1"),
        ("low", "u1"),
        ("top", "u1"),
        ("tonal", "u1"),
        ("fluct", "u1"),
        ("motion", "u1"),
        ("imu_claps", "u1"),
        ("pad", "u1"),
    ]
)

# fine sums: reports, audio ms, muted reports, claps, IMU claps, then code * ms
# for each level and texture field, motion * ms and the ms that carried motion
(
    F_N,
    F_DUR,
    F_MUTED,
    F_CLAPS,
    F_IMUCLAPS,
    F_LAEQ,
    F_VOICE,
    F_MID,
    F_LOW,
    F_TOP,
    F_TONAL,
    F_FLUCT,
    F_MOT,
    F_MOTDUR,
) = range(14)
N_F = 14
# coarse sums: audio ms, then code * ms of the levels, the tonal share and the
# fluctuation, then claps heard (a band's usual rate: a drum machine's claps)
C_DUR, C_LAEQ, C_VOICE, C_MID, C_LOW, C_TOP, C_TONAL, C_FLUCT, C_CLAPS = range(9)
N_C = 9
_FLAG_MUTED = 0x01
# record columns, in the order _put reads them
_CODE_COLUMNS = (
    "laeq",
    "voice",
    "mid",
    "low",
    "top",
    "tonal",
    "fluct",
    "motion",
    "claps",
    "imu_claps",
    "flags",
)
_K_LEVELS = 7  # laeq..fluct go to the coarse ring too
_K_MOTION, _K_CLAPS, _K_IMU, _K_FLAGS = 7, 8, 9, 10
_MOTION_ABSENT = 255


@numba.njit(nogil=True, cache=True, inline="always")
def _put(  # noqa: C901 - a numba kernel on the per-report path: one compiled body
    b: int,
    t: int,
    sign: int,
    d: int,
    c: np.ndarray,
    fine_bn: np.ndarray,
    fine: np.ndarray,
    coarse_bn: np.ndarray,
    coarse: np.ndarray,
) -> None:
    """Add (sign=1) or take back (sign=-1) one report's share of band b's buckets.

    Taking back only touches buckets that still hold the time t; adding opens
    the bucket when its ring slot holds an older one."""
    bn = t // FINE_MS
    k = bn % fine_bn.shape[1]
    if fine_bn[b, k] != bn:
        if sign < 0 or fine_bn[b, k] > bn:
            return
        fine_bn[b, k] = bn
        for f in range(fine.shape[2]):
            fine[b, k, f] = 0
    fine[b, k, F_N] += sign
    if c[_K_FLAGS] & _FLAG_MUTED:
        fine[b, k, F_MUTED] += sign
        return
    sd = sign * d
    fine[b, k, F_DUR] += sd
    fine[b, k, F_CLAPS] += sign * c[_K_CLAPS]
    fine[b, k, F_IMUCLAPS] += sign * c[_K_IMU]
    for j in range(7):  # laeq, voice, mid, low, top, tonal, fluct
        fine[b, k, F_LAEQ + j] += c[j] * sd
    if c[_K_MOTION] != _MOTION_ABSENT:
        fine[b, k, F_MOT] += c[_K_MOTION] * sd
        fine[b, k, F_MOTDUR] += sd
    cb = t // COARSE_MS
    ck = cb % coarse_bn.shape[1]
    if coarse_bn[b, ck] != cb:
        if sign < 0 or coarse_bn[b, ck] > cb:
            return
        coarse_bn[b, ck] = cb
        for f in range(coarse.shape[2]):
            coarse[b, ck, f] = 0
    coarse[b, ck, C_DUR] += sd
    for j in range(_K_LEVELS):
        coarse[b, ck, C_LAEQ + j] += c[j] * sd
    coarse[b, ck, C_CLAPS] += sign * c[_K_CLAPS]


@numba.njit(nogil=True, cache=True)
def _add(
    band: np.ndarray,
    seq: np.ndarray,
    arrival: np.ndarray,
    interval: np.ndarray,
    codes: np.ndarray,
    fine_bn: np.ndarray,
    fine: np.ndarray,
    coarse_bn: np.ndarray,
    coarse: np.ndarray,
    seen: np.ndarray,
    seen_t: np.ndarray,
    seen_pos: np.ndarray,
    last_ms: np.ndarray,
    fresh: np.ndarray,
) -> int:
    """codes columns: _CODE_COLUMNS; fresh[i] is set for a record seen first here.

    A (band, seq) counts once, at its earliest arrival (two relays hear the
    same advert a few ms apart): so the state does not depend on the order in
    which copies come in, which is what lets workers merge."""
    added = 0
    nseen = seen.shape[1]
    for i in range(band.shape[0]):
        b = band[i]
        t = arrival[i]
        j = 0
        while j < nseen and seen[b, j] != seq[i]:
            j += 1
        if j < nseen:
            if t < seen_t[b, j]:
                _put(b, seen_t[b, j], -1, interval[i], codes[i], fine_bn, fine, coarse_bn, coarse)
                _put(b, t, 1, interval[i], codes[i], fine_bn, fine, coarse_bn, coarse)
                seen_t[b, j] = t
            continue
        p = seen_pos[b]
        seen[b, p] = seq[i]
        seen_t[b, p] = t
        seen_pos[b] = (p + 1) % nseen
        if t > last_ms[b]:
            last_ms[b] = t
        _put(b, t, 1, interval[i], codes[i], fine_bn, fine, coarse_bn, coarse)
        fresh[i] = True
        added += 1
    return added


@numba.njit(nogil=True, cache=True)
def _sum_window(
    now_ms: int, width_ms: int, bn: np.ndarray, sums: np.ndarray, out: np.ndarray
) -> None:
    """out[b] = sum of band b's buckets that fall in the window ending at now_ms."""
    nb, nslot, nf = sums.shape
    cur = now_ms // width_ms
    for b in range(nb):
        for f in range(nf):
            out[b, f] = 0
        for k in range(nslot):
            age = cur - bn[b, k]
            if 0 <= age < nslot:
                for f in range(nf):
                    out[b, f] += sums[b, k, f]


class Aggregator:
    def __init__(self, bands: int) -> None:
        self.fine_bn = np.full((bands, N_FINE), -1, dtype=np.int64)
        # int32 is enough: every sum is bounded by the audio time the rate check lets in
        self.fine = np.zeros((bands, N_FINE, N_F), dtype=np.int32)
        self.coarse_bn = np.full((bands, N_COARSE), -1, dtype=np.int64)
        self.coarse = np.zeros((bands, N_COARSE, N_C), dtype=np.int32)
        self.seen = np.full((bands, SEEN), -1, dtype=np.int32)
        self.seen_t = np.zeros((bands, SEEN), dtype=np.int64)
        self.seen_pos = np.zeros(bands, dtype=np.int64)
        self.last_ms = np.full(bands, -(10**12), dtype=np.int64)
        self.recent = np.zeros((bands, N_F), dtype=np.int64)
        self.base = np.zeros((bands, N_C), dtype=np.int64)
        self._base_at = -(10**15)

    def add(self, records: npt.NDArray[np.void], warm: bool = False) -> int:
        """Fold accepted records in; returns how many were new.  warm: compile only."""
        return int(self.add_fresh(records[:0] if warm else records).sum())

    def add_fresh(self, records: npt.NDArray[np.void]) -> npt.NDArray[np.bool_]:
        """Fold accepted records in; True for each one whose (band, seq) is new here
        (not a copy of a report another relay passed on first)."""
        fresh = np.zeros(len(records), np.bool_)
        # in band order the per-band rows are visited forwards, not at random; a
        # stable sort keeps each band's own reports in arrival order
        band = records["band"].astype(np.int64)
        o = np.argsort(band, kind="stable")
        codes = np.stack([records[n][o] for n in _CODE_COLUMNS], axis=1)
        into = np.zeros(len(records), np.bool_)
        _add(
            band[o],
            records["seq"][o].astype(np.int32),
            records["arrival_ms"][o],
            records["interval_ms"][o].astype(np.int64),
            codes,
            self.fine_bn,
            self.fine,
            self.coarse_bn,
            self.coarse,
            self.seen,
            self.seen_t,
            self.seen_pos,
            self.last_ms,
            into,
        )
        fresh[o] = into
        return fresh

    def window(self, now_ms: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(recent sums per band over 4 s, baseline sums per band over 4 min).

        The baseline moves slowly, so it is summed at most once a second."""
        _sum_window(now_ms, FINE_MS, self.fine_bn, self.fine, self.recent)
        if abs(now_ms - self._base_at) >= 1000:
            _sum_window(now_ms, COARSE_MS, self.coarse_bn, self.coarse, self.base)
            self._base_at = now_ms
        return self.recent, self.base

    def slot_levels(self, now_ms: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Each band's coarse buckets one by one: (valid (bands, slots), mean codes of
        laeq, voice, mid, low, top, tonal, fluct (bands, slots, 7)).  A slot holds the same
        15 s for every band, so bands can be compared bucket by bucket."""
        return _slots(now_ms // COARSE_MS, self.coarse_bn, self.coarse, C_DUR, C_LAEQ, N_COARSE)

    def filling(self, now_ms: int) -> npt.NDArray[np.bool_]:
        """(bands, slots): the coarse slots that hold the bucket still being filled."""
        return np.asarray(self.coarse_bn == now_ms // COARSE_MS)

    def bucket_levels(self, now_ms: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """The same for the fine buckets of the last 4 s: (valid (bands, 8), mean codes
        of laeq .. fluct (bands, 8, 7))."""
        return _slots(now_ms // FINE_MS, self.fine_bn, self.fine, F_DUR, F_LAEQ, N_FINE)


def _slots(
    now_bn: int,
    bn: npt.NDArray[np.int64],
    sums: npt.NDArray[np.int32],
    dur_col: int,
    first: int,
    n: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    age = now_bn - bn
    dur = sums[:, :, dur_col].astype(np.float64)
    valid = (age >= 0) & (age < n) & (dur > 0)
    means = sums[:, :, first : first + 7] / np.where(valid, dur, 1.0)[:, :, None]
    return valid, means


def records(
    band: npt.NDArray[np.int64],
    counter: npt.NDArray[np.int64],
    clear: npt.NDArray[np.uint8],
    reps: Reports,
    mask: npt.NDArray[np.bool_],
) -> npt.NDArray[np.void]:
    """Accepted-report records from a validated batch (gateway.batch.Reports);
    clear holds its report rows with the masked fields read (Registry.unmask)."""
    rows = np.ascontiguousarray(clear[mask]).view(REPORT_DTYPE).reshape(-1)
    out = np.zeros(int(mask.sum()), dtype=RECORD)
    out["band"] = band[mask]
    out["seq"] = counter[mask]
    out["arrival_ms"] = reps.arrival_ms[mask]
    out["interval_ms"] = reps.interval_ms[mask]
    for name in ("laeq", "voice", "mid", "low", "top", "tonal", "fluct", "motion"):
        out[name] = rows[name]
    out["claps"] = nibble(rows, "audio_claps")
    out["imu_claps"] = nibble(rows, "imu_claps")
    out["flags"] = nibble(rows, "flags")
    return out
