"""A simulated night: crowd, bands, radio and relays, stepping 50 ms at a time.

Every step: the crowd moves on; the bands whose turn it is (or whose wearer
just started to clap or cheer) make a report, signed with their own key;
BLE bands advertise their latest report through the radio medium; every
relay batches what it heard, as `crowdpulse relay` does; WiFi bands publish
directly.  What goes out goes to a `Sink` (MQTT, or a gateway engine in the
same process).  The ground truth is kept once a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.registry import Registry
from crowdpulse.reportcodec import bodies, mask_rows, relay_batch
from crowdpulse.selector.library import Track, sample_library
from crowdpulse.sim.bands.adverts import AdvertTiming
from crowdpulse.sim.bands.emit import Emitter
from crowdpulse.sim.world.acoustics import Floor
from crowdpulse.sim.world.crowd import Crowd
from crowdpulse.sim.world.radio import Medium
from crowdpulse.sim.world.scenario import Event, Scenario
from wristband import packet

STEP_S = 0.05
REFERENCE_ID = "REF"  # the music reference's band id (sim/runs/crowdscore.py uses the same)
GROUPS = 5  # bands report in turns, a fifth of them every 50 ms at 250 ms


class Sink(Protocol):
    def batch(self, relay: str, payload: bytes, now_ms: int) -> None: ...
    def direct(self, band: str, report: bytes, now_ms: int) -> None: ...


@dataclass
class Truth:
    t_s: list[float] = field(default_factory=list)
    scene_s: list[float] = field(default_factory=list)
    venue: list[float | None] = field(default_factory=list)
    zones: list[list[float | None]] = field(default_factory=list)
    present: list[int] = field(default_factory=list)  # people in the venue


class SimRun:
    def __init__(
        self,
        sc: Scenario,
        devices: int,
        venue_key: bytes,
        t0_s: float,
        tracks: list[Track] | None = None,
        seed: int | None = None,
        speed: float = 1.0,
        mode: str = "fast",
        band_ids: list[list[str]] | None = None,
        floor: Floor | None = None,
        reference: bool = False,
    ) -> None:
        """band_ids: per scenario zone, the ids of a venue file's bands (their number
        then sets each zone's crowd); by default S00001... shared out by zone."""
        self.sc = sc
        self.floor = floor or Floor()
        # the crowd (its people, moods and the tracks it gets) draws from its own stream,
        # the bands, the radio and the relays from another: the same night's crowd
        # whatever the infrastructure does (a reference, a mode, a radio model)
        self.world_rng, self.rng = np.random.default_rng(sc.seed if seed is None else seed).spawn(2)
        self.tracks = tracks or sample_library()
        # t: the radio's clock (reports, adverts: always real time, so that a
        # gateway on the wall clock takes them); st: the scenario's clock (the
        # crowd, tracks and events), which runs `speed` times faster
        self.t0, self.t, self.st, self.speed = t0_s, 0.0, 0.0, speed
        counts = (
            split(devices, [z.share for z in sc.zones])
            if band_ids is None
            else [len(b) for b in band_ids]
        )
        self.crowd = Crowd(
            [z.name for z in sc.zones],
            counts,
            sorted({t.genre for t in self.tracks}),
            self.world_rng,
            [t.id for t in self.tracks if t.recovery],
            sc.start_mood,
        )
        if sc.absent_share > 0:
            self.crowd.present[self.world_rng.random(devices) < sc.absent_share] = False
        self.zone_of = self.crowd.zone
        self.band_ids = (
            [f"S{i + 1:05d}" for i in range(devices)]
            if band_ids is None
            else [b for zone in band_ids for b in zone]
        )  # the crowd is in zone order
        fleet = list(zip(self.band_ids, [sc.zones[z].name for z in self.zone_of], strict=True))
        # a music reference at the booth: one more band, after the crowd's, on the mixer's output
        self.reference = reference
        refs = [REFERENCE_ID] if reference else []
        self.registry = Registry(
            venue_key,
            fleet + [(r, sc.zones[0].name) for r in refs],
            [z.name for z in sc.zones],
            refs,
        )
        xy, music = self._place()
        relays = [
            (z, x + self._origin(z), y) for z, zone in enumerate(sc.zones) for x, y in zone.relays
        ]
        self.relay_zone = np.array([r[0] for r in relays], np.int32)
        self.relay_ids = [f"r{i + 1}" for i in range(len(relays))]
        self.sent_seq = np.full((len(relays), devices), -1, np.int64)
        self.medium = Medium(xy, np.array([[r[1], r[2]] for r in relays]).reshape(-1, 2), self.rng)
        imu = self.rng.random(devices) < sc.imu_share
        if mode == "twin":  # the same interface, from synthesized audio through the DSP twin
            from crowdpulse.sim.bands.twinemit import TwinEmitter

            self.emitter: Emitter = TwinEmitter(
                np.arange(devices), music, self.rng, imu, floor=self.floor
            )
        else:
            self.emitter = Emitter(np.arange(devices), music, self.rng, imu, floor=self.floor)
        self.direct = self.rng.random(devices) < sc.mqtt_share
        self.group = np.arange(devices) % GROUPS
        self.seq = self.rng.integers(0, 65536, devices + len(refs))
        self.latest = np.zeros((devices, packet.REPORT_SIZE), np.uint8)
        self.has_report = np.zeros(devices, bool)
        self.last_report_t = np.zeros(devices)
        self.next_adv = self.rng.uniform(0, 0.1, devices)
        self.adverts = AdvertTiming(devices, self.rng, self.next_adv)
        self.started = np.zeros(devices, bool)
        self.latest_seq = np.full(devices, -1, np.int64)  # the sequence number the advert carries
        self.interval_s = 0.25
        self.adv_interval_s = 0.1
        self.muted = np.zeros(devices, bool)
        self.truth = Truth()
        self.rogue_rate = 0.0
        self.silence_until = -1.0
        self.timeline = list(sc.timeline)
        self._played: list[Track] = []
        self.track_end = 0.0
        self.drop_at = -1.0
        self.follow: str | None = None  # "selector": tracks come from the DJ, not the timeline
        self.dj_requests: list[Track] = []  # dj_plays events, for the selector (follow mode)
        self.events = sorted(sc.events, key=lambda e: e.at_s)
        self._epoch = -1
        self._ids = np.zeros(0, np.uint32)
        self._next_truth = 0.0
        self._step_no = 0

    # -- the venue -------------------------------------------------------------
    def _origin(self, z: int) -> float:
        # zones are separate areas, out of each other's radio range (sim/world/radio.py: a band
        # 120 m off can still reach a relay; 250 m is 100 dB down, under any sensitivity)
        return sum(zone.size_m[0] + 250.0 for zone in self.sc.zones[:z])

    def _place(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        n = len(self.zone_of)
        xy = np.zeros((n, 2))
        music = np.zeros(n)
        for z, zone in enumerate(self.sc.zones):
            here = self.zone_of == z
            k = int(here.sum())
            xy[here, 0] = self._origin(z) + self.rng.uniform(0, zone.size_m[0], k)
            depth = self.rng.uniform(0, 1, k)  # 0 at the back, 1 at the stage
            xy[here, 1] = depth * zone.size_m[1]
            back, front = zone.music_db
            music[here] = back + (front - back) * depth
        # the wrist among bodies: each band hears the PA a little louder or quieter
        music += self.rng.normal(0.0, self.floor.body_sd_db, n)
        return xy, music

    # -- commands from the gateway (what real bands do with the retained config) --
    def command(self, data: dict[str, Any]) -> None:
        if isinstance(data.get("interval_ms"), int) and 10 <= data["interval_ms"] <= 2550:
            self.interval_s = data["interval_ms"] / 1000.0
        a = data.get("adv_interval_ms")
        if isinstance(a, int) and 100 <= a <= 25500 and a != round(self.adv_interval_s * 1000):
            self.adv_interval_s = a / 1000.0
            self.adverts.rephase(self.t, self.adv_interval_s)
        if data.get("event_over") is True or data.get("cmd") == "event_over":
            self.muted[:] = True

    # -- the night ---------------------------------------------------------------
    def pick(self, entry: dict[str, Any]) -> Track:
        played = {t.id for t in self._played}
        left = [t for t in self.tracks if t.id not in played] or self.tracks
        kind = str(entry.get("pick", "liked"))
        if kind in ("liked", "unloved", "favourite"):
            pool = [t for t in left if t.recovery] if kind == "favourite" else left
            pool = pool or left
            like = [float(self._appeal(t).mean()) for t in pool]
            return pool[int(np.argmax(like) if kind != "unloved" else np.argmin(like))]
        if kind == "any":
            return left[int(self.world_rng.integers(len(left)))]
        for t in self.tracks:
            if kind in (t.id, t.title):
                return t
        return left[0]

    def _appeal(self, t: Track) -> npt.NDArray[np.float64]:
        saved = self.crowd.track
        self.crowd.track = t
        a = self.crowd.appeal()
        self.crowd.track = saved
        return a

    def _next_track(self) -> None:
        entry = self.timeline.pop(0) if self.timeline else {"pick": "liked"}
        self.play(self.pick(entry), entry)

    def play(self, t: Track, entry: dict[str, Any] | None = None) -> None:
        """This track starts now (the timeline's next, or what the DJ put on)."""
        entry = entry or {}
        self._played = [*self._played, t]
        self.crowd.play(t, self.t0 + self.t)
        length = float(entry.get("length_s", min(t.duration_s, 150.0)))
        self.track_end = self.st + length
        self.drop_at = self.st + float(entry.get("drop_s", length * 0.4))

    def _events(self) -> None:
        while self.events and self.events[0].at_s <= self.st:
            e = self.events.pop(0)
            zone = [z.name for z in self.sc.zones].index(e.zone) if e.zone else -1
            if e.kind in ("relays_down", "relays_up", "dead_zone"):
                self._radio_event(e, zone)
            else:
                self._crowd_event(e)

    def _radio_event(self, e: Event, zone: int) -> None:
        """Relays failing or coming back, or a zone out of reach of relays and WiFi."""
        if e.kind == "relays_down":
            up = np.flatnonzero(self.medium.relay_up)
            self.medium.relay_up[up[: int(round(len(up) * (e.value or 0.5)))]] = False
        elif e.kind == "relays_up":
            self.medium.relay_up[:] = True
        elif e.kind == "dead_zone":
            self.medium.relay_up[self.relay_zone == zone] = False
            self.direct[self.zone_of == zone] = False

    def _crowd_event(self, e: Event) -> None:
        """What happens to the people, the music or the air (a rogue); others: nothing."""
        if e.kind in ("arrive", "leave"):
            self.crowd.arrive(e.value if e.kind == "arrive" else -e.value)
        elif e.kind == "rogue":
            self.rogue_rate = e.value
        elif e.kind == "silence":
            self.silence_until = self.st + e.value
            self.crowd.play(None, self.t0 + self.t)
        elif e.kind == "dj_plays":  # the artist overrides: through the selector when following it
            t = self.pick({"pick": e.pick})
            if self.follow:
                self.dj_requests.append(t)
            else:
                self.play(t)
        elif e.kind in ("cheer", "clap"):
            self.crowd.engagement[:] = np.maximum(self.crowd.engagement, 0.8)
            if e.kind == "cheer":
                self.crowd.drop()

    @property
    def done(self) -> bool:
        return self.st >= self.sc.duration_s

    def step(self, sink: Sink | None) -> None:
        """50 ms of the night; with no sink, only the crowd and its truth (no
        bands, no radio): what the scenario does to the people, cheaply."""
        self._events()
        if (
            self.follow is None
            and self.st >= self.silence_until
            and (self.crowd.track is None or self.st >= self.track_end)
        ):
            self._next_track()
        dt = STEP_S * self.speed
        if self.crowd.track is not None and self.drop_at <= self.st < self.drop_at + dt:
            self.crowd.drop()
        self.crowd.step(dt)
        self.emitter.advance(STEP_S)
        if sink is not None:
            self._report(sink)
            if self.reference:
                self._reference(sink)
            self._radio(sink)
            if self.rogue_rate > 0:
                self._rogue(sink)
        if self.t >= self._next_truth:
            v, z = self.crowd.truth()
            self.truth.t_s.append(self.t0 + self.t)
            self.truth.scene_s.append(self.st)
            self.truth.venue.append(v)
            self.truth.zones.append(z)
            self.truth.present.append(int(self.crowd.present.sum()))
            self._next_truth += 1.0
        self.t += STEP_S
        self.st += dt
        self._step_no += 1

    def _report(self, sink: Sink) -> None:
        now = self.t0 + self.t
        act = self.crowd.actions(now)
        nz = len(self.sc.zones)
        present_band = self.crowd.present
        zone_n = np.maximum(np.bincount(self.zone_of, weights=present_band, minlength=nz), 1)
        clap_share = np.bincount(self.zone_of, weights=act.clapping, minlength=nz) / zone_n
        cheer_share = np.bincount(self.zone_of, weights=act.cheering, minlength=nz) / zone_n
        started = self.emitter.reactions(act, cheer_share, self.zone_of, STEP_S * self.speed)
        self.started = started & present_band  # the truth about onsets, for benches
        turns = max(1, int(round(self.interval_s / STEP_S)))
        due = (self._step_no % turns == self.group % turns) | started
        due &= present_band & ~self.muted & (self.t - self.last_report_t >= 0.02)
        idx = np.flatnonzero(due)
        if len(idx) == 0:
            return
        span = np.clip(self.t - self.last_report_t[idx], 0.05, 2.55)
        span = np.where(self.has_report[idx], span, self.interval_s)
        bpm = self.crowd.track.bpm if self.crowd.track is not None else 120.0
        codes = self.emitter.codes(
            idx,
            act,
            clap_share,
            cheer_share,
            self.zone_of,
            span,
            bpm,
            self.crowd.track is not None,
            started[idx],
        )
        reports = self._sign(idx, codes, now)
        self._advertise(idx, reports, started[idx])
        self.has_report[idx] = True
        self.last_report_t[idx] = self.t
        ms = int(now * 1000)
        for i in np.flatnonzero(self.direct[idx]):
            sink.direct(self.band_ids[idx[i]], reports[i].tobytes(), ms)

    def _reference(self, sink: Sink) -> None:
        """The reference band's report when its interval is up: the programme alone, at
        line level, over the booth's wired or WiFi link (never the BLE air)."""
        turns = max(1, int(round(self.interval_s / STEP_S)))
        if self._step_no % turns or self.muted.all():
            return
        now = self.t0 + self.t
        track = self.crowd.track
        codes = self.emitter.reference_codes(
            turns * STEP_S,
            track.bpm if track is not None else 120.0,
            track is not None,
            self.floor.line_db,
        )
        report = self._sign(np.array([len(self.band_ids)]), codes, now)
        sink.direct(REFERENCE_ID, report[0].tobytes(), int(now * 1000))

    def _advertise(
        self,
        idx: npt.NDArray[np.int64],
        reports: npt.NDArray[np.uint8],
        event: npt.NDArray[np.bool_],
    ) -> None:
        """The firmware's advert timing (sim/bands/adverts.py); each band's report is
        made somewhere in this step, as its own frames end."""
        at = self.t + self.rng.uniform(0, STEP_S, len(idx))
        take = self.adverts.reports(idx, at, event, self.adv_interval_s)
        self.latest[idx[take]] = reports[take]
        self.latest_seq[idx[take]] = (self.seq[idx[take]] - 1) & 0xFFFF

    def _sign(
        self, idx: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8], now: float
    ) -> npt.NDArray[np.uint8]:
        epoch = packet.epoch_of(int(now))
        if epoch != self._epoch:
            self._epoch, self._ids = epoch, self.registry.ids_for_epoch(epoch)
        return sign(self.registry, self._ids, self.seq, idx, codes, epoch)

    def _radio(self, sink: Sink) -> None:
        ble = self.has_report & ~self.direct & self.crowd.present & ~self.muted
        interval = np.full(len(ble), self.adv_interval_s)
        band, t = self.medium.events(self.t, self.t + STEP_S, self.next_adv, interval, ble)
        ev, relay, rssi = self.medium.deliver(band, t)
        ms = int((self.t0 + self.t) * 1000)
        for r in np.unique(relay):
            sel = np.flatnonzero(relay == r)
            b = band[ev[sel]]
            # the relay drops repeats of a report it already passed on
            fresh = self.sent_seq[r, b] != self.latest_seq[b]
            sel, b = sel[fresh], b[fresh]
            b, first = np.unique(b, return_index=True)
            sel = sel[first]
            if len(b) == 0:
                continue
            self.sent_seq[r, b] = self.latest_seq[b]
            arrival = ((self.t0 + t[ev[sel]]) * 1000).astype(np.int64)
            sink.batch(
                self.relay_ids[int(r)],
                relay_batch(self.latest[b], np.clip(rssi[sel], -128, 127), arrival),
                ms,
            )

    def _rogue(self, sink: Sink) -> None:
        """A band flooding forged reports: random tags under a real band's id."""
        n = max(1, int(self.rogue_rate * STEP_S))
        ms = int((self.t0 + self.t) * 1000)
        fake = self.latest[:n].copy()
        fake[:, packet.BODY_SIZE :] = self.rng.integers(0, 256, (n, packet.TAG_SIZE))
        fake[:, 5] = self.rng.integers(0, 256, n)
        sink.batch("r-rogue", packet.encode_batch([(f.tobytes(), -40, ms) for f in fake], ms), ms)


def sign(
    registry: Registry,
    ids: npt.NDArray[np.uint32],
    seq: npt.NDArray[np.int64],
    idx: npt.NDArray[np.int64],
    codes: npt.NDArray[np.uint8],
    epoch: int,
) -> npt.NDArray[np.uint8]:
    """Reports for bands idx, as their firmware signs them (wristband.packet's
    layout, built as one array): seq is each band's counter plus the epoch's
    offset (packet.seq_offset), the fields go behind the epoch's field mask
    (packet.field_mask); the counters move on."""
    offsets = registry.seq_offsets(epoch)
    body = bodies(ids[idx], seq[idx] + offsets[idx], codes)
    mask_rows(body, np.arange(len(idx)), registry.field_masks(epoch)[idx], sign=1)
    seq[idx] += 1
    return np.concatenate([body, registry.hmac.prefix(body, idx, packet.TAG_SIZE)], axis=1)


def split(n: int, shares: list[float]) -> list[int]:
    total = sum(shares)
    counts = [int(n * s / total) for s in shares]
    counts[0] += n - sum(counts)
    return counts
