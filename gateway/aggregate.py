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

from wristband import packet as P

FINE_MS = 500
N_FINE = 8
COARSE_MS = 15_000
N_COARSE = 16
SEEN = 16  # (band, seq) remembered per band for de-duplication

# Accepted report records: what a worker shares with the others.
RECORD = np.dtype([("band", "<i4"), ("seq", "<u2"), ("flags", "u1"), ("claps", "u1"),
                   ("arrival_ms", "<i8"), ("interval_ms", "<u2"), ("laeq", "u1"),
                   ("lafmax", "u1"), ("applause", "u1"), ("voice", "u1"), ("vexc", "u1"),
                   ("onset", "u1"), ("motion", "u1"), ("pad", "u1")])

# fine sums: n, dur, claps, applause*dur, vexc*dur, laeq*dur, onset*dur,
# motion*dur, motion_dur, voice*dur, muted reports, lafmax*dur, reports sent at once (a
# reaction's onset: off the advertising schedule, gateway/delivery.py)
F_N, F_DUR, F_CLAPS, F_APP, F_VEXC, F_LAEQ, F_ONSET, F_MOT, F_MOTDUR, F_VOICE, F_MUTED, F_LAFMAX, F_EVENT = range(13)
N_F = 13
# coarse sums: dur, laeq*dur, onset*dur, voice*dur
C_DUR, C_LAEQ, C_ONSET, C_VOICE = range(4)
N_C = 4
_FLAG_MUTED = 0x01
_FLAG_EVENT = 0x02
_CODE_COLUMNS = ("laeq", "lafmax", "claps", "applause", "voice", "vexc", "onset", "motion", "flags")
_MOTION_ABSENT = 255


@numba.njit(nogil=True, cache=True, inline="always")
def _put(b: int, t: int, sign: int, d: int, c: np.ndarray, fine_bn: np.ndarray, fine: np.ndarray,
         coarse_bn: np.ndarray, coarse: np.ndarray) -> None:
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
    fine[b, k, 0] += sign
    if c[8] & _FLAG_EVENT:
        fine[b, k, 12] += sign
    if c[8] & _FLAG_MUTED:
        fine[b, k, 10] += sign
        return
    sd = sign * d
    laeq, onset, voice = c[0] * sd, c[6] * sd, c[4] * sd
    fine[b, k, 1] += sd
    fine[b, k, 2] += sign * c[2]
    fine[b, k, 3] += c[3] * sd
    fine[b, k, 4] += c[5] * sd
    fine[b, k, 5] += laeq
    fine[b, k, 6] += onset
    if c[7] != _MOTION_ABSENT:
        fine[b, k, 7] += c[7] * sd
        fine[b, k, 8] += sd
    fine[b, k, 9] += voice
    fine[b, k, 11] += c[1] * sd
    cb = t // COARSE_MS
    ck = cb % coarse_bn.shape[1]
    if coarse_bn[b, ck] != cb:
        if sign < 0 or coarse_bn[b, ck] > cb:
            return
        coarse_bn[b, ck] = cb
        for f in range(coarse.shape[2]):
            coarse[b, ck, f] = 0
    coarse[b, ck, 0] += sd
    coarse[b, ck, 1] += laeq
    coarse[b, ck, 2] += onset
    coarse[b, ck, 3] += voice


@numba.njit(nogil=True, cache=True)
def _add(band: np.ndarray, seq: np.ndarray, arrival: np.ndarray, interval: np.ndarray,
         codes: np.ndarray, fine_bn: np.ndarray, fine: np.ndarray, coarse_bn: np.ndarray,
         coarse: np.ndarray, seen: np.ndarray, seen_t: np.ndarray, seen_pos: np.ndarray,
         last_ms: np.ndarray) -> int:
    """codes columns: laeq, lafmax, claps, applause, voice, vexc, onset, motion, flags.

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
        added += 1
    return added


@numba.njit(nogil=True, cache=True)
def _sum_window(now_ms: int, width_ms: int, bn: np.ndarray, sums: np.ndarray, out: np.ndarray) -> None:
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
        if warm:
            records = records[:0]
        elif len(records) == 0:
            return 0
        # in band order the per-band rows are visited forwards, not at random; a
        # stable sort keeps each band's own reports in arrival order
        band = records["band"].astype(np.int64)
        o = np.argsort(band, kind="stable")
        codes = np.stack([records[n][o] for n in _CODE_COLUMNS], axis=1)
        return int(_add(band[o], records["seq"][o].astype(np.int32), records["arrival_ms"][o],
                        records["interval_ms"][o].astype(np.int64), codes, self.fine_bn, self.fine,
                        self.coarse_bn, self.coarse, self.seen, self.seen_t, self.seen_pos,
                        self.last_ms))

    def window(self, now_ms: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(recent sums per band over 4 s, baseline sums per band over 4 min).

        The baseline moves slowly, so it is summed at most once a second."""
        _sum_window(now_ms, FINE_MS, self.fine_bn, self.fine, self.recent)
        if abs(now_ms - self._base_at) >= 1000:
            _sum_window(now_ms, COARSE_MS, self.coarse_bn, self.coarse, self.base)
            self._base_at = now_ms
        return self.recent, self.base


def records(band: npt.NDArray[np.int64], reps: object, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.void]:
    """Accepted-report records from a validated batch (gateway.batch.Reports)."""
    from crowdpulse.gateway.batch import Reports

    assert isinstance(reps, Reports)
    raw = reps.raw[mask]
    out = np.zeros(int(mask.sum()), dtype=RECORD)
    out["band"] = band[mask]
    out["seq"] = reps.seq[mask]
    out["arrival_ms"] = reps.arrival_ms[mask]
    out["interval_ms"] = reps.interval_ms[mask]
    for name, field in _CODES:
        out[name] = raw[:, _OFFSET[field]]
    return out


# record column <- report field (codes, as the band sent them)
_OFFSET = {name: offset for name, offset, _code in P.FIELDS}
_CODES = (("laeq", "laeq"), ("lafmax", "lafmax"), ("claps", "claps"), ("applause", "applause"),
          ("voice", "voice"), ("vexc", "voice_excess"), ("onset", "onset_rate"),
          ("motion", "motion"), ("flags", "flags"))
