"""The gateway's engine, without any I/O: bytes in, sentiment snapshots out.

`crowdpulse gateway` wraps it with MQTT, HTTP and SQLite; `crowdpulse score`
and the tests drive it directly.  Thread-safe: ingest and tick take one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway import (
    aggregate,
    batch,
    darkzones,
    delivery,
    ratecontrol,
    sentiment,
    smoothing,
)
from crowdpulse.gateway.reaction import Detector
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.validate import Validator
from wristband import packet

HISTORY_S = 600
TREND_S = 30.0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class History:
    """Scores at every tick for the last ten minutes (venue first, then zones)."""

    t: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    size: int = 0
    pos: int = 0

    @classmethod
    def create(cls, zones: int, ticks: int) -> History:
        return cls(np.zeros(ticks, np.int64), np.full((ticks, zones + 1), np.nan))

    def push(self, t: int, row: list[float | None]) -> None:
        self.t[self.pos] = t
        self.scores[self.pos] = [np.nan if v is None else v for v in row]
        self.pos = (self.pos + 1) % len(self.t)
        self.size = min(self.size + 1, len(self.t))

    def series(
        self, since_ms: int | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        idx = (np.arange(self.size) + self.pos - self.size) % len(self.t)
        t, s = self.t[idx], self.scores[idx]
        if since_ms is not None:
            keep = t >= since_ms
            t, s = t[keep], s[keep]
        return t, s

    def trend(self, now: int) -> npt.NDArray[np.float64]:
        """Least-squares slope of each column over the last TREND_S, in points per minute."""
        t, s = self.series(now - int(TREND_S * 1000))
        out = np.full(self.scores.shape[1], np.nan)
        for c in range(s.shape[1]):
            ok = ~np.isnan(s[:, c])
            if ok.sum() >= 5 and np.ptp(t[ok]) > 0:
                out[c] = np.polyfit((t[ok] - now) / 60000.0, s[ok, c], 1)[0]
        return out


class Engine:
    def __init__(
        self,
        venue: str,
        registry: Registry,
        model: sentiment.Model | None = None,
        tick_hz: float = 10.0,
    ) -> None:
        self.venue = venue
        self.registry = registry
        self.model = model or sentiment.Model()
        self.floors = sentiment.Floors(self.model)
        self.smoother = smoothing.ScoreSmoother(self.model)
        self.dark = darkzones.DarkZones()
        self.validator = Validator(registry)
        self.agg = aggregate.Aggregator(len(registry))
        # zones that only hold reference bands hear the PA, not a crowd: never scored
        crowd = np.bincount(registry.zone_of[~registry.is_reference], minlength=len(registry.zones))
        refs = np.bincount(registry.zone_of[registry.is_reference], minlength=len(registry.zones))
        self.crowd_zones = [z for z in range(len(registry.zones)) if crowd[z] > 0 or refs[z] == 0]
        self.history = History.create(len(self.crowd_zones), int(HISTORY_S * tick_hz))
        self.lock = threading.Lock()
        self.batches = 0
        self.malformed_batches = 0
        self.last: dict[str, Any] | None = None
        self._trend = np.full(len(registry.zones) + 1, np.nan)
        self._trend_at: int | None = None
        self.adv_ms = ratecontrol.MIN_MS  # what the bands were last told
        self.direct = np.zeros(len(registry), bool)  # bands heard over WiFi (MQTT), not BLE
        self.reactions = Detector(registry.zone_of, registry.zones)
        self.reaction_started = False  # set by ingest, taken by whoever publishes (loops.py)

    def warm(self) -> None:
        """Compile every numba kernel now, not on the first batch while the tick waits."""
        junk = bytes(packet.REPORT_SIZE)
        self.ingest_direct([junk], [now_ms()])
        self.validator.rejected[:] = 0
        with self.lock:
            self.batches = 0
            self.agg.add(np.zeros(1, aggregate.RECORD), warm=True)
        self.tick(record=False)

    # -- ingest ------------------------------------------------------------
    def ingest_batch(
        self, buf: bytes | bytearray, at_ms: int | None = None
    ) -> npt.NDArray[np.void]:
        """A relay batch; returns the accepted records (for sharing with other workers)."""
        try:
            reps = batch.decode_batch(buf)
        except packet.PacketError:
            with self.lock:
                self.malformed_batches += 1
            return np.zeros(0, aggregate.RECORD)
        return self._ingest(reps, at_ms, direct=False)

    def ingest_direct(
        self, reports: Sequence[bytes | bytearray], arrival_ms: list[int], at_ms: int | None = None
    ) -> npt.NDArray[np.void]:
        """Reports published by bands themselves (each one MQTT message)."""
        n = len(reports)
        length = np.fromiter(map(len, reports), np.int64, n)
        if n and bool((length == packet.REPORT_SIZE).all()):
            joined = b"".join(reports)  # the usual case: one copy, no per-report Python work
        else:
            joined = b"".join(
                bytes(r[: packet.REPORT_SIZE]).ljust(packet.REPORT_SIZE, b"\0") for r in reports
            )
        raw = np.frombuffer(joined, np.uint8).reshape(n, packet.REPORT_SIZE).copy()
        reps = batch.decode_reports(
            raw, length, np.asarray(arrival_ms, np.int64), np.zeros(n, np.int8)
        )
        rec = self._ingest(reps, at_ms, direct=True)
        self.direct[rec["band"]] = True
        return rec

    def _ingest(self, reps: batch.Reports, at_ms: int | None, direct: bool) -> npt.NDArray[np.void]:
        with self.lock:
            self.batches += 1
            t = at_ms if at_ms is not None else now_ms()
            status, band, counter, id_epoch = self.validator.check(reps, t)
            ok = status > 0
            clear = self.registry.unmask(reps.raw, np.where(ok, band, -1), id_epoch)
            rec = aggregate.records(band, counter, clear, reps, ok)
            fresh = self.agg.add_fresh(rec)
            is_ref = self.registry.is_reference[rec["band"]]
            music = rec[is_ref]
            onsets = music["arrival_ms"][
                (music["flags"] & (packet.FLAG_EVENT | packet.FLAG_MUTED)) == packet.FLAG_EVENT
            ]
            if len(onsets):
                self.reactions.music_onset(int(onsets.max()))
            # each report once (several relays pass the same advert on); the programme
            # is no reaction
            if self.reactions.update(rec[fresh & ~is_ref], t, direct):
                self.reaction_started = True
        return rec

    def take_reaction(self) -> bool:
        """True once after a reaction started (gateway/reaction.py)."""
        with self.lock:
            started, self.reaction_started = self.reaction_started, False
            return started

    def reaction_state(self, at_ms: int | None = None) -> dict[str, Any]:
        with self.lock:
            return self.reactions.state(at_ms if at_ms is not None else now_ms())

    def merge(self, records: npt.NDArray[np.void]) -> tuple[int, int]:
        """Accepted records from another worker (shared subscription scale-out):
        (records new here, records refused as impossible).  A worker is trusted
        as far as the broker's ACL says, but a record out of range must never
        reach the aggregator's unchecked array indexing."""
        t = now_ms()
        ok = (
            (records["band"] >= 0)
            & (records["band"] < len(self.registry))
            & (records["interval_ms"] > 0)
            & (records["interval_ms"] <= 2550)
            & (
                np.abs(records["arrival_ms"] - t)
                <= self.validator.limits[0] + self.validator.limits[1]
            )
            & (records["pad"] == 0)
        )
        with self.lock:
            return self.agg.add(records[ok]), int((~ok).sum())

    # -- sentiment -----------------------------------------------------------
    def tick(self, at_ms: int | None = None, record: bool = True) -> dict[str, Any]:
        """Score now (or at at_ms); record=False leaves history and `last` alone."""
        t = at_ms if at_ms is not None else now_ms()
        with self.lock:
            recent, base = self.agg.window(t)
            referenced = bool(self.registry.is_reference.any())
            slots = None
            if referenced:  # the complete buckets are the same slots, less the one filling
                valid, means = self.agg.slot_levels(t)
                slots = sentiment.RefSlots(
                    (valid, means),
                    (valid & ~self.agg.filling(t), means),
                    self.agg.bucket_levels(t),
                )
            view = sentiment.band_view(
                recent,
                base,
                self.agg.last_ms,
                t,
                self.model,
                slots,
                self.registry.is_reference,
                self.floors,
            )
            muted = int(
                (
                    (recent[:, aggregate.F_MUTED] > 0)
                    & ~view.active
                    & (t - self.agg.last_ms <= self.model.age_out_ms)
                ).sum()
            )
        every = sentiment.zone_scores(view, self.registry.zone_of, self.registry.zones, self.model)
        evidence = _evidence(self.registry.is_reference, view)
        with self.lock:  # the fast path: a reaction is reported beside the score (reaction.py)
            if record:
                self.reactions.expire(t)
            reaction = self.reactions.state(t)
        zones = [every[z] for z in self.crowd_zones]
        if record:  # a look at another instant reads the window unfiltered (smoothing.py)
            zones = self.smoother.zones(zones, t)
        shares = [reaction["zones"][z]["share"] for z in self.crowd_zones]
        loss = self._loss(recent, view, t)
        venue, conf, carried = self.dark.venue(zones, t, self.model, remember=record)
        if record:
            self.history.push(t, [venue, *[z.score for z in zones]])
        if self._trend_at is None or abs(t - self._trend_at) >= 1000:  # a slope needs no 10 Hz
            self._trend = self.history.trend(t)
            self._trend_at = t
        trend = self._trend
        snap = {
            "venue": self.venue,
            "t": t,
            "score": _r(venue),
            "confidence": round(conf, 3),
            "trend_per_min": _r(trend[0]),
            "bands": int(view.active.sum()),
            "muted": muted,
            "evidence": evidence,
            "reaction": {k: reaction[k] for k in ("active", "since", "share")},
            "zones": [
                {
                    "zone": z.zone,
                    "score": _r(z.score),
                    "confidence": round(z.confidence, 3),
                    "trend_per_min": _r(trend[i + 1]),
                    "bands": z.bands,
                    "referenced": round(z.referenced, 3),
                    **loss[i],
                    "reaction": shares[i],
                    "carried": _r(carried.get(z.zone)),
                }
                for i, z in enumerate(zones)
            ],
        }
        if record:
            self.last = snap
        return snap

    def _loss(
        self, recent: npt.NDArray[np.int64], view: sentiment.BandView, t: int
    ) -> list[dict[str, float | None]]:
        """Per zone: delivery, loss (sent and lost) and held (never sent, by the
        rate control's design), from the last few seconds (gateway/delivery.py)."""
        window = (aggregate.N_FINE - 1) * aggregate.FINE_MS + t % aggregate.FINE_MS
        every = delivery.zone_delivery(
            recent,
            view.active,
            self.registry.zone_of,
            self.direct,
            len(self.registry.zones),
            window,
            self.adv_ms,
        )
        return [every[z] for z in self.crowd_zones]

    def adv_interval_ms(self, at_ms: int | None = None) -> int:
        """The advertising interval every band should use now (gateway/ratecontrol.py);
        call it when the bands are told, since it remembers what they were told."""
        t = at_ms if at_ms is not None else now_ms()
        with self.lock:
            recent, _base = self.agg.window(t)
            window = (aggregate.N_FINE - 1) * aggregate.FINE_MS + t % aggregate.FINE_MS
            self.adv_ms = ratecontrol.adv_interval_ms(
                self.agg.last_ms,
                self.registry.zone_of,
                len(self.registry.zones),
                t,
                (recent[:, aggregate.F_N] - recent[:, aggregate.F_MUTED]).astype(np.float64),
                window,
                self.adv_ms,
            )
            return self.adv_ms

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "accepted": self.validator.accepted,
                "rejected": self.validator.counts(),
                "batches": self.batches,
                "malformed_batches": self.malformed_batches,
            }


def _evidence(is_reference: npt.NDArray[np.bool_], view: sentiment.BandView) -> dict[str, Any]:
    """What the score stands on, for the console and the API: the music reference,
    or the bands' own evidence only (lower confidence), and why."""
    if not is_reference.any():
        return {"reference": "none", "why": "no reference band in the venue file"}
    if not view.referenced.any():
        return {"reference": "silent", "why": "the reference band is not reporting"}
    return {"reference": "live", "why": "scored against the music the PA plays"}


def _r(v: float | None) -> float | None:
    if v is None or not np.isfinite(v):
        return None
    return round(float(v), 1)
