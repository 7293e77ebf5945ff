"""A live venue on the wall clock, through the radio medium, for `bench latency`.

BLE bands stand on a floor (2.5 a square metre) among relays on a 25 m grid;
their adverts go through sim/world/radio.py's medium (pure ALOHA, three channels,
distance and bodies), at the advertising interval the gateway's rate control
publishes on the retained config topic, with the firmware's timing
(wristband.schedule.Advert, vectorised in sim/bands/adverts.py): a new report takes
the band's next advert slot; an event report goes off the air and back on in
a random slot of one interval.  Each relay passes on what it hears as
relay/forwarding.py does: repeats dropped, a batch every 50 ms, or within 5 ms of an
onset.  Bands are switched on over the first SWITCH_ON_S, and then report
every 250 ms +-10 %, as band.py's jitter.  WiFi bands
publish every report straight to the broker.

A band notices its wearer's first clap 30 ms after the clap (the clap
detector's decision, docs/dsp.md), at the end of that 10 ms frame, and reports
then if its last report is at least 50 ms old (schedule.MIN_EVENT_MS), else
as soon as it is.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt

from crowdpulse.bench.ingest import Fleet
from crowdpulse.gateway.ratecontrol import AIRTIME_S
from crowdpulse.mqtt import topic
from crowdpulse.relay.forwarding import EVENT_GAP_S, Timing
from crowdpulse.reportcodec import relay_batch
from crowdpulse.sim.bands.adverts import AdvertTiming
from crowdpulse.sim.bands.emit import Emitter
from crowdpulse.sim.runs.runner import sign
from crowdpulse.sim.world.crowd import Actions
from crowdpulse.sim.world.radio import CHANNEL_GAP_S, Medium
from wristband import packet
from wristband.schedule import FRAME_MS, MIN_EVENT_MS

REPORT_S = 0.25
FLUSH_S = Timing().flush_s  # the relay's cadence (relay/forwarding.py)
DENSITY = 2.5  # bands a square metre on a busy floor
RELAY_GRID_M = 25.0
LATE_S = 0.1
# a venue's bands are switched on over minutes, not in step: switched on within
# one report interval, 10,000 bands would take their advertising phases from
# 250 ms of a 7 s interval and collide there until something re-phased them
SWITCH_ON_S = 20.0
# how long both benches let the rate control find the interval before the first
# onset: the bands heard in its 60 s window grow for SWITCH_ON_S + 60 s
WARM_S = 90.0
CLAP_DECIDE_S = 0.030  # the clap detector decides 15 sub-blocks of 2 ms after the rise
GUARD_S = AIRTIME_S + 3 * CHANNEL_GAP_S  # a PDU's fate is sealed once nothing later can overlap it


class Codes:
    """Report codes for a crowd listening to music, or in the middle of a reaction."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.emit = Emitter(np.arange(n), rng.normal(92.0, 3.0, n), rng)
        self.zone = np.zeros(n, np.int32)

    def codes(
        self,
        idx: npt.NDArray[np.int64],
        reacting: bool,
        event: npt.NDArray[np.bool_],
        span_s: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.uint8]:
        act = Actions(
            np.full(self.n, reacting),
            np.full(self.n, reacting),
            np.zeros(self.n, bool),
            np.zeros(self.n),
        )
        share = np.array([1.0 if reacting else 0.0])
        return self.emit.codes(idx, act, share * 0.7, share, self.zone, span_s, 126.0, True, event)


