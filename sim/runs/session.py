"""Running a scenario: offline, against a gateway engine in this process on
simulated time (tests and the accuracy bench), or live, on the wall clock,
through a broker to a real gateway (`crowdpulse sim --scenario ... --broker`).

Either way the ground truth goes with the run: a CSV of the crowd's true
engagement per second, per zone and for the venue.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr

from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.sentiment import Model
from crowdpulse.gateway.venuefile import VenueFile, Zone
from crowdpulse.mqtt import BrokerURL, topic
from crowdpulse.sim.runs.runner import REFERENCE_ID, SimRun, Truth, split
from crowdpulse.sim.runs.sinks import EngineSink, MqttSink
from crowdpulse.sim.world.acoustics import Floor
from crowdpulse.sim.world.radio import Stats
from crowdpulse.sim.world.scenario import Scenario

RATE_CONTROL_S = 5.0  # as the gateway: a new advertising interval at most this often
BEHIND_WARN_S = 1.0


class BrokerDownError(RuntimeError):
    """The broker did not accept a connection in time."""


def why_not_connected(url: BrokerURL, ca_file: str | None, venue: str) -> str:
    """One line: why the broker did not take the simulator (unreachable, TLS, login)."""
    from crowdpulse.gateway.brokerprobe import probe

    problem = probe(url, ca_file, venue, acl=False)[0].problem
    if problem is None:
        return f"the broker at {url.host}:{url.port} did not accept the simulator in time"
    return problem.what + (f"; fix: {problem.fix}" if problem.fix else "")


@dataclass
class Result:
    scenario: str
    devices: int
    truth: Truth
    zones: list[str]
    estimate: list[float | None] = field(
        default_factory=list
    )  # the gateway's venue score, per truth row
    radio: Stats = field(default_factory=Stats)
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    behind_s: float = 0.0

    def accuracy(self, settle_s: float = 10.0) -> tuple[float, float, int]:
        """(mean absolute error, Spearman rho, samples) of the venue score against
        the truth, after the first settle_s (the gateway's windows filling)."""
        return accuracy(self.truth, self.estimate, settle_s)

    def summary(self, mode: str, truth_csv: Path) -> dict[str, object]:
        """What `crowdpulse sim` prints: the run, and how the score did where the
        gateway was in this process (else how far behind real time it fell)."""
        out: dict[str, object] = {
            "scenario": self.scenario,
            "devices": self.devices,
            "mode": mode,
            "sim_s": round(self.truth.scene_s[-1] + 1, 1) if self.truth.scene_s else 0.0,
            "wall_s": round(self.wall_s, 1),
            "radio_loss": round(self.radio.loss, 3),
            "truth_csv": str(truth_csv),
        }
        if any(e is not None for e in self.estimate):
            mae, rho, n = self.accuracy()
            out.update(
                mae=round(mae, 2),
                spearman=round(rho, 3),
                samples=n,
                accepted=self.accepted,
                rejected=sum(self.rejected.values()),
            )
        else:
            out["max_behind_s"] = round(self.behind_s, 2)
        return out


class VenueMismatchError(ValueError):
    """A venue file whose zones do not hold the scenario's zones."""


def bands_by_zone(
    sc: Scenario, venue_bands: list[tuple[str, str]], venue_zones: list[str], source: str
) -> list[list[str]]:
    """The venue file's bands (band id, zone) for each of the scenario's zones, in order."""
    names = [z.name for z in sc.zones]
    missing = [z for z in names if not any(zone == z for _, zone in venue_bands)]
    if missing:
        raise VenueMismatchError(
            f"the scenario's zones {', '.join(missing)} have no bands in {source} "
            f"(its zones: {', '.join(venue_zones)}); use a scenario with the venue's zone names"
        )
    return [[b for b, zone in venue_bands if zone == z] for z in names]


def accuracy(
    truth: Truth, estimate: list[float | None], settle_s: float = 10.0
) -> tuple[float, float, int]:
    t = np.array(truth.scene_s[: len(estimate)])
    real = _floats(truth.venue[: len(estimate)])
    est = _floats(estimate)
    ok = (t >= settle_s) & np.isfinite(real) & np.isfinite(est)
    if ok.sum() < 3:
        return float("nan"), float("nan"), int(ok.sum())
    rho = float(spearmanr(real[ok], est[ok]).statistic)
    return float(np.mean(np.abs(real[ok] - est[ok]))), rho, int(ok.sum())


def _floats(xs: list[float | None]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if x is None else x for x in xs], dtype=np.float64)


