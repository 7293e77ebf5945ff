"""`crowdpulse demo`: the best end-to-end run the project can do so far.

Today: a few bands, each hearing its own mix of a short scene (music, then the
crowd claps and applauds).  Each band is the firmware's own pipeline and packet
code running in the real MicroPython unix port; its signed reports travel as
direct band reports through a real Mosquitto; a subscriber checks every tag
with keys derived from the venue key and prints what the bands heard.  The
full crowd demo (issue 7) replaces this.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from crowdpulse import mpy
from crowdpulse.broker import BrokerError, Mosquitto
from crowdpulse.cli import CliError
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim import signals as S
from wristband import packet as P

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "band_reports_mpy.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bands", type=int, default=4, help="number of bands (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="scene length (default 6 s)")


def _scene(seconds: float, rng: np.random.Generator) -> np.ndarray:
    music = S.drum_music(seconds, rng, dbfs=-24.0)
    crowd = np.zeros_like(music)
    start = S.seconds(seconds / 2)
    crowd[start:] = S.crowd_applause(seconds - seconds / 2, rng, dbfs=-16.0)[: len(music) - start]
    return music + crowd


def _band(key: bytes, audio: np.ndarray) -> list[bytes]:
    args = [key.hex(), str(P.epoch_of(time.time())), "-2600", "250"]
    proc = subprocess.run(mpy.command(SCRIPT, args), input=S.to_int16(audio).tobytes(),
                          capture_output=True, env=mpy.env_with_path(), timeout=300, check=False)
    if proc.returncode != 0:
        raise CliError("MicroPython band failed: " + proc.stderr.decode(errors="replace")[-200:])
    return [bytes.fromhex(line) for line in proc.stdout.decode().split()]


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.bands <= 50 or not 1.0 <= args.seconds <= 60.0:
        raise CliError("--bands must be 1-50 and --seconds 1-60")
    venue, venue_key = "demo", secrets.token_bytes(32)
    keys = {f"B{i:04d}": P.band_key(venue_key, f"B{i:04d}") for i in range(1, args.bands + 1)}
    rng = np.random.default_rng(7)
    scene = _scene(args.seconds, rng)
    try:
        broker = Mosquitto().start()
    except BrokerError as exc:
        raise CliError(str(exc)) from None
    print(f"broker: Mosquitto on {broker.url}")
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((msg.topic.split("/")[-2], bytes(msg.payload)))

    sent = 0
    try:
        url = BrokerURL.parse(broker.url)
        sub = make_client(url, "demo-gateway")
        sub.on_message = on_message
        sub.connect(url.host, url.port)
        sub.subscribe(topic(venue, "band", "+", "report"), qos=1)
        sub.loop_start()
        pub = make_client(url, "demo-bands")
        pub.connect(url.host, url.port)
        pub.loop_start()
        time.sleep(0.3)
        for i, (band, key) in enumerate(keys.items()):
            gain = S.db_to_gain(-6.0 * i / max(args.bands - 1, 1))  # bands further from the PA
            reports = _band(key, scene * gain)
            print(f"{band}: the firmware in MicroPython made {len(reports)} signed reports")
            for report in reports:
                pub.publish(topic(venue, "band", band, "report"), report, qos=1).wait_for_publish(5)
                sent += 1
        deadline = time.monotonic() + 5
        while len(received) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        pub.loop_stop()
        sub.loop_stop()
    finally:
        broker.close()
    return _summary(received, keys, sent)


def _summary(received: list[tuple[str, bytes]], keys: dict[str, bytes], sent: int) -> int:
    good = [(band, P.decode(r)) for band, r in received if P.verify(r, keys[band])]
    print(f"received {len(received)}/{sent} reports through Mosquitto, {len(good)} with a valid tag")
    print("band    t(s)  LAeq  LAFmax claps applause voice+dB flags")
    for band in keys:
        rows = [r for b, r in good if b == band]
        t = 0.0
        for r in rows[::4]:
            print(f"{band}  {t:4.1f} {r.laeq_db:5.1f} {r.lafmax_db:6.1f} {r.claps:5d} "
                  f"{r.applause:8.2f} {r.voice_excess_db:8.2f} {r.flags:#04x}")
            t += 4 * r.interval_ms / 1000
    return 0 if len(good) == sent else 1