class Bands:
    """One population of bands (BLE or WiFi): report timing, sequence numbers, codes."""

    def __init__(
        self, first: int, n: int, fleet: Fleet, rng: np.random.Generator, now: float
    ) -> None:
        self.ids = np.arange(first, first + n)
        self.fleet, self.rng = fleet, rng
        self.codes = Codes(n, rng)
        self.switch_on(now)
        self.event_at = np.full(n, np.inf)
        self.reacting = False
        self.clock = time.time  # what the on-air ids' epoch follows

    def switch_on(self, now: float) -> None:
        """Each band's first report at a random moment of the SWITCH_ON_S from now."""
        self.next_report = now + self.rng.uniform(0, SWITCH_ON_S, len(self.ids))
        self.last_report = self.next_report - REPORT_S

    def onset(self, t0: float) -> None:
        """Every wearer claps at t0; each band's event report is due when its detector decides."""
        frame = FRAME_MS / 1000.0
        self.event_at = t0 + CLAP_DECIDE_S + self.rng.uniform(0, frame, len(self.ids))
        self.reacting = True

    def calm(self) -> None:
        self.reacting = False
        self.event_at[:] = np.inf

    def due(
        self, now: float
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.bool_],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]:
        """Reports made by now: (band index, event, when, the audio each covers in s)."""
        gap = MIN_EVENT_MS / 1000.0
        # a band does not make up for reports the driver was too slow to make
        late = self.next_report < now - LATE_S
        self.next_report[late] = now
        ev_ok = (self.event_at <= now) & (now - self.last_report >= gap)
        idx = np.flatnonzero((self.next_report <= now) | ev_ok)
        if len(idx) == 0:
            return idx, np.zeros(0, bool), np.zeros(0), np.zeros(0)
        event = ev_ok[idx]
        at = np.where(
            event,
            np.maximum(self.event_at[idx], self.last_report[idx] + gap),
            self.next_report[idx],
        )
        span = at - self.last_report[idx]
        self.event_at[idx[event]] = np.inf
        self.last_report[idx] = at
        # +-10 % on every interval, as the firmware (band.py): bands drift apart
        self.next_report[idx] = at + REPORT_S * self.rng.uniform(0.9, 1.1, len(idx))
        return idx, event, at, span

    def sign(
        self,
        idx: npt.NDArray[np.int64],
        event: npt.NDArray[np.bool_],
        span_s: npt.NDArray[np.float64],
        seq: npt.NDArray[np.int64] | None = None,
        reacting: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Signed reports of bands idx; seq: their sequence numbers (default: the
        next ones); reacting: what each heard (default: the crowd now)."""
        f = self.fleet
        epoch = packet.epoch_of(int(self.clock()))
        if epoch != f.epoch:
            f.epoch, f.ids = epoch, f.reg.ids_for_epoch(epoch)
        bands = self.ids[idx]
        counter = f.seq
        if seq is not None:
            counter = f.seq.copy()
            counter[bands] = seq
        react = np.full(len(idx), self.reacting) if reacting is None else reacting
        codes = np.zeros((len(idx), packet.N_CODES), np.uint8)
        for r in (False, True):
            sel = react == r
            if sel.any():
                codes[sel] = self.codes.codes(idx[sel], r, event[sel], span_s[sel])
        return sign(f.reg, f.ids, counter, bands, codes, epoch)


class Air:
    """BLE bands, the medium and the relays.  Times here are seconds since t0
    (the medium's clock); reports come in on the wall clock.  A report is
    signed only when a relay passes it on (its sequence number and what it
    heard are kept from when it was made)."""

    def __init__(
        self, bands: Bands, pub: mqtt.Client, venue: str, rng: np.random.Generator, t0: float
    ) -> None:
        n = len(bands.ids)
        self.bands, self.pub, self.venue, self.rng, self.t0 = bands, pub, venue, rng, t0
        side = float(np.sqrt(n / DENSITY))
        xy = rng.uniform(0, side, (n, 2))
        grid = np.arange(RELAY_GRID_M / 2, side, RELAY_GRID_M)
        relays = np.array([(x, y) for x in grid for y in grid]).reshape(-1, 2)
        self.medium = Medium(xy, relays, rng)
        self.nrelay = len(relays)
        self.adv_s = 0.1
        self.next_adv = np.full(n, np.inf)  # not advertising until the first report
        self.timing = AdvertTiming(n, rng, self.next_adv)
        self.made = np.zeros(n, np.int64)  # reports made: the next sequence number
        self.pay_seq = np.full(n, -1, np.int64)  # what the advert carries
        self.pay_event = np.zeros(n, bool)
        self.pay_span = np.zeros(n)
        self.pay_react = np.zeros(n, bool)
        self.sent_seq = np.full((self.nrelay, n), -2, np.int64)
        self.pdus_b = np.zeros(0, np.int64)  # on the air, fate not yet sealed
        self.pdus_t = np.zeros(0)
        self.sealed_b = np.zeros(0, np.int64)  # sealed lately: they still interfere
        self.sealed_t = np.zeros(0)
        self.pending: list[list[npt.NDArray[np.uint8]]] = [[] for _ in range(self.nrelay)]
        self.pending_at: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(self.nrelay)]
        self.onset_waiting = np.zeros(self.nrelay, bool)
        self.flushed_at = np.zeros(self.nrelay)
        self.flush_phase = rng.uniform(0, FLUSH_S, self.nrelay)
        self.last_slot = np.full(self.nrelay, -1.0)
        self.heard = 0
        self.sent = 0

    def set_interval(self, ms: int, now: float) -> None:
        """The retained config changed: every band re-phases (schedule.Advert)."""
        if ms != round(self.adv_s * 1000):
            self.adv_s = ms / 1000.0
            self.timing.rephase(now - self.t0, self.adv_s)

    def reports(
        self,
        idx: npt.NDArray[np.int64],
        event: npt.NDArray[np.bool_],
        at_wall: npt.NDArray[np.float64],
        span: npt.NDArray[np.float64],
    ) -> None:
        take = self.timing.reports(idx, at_wall - self.t0, event, self.adv_s)
        t = idx[take]
        self.pay_seq[t] = self.made[t]
        self.pay_event[t] = event[take]
        self.pay_span[t] = span[take]
        self.pay_react[t] = self.bands.reacting
        self.made[idx] += 1

    def step(self, now: float) -> None:
        """PDUs up to now; seal those no later PDU can overlap; relays hear and flush."""
        rel = now - self.t0
        active = np.isfinite(self.next_adv)
        b, t = self.medium.events(
            -np.inf, rel, self.next_adv, np.full(len(active), self.adv_s), active
        )
        if len(b):
            self.pdus_b = np.concatenate([self.pdus_b, b])
            self.pdus_t = np.concatenate([self.pdus_t, t])
        self._seal(rel - GUARD_S)
        self._flush(now)

    def _seal(self, before: float) -> None:
        done = self.pdus_t < before
        if not done.any():
            return
        keep = self.sealed_t >= before - 2 * GUARD_S
        ib, it = self.sealed_b[keep], self.sealed_t[keep]
        ev, relay, _rssi = self.medium.deliver(
            np.concatenate([ib, self.pdus_b]), np.concatenate([it, self.pdus_t])
        )
        mine = ev >= len(ib)
        ev, relay = ev[mine] - len(ib), relay[mine]
        sealed = done[ev]
        ev, relay = ev[sealed], relay[sealed]
        self.sent += int(done.sum())
        self.heard += len(np.unique(ev))
        band = self.pdus_b[ev]
        arrival = ((self.pdus_t[ev] + self.t0) * 1000.0).astype(np.int64)
        self.sealed_b = np.concatenate([ib, self.pdus_b[done]])
        self.sealed_t = np.concatenate([it, self.pdus_t[done]])
        self.pdus_b, self.pdus_t = self.pdus_b[~done], self.pdus_t[~done]
        for r in np.unique(relay):
            sel = relay == r
            bb, first = np.unique(band[sel], return_index=True)
            aa = arrival[sel][first]
            fresh = self.sent_seq[r, bb] != self.pay_seq[bb]  # a relay drops repeats
            bb, aa = bb[fresh], aa[fresh]
            if len(bb) == 0:
                continue
            self.sent_seq[r, bb] = self.pay_seq[bb]
            self.pending[r].append(
                self.bands.sign(
                    bb, self.pay_event[bb], self.pay_span[bb], self.pay_seq[bb], self.pay_react[bb]
                )
            )
            self.pending_at[r].append(aa)
            self.onset_waiting[r] |= bool(self.pay_event[bb].any())

    def _flush(self, now: float) -> None:
        """Every 50 ms, or within EVENT_GAP_S for an onset (relay/forwarding.py)."""
        slot = np.floor((now - self.flush_phase) / FLUSH_S)
        early = self.onset_waiting & (now - self.flushed_at >= EVENT_GAP_S)
        for r in np.flatnonzero((slot != self.last_slot) | early):
            self.last_slot[r] = slot[r]
            if not self.pending[r]:
                continue
            reps, at = np.concatenate(self.pending[r]), np.concatenate(self.pending_at[r])
            self.pending[r], self.pending_at[r] = [], []
            self.onset_waiting[r] = False
            self.flushed_at[r] = now
            batch = relay_batch(reps, np.full(len(at), -60.0), at)
            self.pub.publish(topic(self.venue, "relay", f"r{r}", "batch"), batch)


class Wifi:
    """WiFi bands: every report straight to the broker, as it is made."""

    def __init__(self, bands: Bands, ids: list[str], pub: mqtt.Client, venue: str) -> None:
        self.bands, self.ids, self.pub, self.venue = bands, ids, pub, venue

    def reports(
        self,
        idx: npt.NDArray[np.int64],
        event: npt.NDArray[np.bool_],
        _at: npt.NDArray[np.float64],
        span: npt.NDArray[np.float64],
    ) -> None:
        if len(idx) == 0:
            return
        reps = self.bands.sign(idx, event, span)
        for i, rep in zip(idx.tolist(), reps, strict=True):
            self.pub.publish(topic(self.venue, "band", self.ids[i], "report"), rep.tobytes())