def offline(
    sc: Scenario,
    devices: int,
    venue_key: bytes,
    seed: int | None = None,
    seconds: float | None = None,
    t0_s: float | None = None,
    mode: str = "fast",
    floor: Floor | None = None,
    reference: bool = False,
    model: Model | None = None,
) -> Result:
    """The scenario against an in-process Engine, as fast as the CPU goes; with
    reference, a music reference band (REF) hears the programme alone; model:
    the gateway's constants (default: its own)."""
    started = time.perf_counter()
    run = offline_run(
        sc, devices, venue_key, t0_s, seed=seed, mode=mode, floor=floor, reference=reference
    )
    engine = Engine("sim", run.registry, model or Model())
    sink = EngineSink(engine)
    res = Result(sc.name, devices, run.truth, [z.name for z in sc.zones])
    end = min(sc.duration_s, seconds) if seconds else sc.duration_s
    next_rate = 0.0
    while run.st < end:
        rows = len(run.truth.t_s)
        now_ms = offline_step(run, sink)
        if len(run.truth.t_s) > rows:  # a truth row: what would the gateway say now?
            res.estimate.append(engine.tick(now_ms)["score"])
        next_rate = control_rate(run, engine, now_ms, next_rate)
    res.radio, res.wall_s = run.medium.stats, time.perf_counter() - started
    counters = engine.counters()
    res.accepted, res.rejected = int(counters["accepted"]), dict(counters["rejected"])
    return res


def offline_run(
    sc: Scenario,
    devices: int,
    venue_key: bytes,
    t0_s: float | None,
    seed: int | None = None,
    mode: str = "fast",
    floor: Floor | None = None,
    reference: bool = False,
) -> SimRun:
    """A run on simulated time, from t0_s (default: now, to the whole second)."""
    t0 = t0_s if t0_s is not None else float(int(time.time()))
    return SimRun(
        sc, devices, venue_key, t0, seed=seed, mode=mode, floor=floor, reference=reference
    )


def offline_step(run: SimRun, sink: EngineSink) -> int:
    """One step of an offline run: its reports reach the in-process engine at once,
    as if the radio and the broker took no time.  Returns the simulated now, in ms."""
    run.step(sink)
    now_ms = int((run.t0 + run.t) * 1000)
    sink.flush(now_ms)
    return now_ms


def control_rate(run: SimRun, engine: Engine, now_ms: int, due: float) -> float:
    """As the gateway does: the bands get the engine's advertising interval once
    `due` (a run time) has come, and then not for RATE_CONTROL_S; returns the next due."""
    if run.t < due:
        return due
    run.command({"adv_interval_ms": engine.adv_interval_ms(now_ms)})
    return run.t + RATE_CONTROL_S


class NullSink:
    def batch(self, relay: str, payload: bytes, now_ms: int) -> None:
        pass

    def direct(self, band: str, report: bytes, now_ms: int) -> None:
        pass


class Follower:
    """Plays what the gateway's selector says is playing (`--follow selector`)."""

    def __init__(self, run: SimRun) -> None:
        self.run = run
        self.by_id = {t.id: t for t in run.tracks}
        self.playing: str | None = None

    def on_state(self, data: dict[str, Any]) -> None:
        now = data.get("now_playing")
        if not isinstance(now, dict):
            return
        track_id = str(now.get("track", {}).get("id", ""))
        if track_id != self.playing and track_id in self.by_id:
            self.playing = track_id
            self.run.play(self.by_id[track_id])


def live(
    sc: Scenario,
    devices: int,
    url: BrokerURL,
    venue: str,
    venue_key: bytes,
    speed: float = 1.0,
    seconds: float | None = None,
    follow: bool = False,
    mode: str = "fast",
    say: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
    ca_file: str | None = None,
    band_ids: list[list[str]] | None = None,
    reference: bool = False,
) -> Result:
    """The scenario on the wall clock, through the broker, until done or Ctrl-C.

    band_ids: a venue file's bands per scenario zone.  With credentials in the
    URL (a venue's secured broker), the user is taken for a relay id: every
    batch goes out as that relay's, and every band reports through relays,
    since only a band's own credential may publish its reports.  With
    reference, the reference band REF publishes what the music alone gives."""
    started = time.perf_counter()
    run = SimRun(
        sc,
        devices,
        venue_key,
        time.time(),
        speed=speed,
        mode=mode,
        band_ids=band_ids,
        reference=reference,
    )
    if url.username:
        run.direct[:] = False
    run.step(NullSink())  # the first step compiles the numba kernels: seconds, not 50 ms
    shift = time.time() - run.t - run.t0
    run.t0 += shift
    run.truth.t_s = [t + shift for t in run.truth.t_s]
    res = Result(sc.name, devices, run.truth, [z.name for z in sc.zones])
    follower = Follower(run) if follow else None
    run.follow = "selector" if follow else None

    def on_command(data: dict[str, Any], kind: str) -> None:
        if kind == "state" and follower is not None:
            follower.on_state(data)
        elif kind == "config":
            run.command(data)

    sink = MqttSink(url, venue, on_command, selector=follow, ca_file=ca_file, relay_id=url.username)
    if not sink.connected.wait(5.0):
        sink.close()
        raise BrokerDownError(why_not_connected(url, ca_file, venue))
    # following the selector, the night goes on until Ctrl-C (or --seconds)
    end = seconds * speed if seconds else float("inf") if follow else sc.duration_s
    if not follow:
        end = min(end, sc.duration_s)
    try:
        if follow:
            _wait_for_track(run, sink, say)
        _wall_clock(run, sink, res, end, say)
    except KeyboardInterrupt:
        pass
    finally:
        sink.close()
    res.radio, res.wall_s = run.medium.stats, time.perf_counter() - started
    return res


