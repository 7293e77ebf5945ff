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
# motion*dur, motion_dur, voice*dur, muted reports, lafmax*dur
F_N, F_DUR, F_CLAPS, F_APP, F_VEXC, F_LAEQ, F_ONSET, F_MOT, F_MOTDUR, F_VOICE, F_MUTED, F_LAFMAX = range(12)
N_F = 12
# coarse sums: dur, laeq*dur, onset*dur, voice*dur
C_DUR, C_LAEQ, C_ONSET, C_VOICE = range(4)
N_C = 4
_FLAG_MUTED = 0x01
_MOTION_ABSENT = 255


@numba.njit(nogil=True, cache=True)
def _add(rec: np.ndarray, fine_bn: np.ndarray, fine: np.ndarray, coarse_bn: np.ndarray,
         coarse: np.ndarray, seen: np.ndarray, seen_pos: np.ndarray, last_ms: np.ndarray) -> int:
    added = 0
    for i in range(rec.shape[0]):
        b = rec[i]["band"]
        s = rec[i]["seq"]
        dup = False
        for j in range(seen.shape[1]):
            if seen[b, j] == s:
                dup = True
                break
        if dup:
            continue
        seen[b, seen_pos[b]] = s
        seen_pos[b] = (seen_pos[b] + 1) % seen.shape[1]
        t = rec[i]["arrival_ms"]
        if t > last_ms[b]:
            last_ms[b] = t
        bn = t // FINE_MS
        k = bn % fine_bn.shape[1]
        if fine_bn[b, k] != bn:
            fine_bn[b, k] = bn
            fine[b, k, :] = 0
        f = fine[b, k]
        f[0] += 1
        if rec[i]["flags"] & _FLAG_MUTED:
            f[10] += 1
            added += 1
            continue
        d = np.int64(rec[i]["interval_ms"])
        f[1] += d
        f[2] += rec[i]["claps"]
        f[3] += rec[i]["applause"] * d
        f[4] += rec[i]["vexc"] * d
        f[5] += rec[i]["laeq"] * d
        f[6] += rec[i]["onset"] * d
        if rec[i]["motion"] != _MOTION_ABSENT:
            f[7] += rec[i]["motion"] * d
            f[8] += d
        f[9] += rec[i]["voice"] * d
        f[11] += rec[i]["lafmax"] * d
        cb = t // COARSE_MS
        ck = cb % coarse_bn.shape[1]
        if coarse_bn[b, ck] != cb:
            coarse_bn[b, ck] = cb
            coarse[b, ck, :] = 0
        c = coarse[b, ck]
        c[0] += d
        c[1] += rec[i]["laeq"] * d
        c[2] += rec[i]["onset"] * d
        c[3] += rec[i]["voice"] * d
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
        self.fine = np.zeros((bands, N_FINE, N_F), dtype=np.int64)
        self.coarse_bn = np.full((bands, N_COARSE), -1, dtype=np.int64)
        self.coarse = np.zeros((bands, N_COARSE, N_C), dtype=np.int64)
        self.seen = np.full((bands, SEEN), -1, dtype=np.int64)
        self.seen_pos = np.zeros(bands, dtype=np.int64)
        self.last_ms = np.full(bands, -(10**12), dtype=np.int64)
        self.recent = np.zeros((bands, N_F), dtype=np.int64)
        self.base = np.zeros((bands, N_C), dtype=np.int64)
        self._base_at = -(10**15)

    def add(self, records: npt.NDArray[np.void]) -> int:
        """Fold accepted records in; returns how many were new."""
        if len(records) == 0:
            return 0
        return int(_add(records, self.fine_bn, self.fine, self.coarse_bn, self.coarse,
                        self.seen, self.seen_pos, self.last_ms))

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
