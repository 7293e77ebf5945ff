"""The fast path for reactions: the share of reports that flag an onset, over
the last few tens of milliseconds, per zone and for the venue.

The smoothed score (gateway/sentiment.py) is a 4-second window by design, and
in a big venue the radio carries only a few hundred reports a second (BLE is
pure ALOHA; gateway/ratecontrol.py), so it takes seconds to move.  A crowd's
reaction shows much sooner in *which* reports arrive: when a crowd reacts,
each band flags its onset report (FLAG_EVENT) and puts it on the air in a
random slot of one advertising interval (wristband.schedule.event_delay_ms),
so every advert heard after the onset carries the flag.  The detector asks,
after every batch, whether the flagged reports of the last 20, 40 or 80 ms
are more than the zone's background share of flagged reports can explain:
a binomial tail below ALPHA, at least MIN_EVENTS flagged reports, and a
flagged share at least MIN_JUMP above the background.  The
background share is the zone's own over the few seconds before (a crowd that
warms up flags more and more onsets), with a small prior.  Reports through
relays and reports straight from bands are tested apart: a BLE band gets one
advert through in many reports, so the two carry flagged reports at very
different shares.

A detected reaction is published at once (loops.py: its own retained topic,
OSC /reaction, and an immediate tick whose snapshot carries it).  It does not
move the published score.  Measured on the real-recording nights
(docs/sentiment.md), lifting the score by it made music alone read up to 67:
the programme's own onsets (a drop, a clap sample) flag every band at once,
just as a crowd does, and with no reference nothing tells them apart.  With a
music reference live, a reaction that starts within MUSIC_WINDOW_MS of an
onset the reference flags is the programme's and is dropped; but the
reference's trigger and the bands' do not always fire on the same beat, and a
real crowd cheers at the drop, so that veto cannot make a lift truthful
either.  The score stays the model's; the reaction is the fast signal beside
it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import bdtrc

from wristband import packet

BUCKET_MS = 5
N_BUCKETS = 32  # 160 ms of history
WINDOWS_MS = (20, 40, 80)
MIN_EVENTS = 4
MIN_JUMP = 0.4  # the flagged share must rise this much: a crowd, not a few people, reacts
ALPHA = 1e-8  # per test; tests run after every batch (docs/benchmarks.md: false reactions per hour)
PRIOR_SHARE = 0.02  # flagged share assumed before a zone's background is learned
PRIOR_REPORTS = 200.0
MIN_BACKGROUND = 100  # reports in the background window before a stream is tested at all
BG_BUCKET_MS = 100
BG_BUCKETS = 50  # the background: the last 5 s...
BG_SKIP = 2  # ...but the newest 200 ms, where a reaction would be
HOLD_MS = 1500  # a reaction stays active this long after its last detection
# the music reference flagged an onset this close to it: the programme's own (a drop,
# a clap sample), heard by every band at once, and not the crowd's (docs/reactions.md)
MUSIC_WINDOW_MS = 1500


@dataclass
class Reaction:
    """One row (a zone, or the venue) while it reacts."""

    since_ms: int
    last_ms: int
    share: float  # flagged share in the window that fired
    strength: float  # that share above the background, 0-1


class Detector:
    def __init__(self, zone_of: npt.NDArray[np.int32], zones: list[str]) -> None:
        self.zones = zones
        self.rows = len(zones) + 1  # the zones, then the venue
        # each row twice: reports through relays (BLE) and straight from bands
        # (WiFi) are tested apart, since they carry flagged reports at very
        # different shares (a BLE band gets one advert through in many reports)
        self.streams = 2 * self.rows
        self.zone_of = zone_of
        self.bn = np.full((self.streams, N_BUCKETS), -1, np.int64)
        self.all = np.zeros((self.streams, N_BUCKETS), np.int64)
        self.ev = np.zeros((self.streams, N_BUCKETS), np.int64)
        self.newest = np.full(self.streams, -1, np.int64)
        self.bg_bn = np.full((self.streams, BG_BUCKETS), -1, np.int64)
        self.bg_all = np.zeros((self.streams, BG_BUCKETS), np.int64)
        self.bg_ev = np.zeros((self.streams, BG_BUCKETS), np.int64)
        self.active: dict[int, Reaction] = {}
        self.detections = 0
        self.music_ms = -(1 << 62)  # the reference's latest onset
        self._windows = np.array([w // BUCKET_MS for w in WINDOWS_MS])

    # -- intake ----------------------------------------------------------------
    def update(self, records: npt.NDArray[np.void], now_ms: int, direct: bool = False) -> list[int]:
        """Accepted report records (gateway.aggregate.RECORD) in, from relays or
        (direct) from bands themselves; the rows that started reacting with them
        out (a row index of len(zones) is the venue)."""
        if len(records) == 0:
            return []
        flags = records["flags"]
        keep = (flags & packet.FLAG_MUTED) == 0  # heartbeats carry no sound
        if not keep.all():
            records, flags = records[keep], flags[keep]
            if len(records) == 0:
                return []
        base = self.rows if direct else 0
        zone = self.zone_of[records["band"]].astype(np.int64)
        ev = (flags & packet.FLAG_EVENT) != 0
        row = base + np.concatenate([zone, np.full(len(zone), self.rows - 1)])
        arrival = np.concatenate([records["arrival_ms"], records["arrival_ms"]])
        ev2 = np.concatenate([ev, ev])
        _ring_add(self.bg_bn, self.bg_all, self.bg_ev, row, arrival // BG_BUCKET_MS, ev2)
        bucket = arrival // BUCKET_MS
        _ring_add(self.bn, self.all, self.ev, row, bucket, ev2)
        np.maximum.at(self.newest, row, bucket)
        if not ev.any():
            return []
        streams = base + np.unique(np.concatenate([zone[ev], [self.rows - 1]]))
        return self._test(streams, now_ms)

    def _background_share(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        newest = self.newest[rows, None] * BUCKET_MS // BG_BUCKET_MS
        age = newest - self.bg_bn[rows]
        use = (age >= BG_SKIP) & (age < BG_BUCKETS)
        n = (self.bg_all[rows] * use).sum(axis=1)
        e = (self.bg_ev[rows] * use).sum(axis=1)
        # too little background yet (a stream just starting): no reaction can be told from it
        return np.where(
            n >= MIN_BACKGROUND, (e + PRIOR_SHARE * PRIOR_REPORTS) / (n + PRIOR_REPORTS), 1.0
        )

    def _test(self, rows: npt.NDArray[np.int64], now_ms: int) -> list[int]:
        """rows: the streams that got flagged reports; returns the rows that started."""
        age = self.newest[rows, None] - self.bn[rows]  # buckets behind each row's newest
        inside = (age[:, None, :] >= 0) & (age[:, None, :] < self._windows[None, :, None])
        n = (self.all[rows, None, :] * inside).sum(axis=2)
        x = (self.ev[rows, None, :] * inside).sum(axis=2)
        p0 = self._background_share(rows)
        tail = bdtrc(np.maximum(x - 1, 0), n, p0[:, None])  # P(X >= x) under the background
        jump = x / np.maximum(n, 1) - p0[:, None]
        hit = (x >= MIN_EVENTS) & (tail < ALPHA) & (jump >= MIN_JUMP)
        started = []
        for i in np.flatnonzero(hit.any(axis=1)):
            r = int(rows[i]) % self.rows
            w = int(np.argmax(hit[i]))
            share = float(x[i, w] / n[i, w])
            strength = max(0.0, (share - float(p0[i])) / (1.0 - float(p0[i])))
            cur = self.active.get(r)
            if abs(now_ms - self.music_ms) <= MUSIC_WINDOW_MS:
                continue  # the music's onset, not the crowd's
            if cur is None or now_ms - cur.last_ms > HOLD_MS:
                self.active[r] = Reaction(now_ms, now_ms, share, strength)
                self.detections += 1
                started.append(r)
            else:
                cur.last_ms = now_ms
                cur.share, cur.strength = max(cur.share, share), max(cur.strength, strength)
        return started

    def music_onset(self, at_ms: int) -> None:
        """The music reference flagged an onset: reactions that started around it were
        the programme's, and end now."""
        self.music_ms = max(self.music_ms, at_ms)
        for r in [r for r, a in self.active.items() if abs(a.since_ms - at_ms) <= MUSIC_WINDOW_MS]:
            del self.active[r]

    # -- out -------------------------------------------------------------------------
    def expire(self, now_ms: int) -> bool:
        """Ends reactions not seen for HOLD_MS; True if any ended."""
        over = [r for r, a in self.active.items() if now_ms - a.last_ms > HOLD_MS]
        for r in over:
            del self.active[r]
        return bool(over)

    def state(self, now_ms: int) -> dict[str, Any]:
        """What the retained reaction topic and the snapshot carry."""
        venue = self.active.get(self.rows - 1)
        return {
            "t": now_ms,
            "active": venue is not None or any(r < self.rows - 1 for r in self.active),
            "since": venue.since_ms if venue else None,
            "share": round(venue.share, 3) if venue else None,
            "zones": [self._row(i, name) for i, name in enumerate(self.zones)],
        }

    def _row(self, r: int, name: str) -> dict[str, Any]:
        a = self.active.get(r)
        return {
            "zone": name,
            "active": a is not None,
            "since": a.since_ms if a else None,
            "share": round(a.share, 3) if a else None,
        }


def _ring_add(
    bn: npt.NDArray[np.int64],
    total: npt.NDArray[np.int64],
    flagged: npt.NDArray[np.int64],
    row: npt.NDArray[np.int64],
    bucket: npt.NDArray[np.int64],
    ev: npt.NDArray[np.bool_],
) -> None:
    """Count reports into per-row rings of time buckets; a slot holding an older
    bucket starts afresh, and reports older than the ring are left out."""
    k = bucket % bn.shape[1]
    before = bn[row, k]
    np.maximum.at(bn, (row, k), bucket)  # each slot takes its newest bucket
    moved = bn[row, k] != before
    total[row[moved], k[moved]] = 0
    flagged[row[moved], k[moved]] = 0
    live = bn[row, k] == bucket
    np.add.at(total, (row[live], k[live]), 1)
    np.add.at(flagged, (row[live], k[live]), ev[live].astype(np.int64))