def _wall_clock(
    run: SimRun, sink: MqttSink, res: Result, end: float, say: Callable[[str], None]
) -> None:
    """live's night, from now until the scene reaches `end`, paced by the wall clock."""
    truth_topic = topic(sink.venue, "sim", "truth")
    warned = False
    origin = time.time() - run.t
    while run.st < end:
        rows = len(run.truth.t_s)
        with sink.lock:
            run.step(sink)
        _publish(run, sink, res, truth_topic, rows)
        lag = time.time() - (origin + run.t)
        res.behind_s = max(res.behind_s, lag)
        if lag > BEHIND_WARN_S:
            if not warned:
                warned = True
                say(
                    f"crowdpulse sim: {lag:.1f} s behind real time with {res.devices} bands; "
                    f"try fewer --devices or --mode fast"
                )
            # a stall (a kernel compiling on first use, a busy host): the
            # radio resumes from now, as real bands would, rather than
            # bursting reports the gateway would refuse as stale or too fast
            origin += lag
            run.t0 += lag
        elif lag < 0:
            time.sleep(-lag)


def _publish(run: SimRun, sink: MqttSink, res: Result, truth_topic: str, rows: int) -> None:
    """After a step: the tracks the artist put on, and a new truth row (if the step,
    which began with `rows` of them, made one)."""
    for t in run.dj_requests:  # the artist puts a track on, as from the console
        sink.client.publish(
            topic(sink.venue, "selector", "cmd"),
            json.dumps({"action": "playing", "track_id": t.id, "who": "artist"}),
            1,
        )
    run.dj_requests = []
    if len(run.truth.t_s) > rows:
        sink.client.publish(truth_topic, json.dumps(truth_row(run.truth, res.zones, -1)), 0, True)


def _wait_for_track(run: SimRun, sink: MqttSink, say: Callable[[str], None]) -> None:
    """Following the selector: if nothing plays, the DJ opens the set with the
    scenario's first pick, through the selector, as from the booth."""
    deadline = time.monotonic() + 3
    while run.crowd.track is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if run.crowd.track is None:
        opener = run.pick(run.timeline[0] if run.timeline else {"pick": "any"})
        say(f"crowdpulse sim: the DJ opens the set with {opener.artist} - {opener.title}")
        sink.client.publish(
            topic(sink.venue, "selector", "cmd"),
            json.dumps({"action": "playing", "track_id": opener.id, "who": "dj"}),
            1,
        )


def truth_row(truth: Truth, zones: list[str], i: int) -> dict[str, Any]:
    return {
        "t": round(truth.t_s[i], 3),
        "scene_s": round(truth.scene_s[i], 1),
        "venue": _round(truth.venue[i]),
        "zones": {z: _round(v) for z, v in zip(zones, truth.zones[i], strict=True)},
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


def write_truth(res: Result, path: Path) -> None:
    """One row per second: the crowd's true engagement (0-100), per zone and venue."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["t_ms", "scene_s", "venue", *res.zones, *(["gateway_venue"] if res.estimate else [])]
        )
        for i, t in enumerate(res.truth.t_s):
            row: list[Any] = [
                int(t * 1000),
                round(res.truth.scene_s[i], 1),
                _round(res.truth.venue[i]),
                *[_round(v) for v in res.truth.zones[i]],
            ]
            if res.estimate:
                row.append(_round(res.estimate[i]) if i < len(res.estimate) else None)
            w.writerow(["" if v is None else v for v in row])


def venue_file(
    sc: Scenario,
    devices: int,
    venue: str,
    key_file: str,
    http_port: int = 8080,
    reference: bool = False,
) -> VenueFile:
    """A venue matching the simulated bands (S00001... by zone), for the gateway;
    with reference, the band REF at the booth, marked as the music reference.
    Set its other fields (token, storage, selector, player) before `text()`."""
    counts = split(devices, [z.share for z in sc.zones])
    zones, first = [], 1
    for zone, n in zip(sc.zones, counts, strict=True):
        zones.append(Zone(zone.name, [f"S{first:05d}-S{first + n - 1:05d}"] if n else []))
        first += n
    ref = (REFERENCE_ID, sc.zones[0].name) if reference else None
    return VenueFile(venue, key_file, zones, http_port=http_port, reference_band=ref)
