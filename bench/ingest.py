"""`crowdpulse bench ingest`: the gateway's intake, against a real Mosquitto.

1. Relay batches: a real `crowdpulse gateway` process, 20,000 bands; a
   publisher floods 2,000-report batches of correctly signed, fresh reports;
   the rate is the growth of the gateway's own accepted counter (/metrics)
   over the steady part of the run.
2. Direct band messages: one MQTT message per report; the gateway's intake
   rate (accepted + rejected) over the same window as `mosquitto_sub`
   receiving the same stream.
3. Tick duration with 20,000 active bands, in-process, p99 over 1000 ticks;
   then the same bands with one of them a music reference, as docs/deploy.md
   sets a venue up (each band compared with it bucket by bucket: far more work
   per tick), p99 over 200 ticks.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from crowdpulse.broker import Mosquitto, free_port
from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.venuefile import VenueFile, Zone
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.reportcodec import relay_batch
from crowdpulse.sim.runs.runner import sign
from crowdpulse.supervisor import GatewayPart
from wristband import packet

BANDS = 20_000
VENUE = "bench"
# interval 10 ms, then laeq, voice, mid, low, top, tonal, fluct, motion (absent), claps, status
_CODES = np.array([1, 150, 160, 1, 40, 140, 8, 30, packet.MOTION_ABSENT, 0, 0], np.uint8)


class Fleet:
    """Signs fresh reports for every band of the venue, thousands at a time."""

    def __init__(self, registry: Registry) -> None:
        self.reg = registry
        self.seq = np.zeros(len(registry), np.int64)
        self.epoch = -1
        self.ids = np.zeros(0, np.uint32)

    def reports(self, bands: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
        epoch = packet.epoch_of(int(time.time()))
        if epoch != self.epoch:
            self.epoch, self.ids = epoch, self.reg.ids_for_epoch(epoch)
        # 10 ms of audio each (well inside every band's rate), steady music
        codes = np.broadcast_to(_CODES, (len(bands), packet.N_CODES))
        return sign(self.reg, self.ids, self.seq, bands, codes, epoch)

    def batch(self, bands: npt.NDArray[np.int64]) -> bytes:
        reps = self.reports(bands)
        now = int(time.time() * 1000)
        return relay_batch(reps, np.full(len(reps), -60.0), np.full(len(reps), now))


def _venue(tmp: Path, venue_key: bytes, bands: int = BANDS, venue: str = VENUE) -> VenueFile:
    """A one-zone venue of bands B00001..., its key (written), a free HTTP port."""
    (tmp / "venue.key").write_text(venue_key.hex())
    floor = Zone("floor", [f"B00001-B{bands:05d}"])
    return VenueFile(venue, "venue.key", [floor], http_port=free_port(), token="x", db_path="gw.db")


def _counter(port: int, names: tuple[str, ...]) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(names) and not line.startswith("#")
    )


def _publisher(broker: Mosquitto) -> Any:
    url = BrokerURL.parse(broker.url)
    client = make_client(url)
    client.max_queued_messages_set(0)
    client.connect(url.host, url.port)
    client.loop_start()
    return client


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batched(
    broker: Mosquitto, fleet: Fleet, port: int, pid: int, reports: int = 3_000_000
) -> tuple[float, float]:
    """(accepted reports per second, the gateway's CPU share meanwhile).

    The gateway is paused (SIGSTOP) while the broker is filled with `reports`
    signed, fresh reports in 2,000-report batches; then it is resumed and the
    rate is how fast its accepted counter climbs while it drains them.  So
    the load generator never competes with the gateway for the CPU."""
    warm = _publisher(broker)
    t = topic(VENUE, "relay", "bench", "batch")
    warm.publish(t, fleet.batch(np.arange(2000))).wait_for_publish(10)  # compile, connect
    _settle(port)
    base = _counter(port, ("crowdpulse_reports_accepted_total",))
    rng = np.random.default_rng(0)
    order = np.arange(BANDS)
    batches: list[bytearray] = []
    while len(batches) * 2000 < reports:
        rng.shuffle(order)
        batches += [bytearray(fleet.batch(order[i : i + 2000])) for i in range(0, BANDS, 2000)]
    os.kill(pid, signal.SIGSTOP)
    try:
        for buf in batches:
            buf[4:12] = struct.pack(">Q", int(time.time() * 1000))
            warm.publish(t, bytes(buf)).wait_for_publish(30)
    finally:
        os.kill(pid, signal.SIGCONT)
    c0, t0 = _cpu(pid), time.monotonic()
    total = len(batches) * 2000
    done = base
    while done < base + total and time.monotonic() - t0 < 60:
        time.sleep(0.05)
        done = _counter(port, ("crowdpulse_reports_accepted_total",))
    elapsed = time.monotonic() - t0
    warm.loop_stop()
    return (done - base) / elapsed, (_cpu(pid) - c0) / elapsed


def _settle(port: int, timeout: float = 60.0) -> None:
    """Wait until the gateway has worked through what the broker still holds for it."""
    names = ("crowdpulse_reports_accepted_total", "crowdpulse_reports_rejected_total")
    last, deadline = -1.0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _counter(port, names)
        if now == last:
            return
        last = now
        time.sleep(1.0)


def direct(broker: Mosquitto, fleet: Fleet, port: int, seconds: float = 6.0) -> dict[str, float]:
    sub_exe = shutil.which("mosquitto_sub")
    if sub_exe is None:
        raise RuntimeError("mosquitto_sub not found: apt-get install -y mosquitto-clients")
    pattern = topic(VENUE, "band", "+", "report")
    sub = subprocess.Popen(
        [sub_exe, "-h", "127.0.0.1", "-p", str(broker.port), "-t", pattern, "-F", "%l"],
        stdout=subprocess.PIPE,
    )
    lines = [0]

    def count() -> None:
        assert sub.stdout is not None
        for _ in sub.stdout:
            lines[0] += 1

    threading.Thread(target=count, daemon=True).start()
    time.sleep(0.5)
    names = ("crowdpulse_reports_accepted_total", "crowdpulse_reports_rejected_total")
    rounds = 12  # fresh sequence numbers for every report sent
    reps = np.concatenate([fleet.reports(np.arange(BANDS)) for _ in range(rounds)])
    # the load generator runs niced in its own process, so that it does not take
    # the CPU away from the two subscribers being compared
    pub = subprocess.Popen(
        ["nice", "-n", "10", sys.executable, "-c", _PUBLISHER, broker.url, VENUE, str(BANDS)],
        stdin=subprocess.PIPE,
    )
    assert pub.stdin is not None
    feeder = threading.Thread(target=_feed, args=(pub.stdin, reps.tobytes()))
    feeder.start()
    stop = time.monotonic() + seconds
    marks: list[tuple[float, int, float]] = []
    # at least three marks: the first second is the start-up, and on a loaded
    # machine one /metrics read can take longer than the whole run
    while (time.monotonic() < stop or len(marks) < 3) and pub.poll() is None:
        marks.append((time.monotonic(), lines[0], _counter(port, names)))
        time.sleep(1.0)
    pub.kill()
    feeder.join(5)
    sub.terminate()
    if len(marks) < 3:
        raise RuntimeError("bench ingest: the load generator stopped before two rates were read")
    (t0, s0, g0), (t1, s1, g1) = marks[1], marks[-1]
    sub_rate, gw_rate = (s1 - s0) / (t1 - t0), (g1 - g0) / (t1 - t0)
    return {
        "direct_msgs_per_s": gw_rate,
        "mosquitto_sub_msgs_per_s": sub_rate,
        "direct_ratio_vs_mosquitto_sub": gw_rate / sub_rate if sub_rate else 0.0,
    }


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:  # the load generator is killed when the measuring ends
        pass


_PUBLISHER = """
import sys
from crowdpulse.mqtt import BrokerURL, make_client, topic
url, venue, bands = BrokerURL.parse(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = make_client(url)
c.max_queued_messages_set(0)
c.connect(url.host, url.port)
c.loop_start()
topics = [topic(venue, "band", "B%05d" % (b + 1), "report") for b in range(bands)]
i = 0
while True:
    r = sys.stdin.buffer.read(23)
    if len(r) < 23:
        break
    c.publish(topics[i % bands], r)
    i += 1
c.loop_stop()
"""


def tick_p99(registry: Registry, fleet: Fleet, ticks: int = 1000) -> float:
    engine = Engine(VENUE, registry)
    now = int(time.time() * 1000)
    for k in range(8):  # every band reports every 500 ms for 4 s; then all are active
        for i in range(0, BANDS, 5000):
            engine.ingest_batch(fleet.batch(np.arange(i, i + 5000)), at_ms=now - 500 * (7 - k))
    times = []
    for i in range(ticks):
        start = time.perf_counter()
        engine.tick(now + i % 100)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.percentile(times[50:], 99))


VENUE_KEY = bytes(range(32))


def _bands() -> list[tuple[str, str]]:
    return [(f"B{i:05d}", "floor") for i in range(1, BANDS + 1)]


def run(seconds: float = 8.0) -> dict[str, Any]:
    venue_key = VENUE_KEY
    registry = Registry(venue_key, _bands(), ["floor"])
    fleet = Fleet(registry)
    out: dict[str, Any] = {"bands": BANDS, "tick_p99_ms": tick_p99(registry, fleet)}
    referenced = Registry(venue_key, _bands(), ["floor"], references=[registry.band_ids[0]])
    out["tick_p99_reference_ms"] = tick_p99(referenced, Fleet(referenced), ticks=200)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        spec, cfg = _venue(Path(tmp), venue_key), Path(tmp) / "venue.toml"
        cfg.write_text(spec.text())
        gw = GatewayPart(broker.url, cfg, spec.http_port, Path(tmp) / "gateway.log")
        try:
            gw.wait_up(timeout=60.0)
            rate, cpu = batched(broker, fleet, gw.port, gw.proc.pid, int(seconds * 400_000))
            out["batched_reports_per_s"] = rate
            out["batched_gateway_cpu_share"] = cpu
            out["batched_reports_per_gateway_cpu_s"] = rate / cpu if cpu else 0.0
            out.update(direct(broker, fleet, gw.port, seconds))
        finally:
            gw.stop(grace=10.0)
    return out
