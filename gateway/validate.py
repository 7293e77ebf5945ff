"""Which reports the gateway believes: format, identity, tag, freshness, order, rate.

Every rejection is counted by reason, never raised.  Per-band state lives in
numpy arrays indexed by band; the per-report loop is numba-compiled, so no
Python object is made per report.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.batch import Reason, Reports
from crowdpulse.gateway.registry import Registry
from wristband import packet

REASONS = ("format", "unknown_id", "bad_tag", "stale", "duplicate", "replay", "rate")
_FORMAT, _UNKNOWN, _BAD_TAG, _STALE, _DUP, _REPLAY, _RATE = range(7)
TAG_SIZE = packet.TAG_SIZE
BODY_SIZE = packet.BODY_SIZE


@numba.njit(nogil=True, cache=True)
def _sequence_checks(
    band: np.ndarray,
    seq: np.ndarray,
    arrival: np.ndarray,
    interval: np.ndarray,
    pre: np.ndarray,
    last_seq: np.ndarray,
    last_ms: np.ndarray,
    credit: np.ndarray,
    now_ms: int,
    limits: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """pre: -1 = passed format/identity/tag, else the reason index already decided.
    Returns 1 accepted, 2 a duplicate of an accepted report (still handed on, so
    that the earliest arrival can win), 0 refused."""
    max_age, max_ahead, resync, burst = limits[0], limits[1], limits[2], limits[3]
    ok = np.zeros(band.shape[0], dtype=np.int8)
    for i in range(band.shape[0]):
        if pre[i] >= 0:
            counts[pre[i]] += 1
            continue
        b = band[i]
        t = arrival[i]
        if t < now_ms - max_age or t > now_ms + max_ahead:
            counts[_STALE] += 1
            continue
        if last_seq[b] >= 0 and t - last_ms[b] < resync:
            d = (seq[i] - last_seq[b]) & 0xFFFF
            if d == 0:
                counts[_DUP] += 1
                ok[i] = 2
                continue
            if d >= 0x8000:  # behind the last accepted: an old report, replayed
                counts[_REPLAY] += 1
                continue
        # a band may not report more audio than time has passed (plus a burst)
        c = min(credit[b] + max(t - last_ms[b], 0), burst) if last_seq[b] >= 0 else burst
        if interval[i] > c:
            counts[_RATE] += 1
            credit[b] = c
            last_ms[b] = max(last_ms[b], t)
            continue
        credit[b] = c - interval[i]
        last_seq[b] = seq[i]
        last_ms[b] = max(last_ms[b], t)
        ok[i] = 1
    return ok


class Validator:
    def __init__(
        self,
        registry: Registry,
        max_age_ms: int = 10_000,
        max_ahead_ms: int = 2_000,
        resync_ms: int = 10_000,
        burst_ms: int = 3_000,
    ) -> None:
        n = len(registry)
        self.registry = registry
        self.limits = np.array([max_age_ms, max_ahead_ms, resync_ms, burst_ms], dtype=np.int64)
        self.last_seq = np.full(n, -1, dtype=np.int64)
        self.last_ms = np.zeros(n, dtype=np.int64)
        self.credit = np.zeros(n, dtype=np.int64)
        self.rejected = np.zeros(len(REASONS), dtype=np.int64)
        self.accepted = 0

    def _tags(
        self,
        reps: Reports,
        band: npt.NDArray[np.int64],
        id_epoch: npt.NDArray[np.int64],
        epoch: int,
    ) -> npt.NDArray[np.bool_]:
        tags = self.registry.hmac.prefix(reps.raw[:, :BODY_SIZE], band, TAG_SIZE)
        good: npt.NDArray[np.bool_] = np.all(tags == reps.raw[:, BODY_SIZE:], axis=1) & (band >= 0)
        # the rare 32-bit id clash: try the other bands that own this id
        for i in np.flatnonzero(~good & (band >= 0)):
            for cand, cand_epoch in self.registry.candidates(int(reps.onair[i]), epoch):
                tag = self.registry.hmac.prefix(
                    reps.raw[i : i + 1, :BODY_SIZE], np.array([cand]), TAG_SIZE
                )
                if np.array_equal(tag[0], reps.raw[i, BODY_SIZE:]):
                    band[i] = cand
                    id_epoch[i] = cand_epoch
                    good[i] = True
                    break
        return good

    def check(
        self, reps: Reports, now_ms: int
    ) -> tuple[
        npt.NDArray[np.int8], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]:
        """(status: 1 accepted, 2 duplicate, 0 refused; band index; the band's report
        counter; the epoch of its on-air id) for a batch.  Replay and order are judged
        on the counter, which runs on across id epochs, while the seq on air jumps at
        each (packet.seq_offset)."""
        epoch = packet.epoch_of(now_ms // 1000)
        band, id_epoch = self.registry.lookup(reps.onair, epoch)
        fmt_ok = reps.reason == Reason.OK
        band = np.where(fmt_ok, band, -1)
        good_tag = self._tags(reps, band, id_epoch, epoch) if len(reps) else np.zeros(0, bool)
        pre = np.full(len(reps), -1, dtype=np.int64)
        pre[band < 0] = _UNKNOWN
        pre[~fmt_ok] = _FORMAT
        pre[(pre < 0) & ~good_tag] = _BAD_TAG
        counter = self.registry.counters(
            np.where(pre < 0, band, -1), id_epoch, reps.seq.astype(np.int64)
        )
        ok = _sequence_checks(
            band,
            counter,
            reps.arrival_ms,
            reps.interval_ms.astype(np.int64),
            pre,
            self.last_seq,
            self.last_ms,
            self.credit,
            now_ms,
            self.limits,
            self.rejected,
        )
        self.accepted += int((ok == 1).sum())
        return ok, band, counter, id_epoch

    def counts(self) -> dict[str, int]:
        return {r: int(c) for r, c in zip(REASONS, self.rejected, strict=True)}
