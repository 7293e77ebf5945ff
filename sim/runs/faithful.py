"""Faithful mode: the real firmware, in the real MicroPython, for every band.

Each band is a VirtualBand (sim/bands/virtualband.py): firmware/main.py unchanged in
the MicroPython unix port, fed the sound its wearer's spot in the crowd would
hear.  WiFi bands publish their reports to the broker themselves; BLE bands
advertise them on their zone's UDP radio medium, and the zone's relays
(sim/runs/zonerelays.py) batch what they hear to the broker with the forwarding
core of `crowdpulse relay`.  The crowd, its ground truth and
the venue (zones, PA levels, relays, events) are the fast mode's: a SimRun
stepped on the wall clock, whose own report-level output is dropped.

Each band's sound is mixed as it is fed, in RAM (sim/runs/soundfeed.py).
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
import paho.mqtt.client as mqtt

from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim.bands.virtualband import Medium, VirtualBand, band_config, cpu_seconds
from crowdpulse.sim.runs.runner import REFERENCE_ID, SimRun
from crowdpulse.sim.runs.session import BrokerDownError, Result, truth_row, why_not_connected
from crowdpulse.sim.runs.soundfeed import Mixer, actions_now
from crowdpulse.sim.runs.zonerelays import ZoneRelays
from crowdpulse.sim.world.scenario import Scenario

BLOCK_FRAMES = 5  # 50 ms of sound per write: fewer wake-ups for the host
STARTERS = 8  # bands booting at once


@dataclass
class FaithfulResult(Result):
    """session.Result plus what only this mode knows.  accepted / rejected stay 0
    (what the gateway made of the reports is the gateway's to say), and so does
    radio: the BLE medium here loses nothing."""

    bands_started: int = 0
    direct_bands: int = 0  # on WiFi/MQTT; the others advertise over BLE to the relays
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
        raise BrokerDownError(why_not_connected(url, None, venue))
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
    session.venue_file assigns them) reporting to a gateway through the broker at
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
    mediums: dict[int, Medium] = {}
    relays: ZoneRelays | None = None
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
        # filled in place: whatever was made before a failure is still stopped below
        _add_bands(bands, run, url, venue, venue_key, mixer, mediums, reference)
        say(
            f"crowdpulse sim: starting {devices} faithful bands (MicroPython), "
            f"{res.direct_bands} on WiFi/MQTT, the rest over BLE to a relay"
        )
        list(pool.map(lambda band: band.start(), bands))
        res.pids = [band.pid for band in bands]
        res.bands_started = sum(
            1 for band in bands if band.proc is not None and band.proc.poll() is None
        )
        if mediums:
            relays = _relays(run, mediums, client, venue)
        run.t0 = time.time() - run.t  # the night starts now that the bands are up
        end = min(sc.duration_s, seconds * speed if seconds else sc.duration_s)
        live = _Live(sink, mixer, bands, client, latest, res, topic(venue, "sim", "truth"))
        _play(run, live, end)
    except KeyboardInterrupt:
        res.interrupted = True
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _stop_all(bands, res, mixer)
        _close(relays, mediums, client, res)
    res.wall_s, res.host_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    return res


def _add_bands(
    bands: list[VirtualBand],
    run: SimRun,
    url: BrokerURL,
    venue: str,
    venue_key: bytes,
    mixer: Mixer,
    mediums: dict[int, Medium],
    reference: bool,
) -> None:
    """One VirtualBand per simulated band (WiFi ones to the broker, the rest on
    their zone's BLE medium, made here), and with reference the REF band on the
    booth's dry mix, over WiFi."""
    zones = run.sc.zones
    for b, band_id in enumerate(run.band_ids):
        direct = bool(run.direct[b])
        zone = int(run.zone_of[b])
        if not direct and zone not in mediums:
            mediums[zone] = Medium()
        cfg = band_config(
            venue_key,
            band_id,
            venue=venue,
            zone=zones[zone].name,
            broker=(url.host, url.port) if direct else None,
            transport="mqtt" if direct else "ble",
            status_every_s=60,
        )
        bands.append(
            VirtualBand(
                cfg,
                speed=1.0,
                medium=None if direct else mediums[zone],
                source=partial(mixer.block, b),
                block_frames=BLOCK_FRAMES,
            )
        )
    if reference:
        cfg = band_config(
            venue_key,
            REFERENCE_ID,
            venue=venue,
            zone=zones[0].name,
            broker=(url.host, url.port),
            transport="mqtt",
            status_every_s=60,
        )
        bands.append(
            VirtualBand(
                cfg, speed=1.0, medium=None, source=mixer.reference_block, block_frames=BLOCK_FRAMES
            )
        )


@dataclass
class _Live:
    """What the night's loop feeds, mutes and publishes to."""

    sink: _Sink
    mixer: Mixer
    bands: list[VirtualBand]
    client: mqtt.Client
    latest: list[float | None]  # the gateway's last venue score
    res: FaithfulResult
    truth_topic: str


def _play(run: SimRun, live: _Live, end: float) -> None:
    """The night on the wall clock, from now until the scene reaches `end`."""
    present = np.ones(live.res.devices, bool)
    origin = time.time() - run.t
    res = live.res
    while run.st < end:
        rows = len(run.truth.t_s)
        run.step(live.sink)
        live.mixer.update(actions_now(run.crowd))
        for i in np.flatnonzero(run.crowd.present != present):
            # a band whose wearer is not here stays quiet
            live.bands[i].mute(not run.crowd.present[i])
        present = run.crowd.present.copy()
        if len(run.truth.t_s) > rows:
            res.estimate.append(live.latest[0])
            truth = json.dumps(truth_row(run.truth, res.zones, -1))
            live.client.publish(live.truth_topic, truth, 0, True)
        lag = time.time() - (origin + run.t)
        res.behind_s = max(res.behind_s, lag)
        if lag < 0:
            time.sleep(-lag)


def _relays(run: SimRun, mediums: dict[int, Medium], client: mqtt.Client, venue: str) -> ZoneRelays:
    def publish(relay_id: str, batch: bytes) -> None:
        client.publish(topic(venue, "relay", relay_id, "batch"), batch)

    return ZoneRelays(mediums, run.relay_zone, run.relay_ids, run.medium.relay_up, publish)


def _close(
    relays: ZoneRelays | None,
    mediums: dict[int, Medium],
    client: mqtt.Client | None,
    res: FaithfulResult,
) -> None:
    """The relays, the BLE mediums and the broker connection, whichever were made."""
    if relays is not None:
        relays.close()
        res.reports_relayed, res.reports_unheard = relays.relayed, relays.unheard
    for medium in mediums.values():
        medium.close()
    if client is not None:
        client.loop_stop()
        client.disconnect()


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
