"""Faithful mode: the real firmware, in the real MicroPython, for every band.

Each band is a VirtualBand (sim/virtualband.py): firmware/main.py unchanged in
the MicroPython unix port, fed the sound its wearer's spot in the crowd would
hear.  WiFi bands publish their reports to the broker themselves; BLE bands
advertise them on a UDP radio medium and a relay here batches what it hears
to the broker, as `crowdpulse relay` does.  The crowd, its ground truth and
the venue (zones, PA levels, relays, events) are the fast mode's: a SimRun
stepped on the wall clock, whose own report-level output is dropped.

Sound is mixed as it is fed, 50 ms at a time, from a few loops made once (the
PA's music per track, applause, cheering, the room's noise) and the wearer's
claps on the beat, so memory does not grow with the night.  It stays in RAM
and reaches each band through its loopback rig socket only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt

from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.selector.library import Track
from crowdpulse.sim import scene, signals
from crowdpulse.sim.crowd import Actions, Crowd
from crowdpulse.sim.runner import REFERENCE_ID, SimRun
from crowdpulse.sim.scenario import Scenario
from crowdpulse.sim.session import BrokerDown, Result, truth_row, why_not_connected
from crowdpulse.sim.virtualband import Medium, VirtualBand, band_config, cpu_seconds
from wristband import packet

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
RATE = scene.RATE
BLOCK_FRAMES = 5  # 50 ms of sound per write: fewer wake-ups for the host
STARTERS = 8  # bands booting at once


def _loop(x: F32, start: int, n: int) -> F32:
    i = start % len(x)
    if i + n <= len(x):
        return x[i : i + n]
    return np.concatenate((x[i:], x[: n - (len(x) - i)]))


@dataclass(frozen=True)
class Mix:
    """What every band hears now; replaced whole on each crowd step, so a band's
    feeding thread always reads one consistent mix."""

    music: F32 | None
    track_pos: int  # the global sample at which the track began
    g_music: F64  # per band: rms gain of each unit-A-power loop (sim/scene.py)
    g_tex: F64  # (bands, 3): applause, cheer, sing
    clapping: npt.NDArray[np.bool_]


class Mixer:
    """Each band's sound, mixed on demand by its feeding thread from the twin's
    sound bank (sim/scene.py), at the twin's levels: the same scene, so faithful
    and twin runs can be compared."""

    def __init__(self, run: SimRun) -> None:
        n = len(run.band_ids)
        self.run, self.lv = run, run.floor
        self.bank = scene.bank()
        self.origin = time.monotonic()
        rng = np.random.default_rng(run.sc.seed + 7)
        self.offset = rng.integers(0, self.bank.loop, (n, 3))  # each band's own neighbours
        self.clap_lag = np.round(rng.normal(0.0, self.lv.clap_jitter_ms / 1000, n) * RATE).astype(
            np.int64
        )
        self.clap_db = rng.uniform(
            self.lv.clap_db - self.lv.clap_spread_db, self.lv.clap_db + self.lv.clap_spread_db, n
        )
        self.pos = np.full(n, -1, np.int64)
        self.first = np.full(n, -1, np.int64)
        self.ref_pos = -1
        self._track: Track | None = None
        self._track_pos = 0
        self.mix = Mix(None, 0, np.zeros(n), np.zeros((n, 3)), np.zeros(n, bool))

    def now_sample(self) -> int:
        return int((time.monotonic() - self.origin) * RATE)

    def update(self, act: Actions) -> None:
        run, crowd, lv = self.run, self.run.crowd, self.lv
        if crowd.track is not self._track:
            self._track, self._track_pos = crowd.track, self.now_sample()
        music = scene.music_loop(int(round(crowd.track.bpm))) if crowd.track is not None else None
        zone, nz = run.zone_of, len(run.sc.zones)
        count = np.maximum(np.bincount(zone, weights=crowd.present, minlength=nz), 1)

        def share(x: npt.NDArray[np.bool_]) -> F64:
            return np.asarray((np.bincount(zone, weights=x, minlength=nz) / count)[zone])

        def power(db: float) -> float:
            return float(scene.amplitude(db)) ** 2

        g_tex = np.sqrt(
            np.stack(
                [
                    share(act.clapping) * power(lv.applause_db),
                    share(act.cheering) * power(lv.cheer_db)
                    + act.cheering * power(lv.own_voice_db),
                    act.singing * power(lv.sing_db),
                ],
                axis=1,
            )
        )
        g_music = (
            scene.amplitude(run.emitter.music_db) if music is not None else np.zeros(len(zone))
        )
        self.mix = Mix(music, self._track_pos, g_music, g_tex, act.clapping.copy())

    def block(self, b: int, n: int) -> npt.NDArray[np.int16]:
        """Band b's next n samples."""
        m, bank = self.mix, self.bank
        if self.pos[b] < 0:
            self.pos[b] = self.first[b] = self.now_sample()
        p = int(self.pos[b])
        self.pos[b] = p + n
        out = np.float32(scene.amplitude(self.lv.quiet_db)) * _loop(bank.noise, p, n)
        for s in range(3):
            if m.g_tex[b, s] > 0:
                out += np.float32(m.g_tex[b, s]) * _loop(
                    bank.textures[s], p + int(self.offset[b, s]), n
                )
        if m.music is not None:
            out += np.float32(m.g_music[b]) * _loop(m.music, p - m.track_pos, n)
            if m.clapping[b]:
                self._claps(out, b, p, m.track_pos, len(m.music) / scene.MUSIC_BEATS)
        return signals.to_int16(np.clip(out, -1.0, 1.0).astype(np.float64))

    def reference_block(self, n: int) -> npt.NDArray[np.int16]:
        """The music reference's next n samples: the mix itself, dry, at line level
        (the booth's output); silence between tracks."""
        m = self.mix
        if self.ref_pos < 0:
            self.ref_pos = self.now_sample()
        p, self.ref_pos = self.ref_pos, self.ref_pos + n
        if m.music is None or self._track is None:
            return np.zeros(n, np.int16)
        dry = scene.music_loop(int(round(self._track.bpm)), dry=True)
        out = np.float32(scene.amplitude(self.lv.line_db)) * _loop(dry, p - m.track_pos, n)
        return signals.to_int16(np.clip(out, -1.0, 1.0).astype(np.float64))

    def _claps(self, out: F32, b: int, p: int, track_pos: int, beat: float) -> None:
        """The wearer's claps on the beat, with the tail of one begun in the last block."""
        n, length = len(out), self.bank.claps.shape[1]
        start = track_pos + int(self.clap_lag[b])
        gain = np.float32(scene.amplitude(self.clap_db[b]))
        for k in range(
            max(0, int(np.ceil((p - length - start) / beat))), int((p + n - 1 - start) // beat) + 1
        ):
            at = start + int(k * beat)
            src, dst = max(0, p - at), max(0, at - p)
            size = min(length - src, n - dst)
            if size > 0:
                out[dst : dst + size] += (
                    gain * self.bank.claps[k % len(self.bank.claps), src : src + size]
                )


def actions_now(crowd: Crowd) -> Actions:
    """What the crowd does after a step, read without a new draw (Crowd.actions draws)."""
    t = crowd.track
    favourite = t is not None and t.id in crowd.favourites
    singing = crowd.present & (crowd.engagement > 0.45) & favourite
    return Actions(
        crowd.clapping_now & crowd.present,
        (crowd.cheer_left > 0) & crowd.present,
        singing,
        np.zeros(len(crowd)),
    )


@dataclass
class FaithfulResult(Result):
    """session.Result plus what only this mode knows.  accepted / rejected stay 0
    (what the gateway made of the reports is the gateway's to say), and so does
    radio: the BLE medium here loses nothing."""

    bands_started: int = 0
    direct_bands: int = 0  # on WiFi/MQTT; the others advertise over BLE to the relay
    pids: list[int] = field(default_factory=list)
    band_cpu_s: list[float] = field(
        default_factory=list
    )  # each MicroPython process, over the night
    host_cpu_s: float = (
        0.0  # this process: crowd, sound, feeding, relay (and whatever else runs in it)
    )
    realtime: float = 0.0  # the slowest band's sound fed, over the wall-clock time it had
    reports_direct: int = 0
    reports_relayed: int = 0
    reports_unheard: int = 0  # BLE reports with no relay up in the band's zone
    interrupted: bool = False


class _Relay:
    """BLE adverts from the medium, batched per relay (repeats dropped), as
    `crowdpulse relay` does; a band is heard by its zone's relays that are up."""

    def __init__(
        self, run: SimRun, medium: Medium, client: mqtt.Client, venue: str, res: FaithfulResult
    ) -> None:
        self.run, self.medium, self.client, self.venue, self.res = run, medium, client, venue, res
        self.last: dict[bytes, bytes] = {}  # BLE address -> its last report
        self.ids: dict[int, dict[int, int]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _band(self, onair: int, epoch: int) -> int | None:
        if epoch not in self.ids:
            # the previous, current and next epoch's ids, as the gateway looks them up:
            # a band switches a few seconds either side of the boundary (wristband.rotation)
            self.ids = {
                epoch: {
                    int(v): i
                    for e in (epoch - 1, epoch, epoch + 1)
                    for i, v in enumerate(self.run.registry.ids_for_epoch(e))
                }
            }
        return self.ids[epoch].get(onair)

    def _loop(self) -> None:
        while not self.stop.wait(0.1):
            heard = self.medium.adverts[:]
            del self.medium.adverts[: len(heard)]  # the medium only appends: this is what we took
            batches: dict[int, list[tuple[bytes, int, int]]] = {}
            for _t, addr, adv in heard:
                report = packet.manufacturer_data(adv)
                if (
                    report is None
                    or len(report) != packet.REPORT_SIZE
                    or self.last.get(addr) == report
                ):
                    continue
                self.last[addr] = report
                ms = int(time.time() * 1000)
                b = self._band(packet.decode(report).onair, packet.epoch_of(ms // 1000))
                if b is None:
                    continue
                up = np.flatnonzero(
                    (self.run.relay_zone == self.run.zone_of[b]) & self.run.medium.relay_up
                )
                if len(up) == 0:
                    self.res.reports_unheard += 1
                    continue
                batches.setdefault(int(up[b % len(up)]), []).append((report, -60, ms))
            for r, recs in batches.items():
                for i in range(0, len(recs), packet.BATCH_MAX):
                    part = recs[i : i + packet.BATCH_MAX]
                    self.client.publish(
                        topic(self.venue, "relay", self.run.relay_ids[r], "batch"),
                        packet.encode_batch(part, part[0][2]),
                    )
                self.res.reports_relayed += len(recs)


class _Sink:
    """SimRun's own reports are dropped; a rogue's forgeries still go on air."""

    def __init__(self, client: mqtt.Client, venue: str) -> None:
        self.client, self.venue = client, venue

    def batch(self, relay: str, payload: bytes, now_ms: int) -> None:
        if relay == "r-rogue":
            self.client.publish(topic(self.venue, "relay", relay, "batch"), payload)

    def direct(self, band: str, report: bytes, now_ms: int) -> None:
        pass


def _connect(
    url: BrokerURL, venue: str, res: FaithfulResult
) -> tuple[mqtt.Client, list[float | None]]:
    client = make_client(url, f"crowdpulse-faithful-{venue}")
    latest: list[float | None] = [None]
    up = threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if not rc.is_failure:
            c.subscribe([(topic(venue, "sentiment"), 0), (topic(venue, "band", "+", "report"), 0)])
            up.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/report"):
            res.reports_direct += 1
            return
        try:
            score = json.loads(msg.payload).get("score")
        except (ValueError, AttributeError):
            return
        latest[0] = float(score) if isinstance(score, (int, float)) else None

    client.on_connect, client.on_message = on_connect, on_message
    client.connect_async(url.host, url.port)
    client.loop_start()
    if not up.wait(5.0):
        client.loop_stop()
        raise BrokerDown(why_not_connected(url, None, venue))
    return client, latest


def run_faithful(
    sc: Scenario,
    devices: int,
    url: BrokerURL,
    venue: str,
    venue_key: bytes,
    seconds: float | None = None,
    *,
    speed: float = 1.0,
    reference: bool = False,
    say: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> FaithfulResult:
    """The scenario with `devices` real-firmware bands (S00001... by zone, as
    session.venue_toml assigns them) reporting to a gateway through the broker at
    url, until the scenario ends, `seconds` of it have run, or Ctrl-C; with
    reference, one more real-firmware band, REF, on the booth's line output (the
    dry mix), over WiFi.  Every MicroPython process is stopped before this
    returns, however it ends."""
    started, cpu0 = time.perf_counter(), time.process_time()
    run = SimRun(sc, devices, venue_key, time.time(), speed=speed, reference=reference)
    res = FaithfulResult(
        sc.name, devices, run.truth, [z.name for z in sc.zones], direct_bands=int(run.direct.sum())
    )
    bands: list[VirtualBand] = []
    medium: Medium | None = None
    relay: _Relay | None = None
    client: mqtt.Client | None = None
    mixer: Mixer | None = None
    pool = ThreadPoolExecutor(STARTERS)
    try:
        client, latest = _connect(url, venue, res)
        sink = _Sink(client, venue)
        mixer = Mixer(run)
        # a few steps before any band boots: the first track is on, so each band's level
        # baseline is the music's, and the radio model's JIT has compiled
        while run.t < 0.3:
            run.step(sink)
        mixer.update(actions_now(run.crowd))
        medium = Medium() if res.direct_bands < devices else None
        for b, band_id in enumerate(run.band_ids):
            direct = bool(run.direct[b])
            cfg = band_config(
                venue_key,
                band_id,
                venue=venue,
                zone=sc.zones[run.zone_of[b]].name,
                broker=(url.host, url.port) if direct else None,
                transport="mqtt" if direct else "ble",
                status_every_s=60,
            )
            bands.append(
                VirtualBand(
                    cfg,
                    speed=1.0,
                    medium=None if direct else medium,
                    source=partial(mixer.block, b),
                    block_frames=BLOCK_FRAMES,
                )
            )
        if reference:
            cfg = band_config(
                venue_key,
                REFERENCE_ID,
                venue=venue,
                zone=sc.zones[0].name,
                broker=(url.host, url.port),
                transport="mqtt",
                status_every_s=60,
            )
            bands.append(
                VirtualBand(
                    cfg,
                    speed=1.0,
                    medium=None,
                    source=mixer.reference_block,
                    block_frames=BLOCK_FRAMES,
                )
            )
        say(
            f"crowdpulse sim: starting {devices} faithful bands (MicroPython), "
            f"{res.direct_bands} on WiFi/MQTT, the rest over BLE to a relay"
        )
        list(pool.map(lambda band: band.start(), bands))
        res.pids = [band.pid for band in bands]
        res.bands_started = sum(
            1 for band in bands if band.proc is not None and band.proc.poll() is None
        )
        if medium is not None:
            relay = _Relay(run, medium, client, venue, res)
        present = np.ones(devices, bool)
        run.t0 = time.time() - run.t  # the night starts now that the bands are up
        origin = time.time() - run.t
        end = min(sc.duration_s, seconds * speed if seconds else sc.duration_s)
        truth_topic = topic(venue, "sim", "truth")
        while run.st < end:
            rows = len(run.truth.t_s)
            run.step(sink)
            mixer.update(actions_now(run.crowd))
            for i in np.flatnonzero(run.crowd.present != present):
                bands[i].mute(
                    not run.crowd.present[i]
                )  # a band whose wearer is not here stays quiet
            present = run.crowd.present.copy()
            if len(run.truth.t_s) > rows:
                res.estimate.append(latest[0])
                client.publish(
                    truth_topic, json.dumps(truth_row(run.truth, res.zones, -1)), 0, True
                )
            lag = time.time() - (origin + run.t)
            res.behind_s = max(res.behind_s, lag)
            if lag < 0:
                time.sleep(-lag)
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _stop_all(bands, res, mixer)
        if relay is not None:
            relay.stop.set()
            relay.thread.join(1)
        if medium is not None:
            medium.close()
        if client is not None:
            client.loop_stop()
            client.disconnect()
    res.wall_s, res.host_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    return res


def _stop_all(bands: list[VirtualBand], res: FaithfulResult, mixer: Mixer | None) -> None:
    """Every band, at once: each gets its power-off message; one that does not
    go within 5 s is killed."""
    live = [b for b in bands if b.proc is not None]
    for b in live:
        try:
            res.band_cpu_s.append(cpu_seconds(b.pid))
        except (OSError, IndexError):
            res.band_cpu_s.append(float("nan"))  # it had already exited
    if mixer is not None and (mixer.first >= 0).any():
        # sound fed over the time each band had: below 1, the host could not keep up
        fed = mixer.first >= 0
        had = np.maximum(mixer.now_sample() - mixer.first[fed], 1)
        res.realtime = float(np.min((mixer.pos[fed] - mixer.first[fed]) / had))
    with ThreadPoolExecutor(max(1, min(32, len(bands)))) as stopper:
        list(stopper.map(lambda b: b.stop(), bands))
