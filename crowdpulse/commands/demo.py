"""`crowdpulse demo`: the best end-to-end run the project can do so far.

Today: the firmware's own packet code, under the real MicroPython, signs
reports for a few bands; they travel through a real Mosquitto as direct band
reports; a subscriber checks every tag with keys derived from the venue key.
Issue 7 replaces this with the full crowd demo.
"""

from __future__ import annotations

import argparse
import secrets
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from wristband import packet as P

from crowdpulse import mpy
from crowdpulse.broker import BrokerError, Mosquitto
from crowdpulse.cli import CliError
from crowdpulse.mqtt import BrokerURL, make_client, topic

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sign_reports.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bands", type=int, default=5, help="number of bands (default 5)")
    parser.add_argument("--reports", type=int, default=8, help="reports per band (default 8)")


def _sign_under_micropython(keys: dict[str, bytes], reports: int) -> list[tuple[str, bytes]]:
    lines = [f"{band} {key.hex()} {P.epoch_of(time.time())} {reports}" for band, key in keys.items()]
    result = mpy.run(SCRIPT, input_bytes="\n".join(lines).encode() + b"\n")
    if result.returncode != 0:
        raise CliError("MicroPython failed: " + result.stderr.decode(errors="replace").strip()[-200:])
    out = []
    for line in result.stdout.decode().split():
        band, hexreport = line.split(":")
        out.append((band, bytes.fromhex(hexreport)))
    return out


def run(args: argparse.Namespace) -> int:
    venue, venue_key = "demo", secrets.token_bytes(32)
    keys = {f"B{i:04d}": P.band_key(venue_key, f"B{i:04d}") for i in range(1, args.bands + 1)}
    try:
        broker = Mosquitto().start()
    except BrokerError as exc:
        raise CliError(str(exc)) from None
    print(f"broker: Mosquitto on {broker.url}")
    received: list[tuple[str, bytes]] = []
    done = threading.Event()
    expected = args.bands * args.reports

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append((msg.topic.split("/")[-2], bytes(msg.payload)))
        if len(received) >= expected:
            done.set()

    try:
        url = BrokerURL.parse(broker.url)
        sub = make_client(url, "demo-gateway")
        sub.on_message = on_message
        sub.connect(url.host, url.port)
        sub.subscribe(topic(venue, "band", "+", "report"), qos=1)
        sub.loop_start()
        time.sleep(0.3)
        signed = _sign_under_micropython(keys, args.reports)
        print(f"MicroPython signed {len(signed)} reports with the firmware's packet module")
        pub = make_client(url, "demo-bands")
        pub.connect(url.host, url.port)
        pub.loop_start()
        for band, report in signed:
            pub.publish(topic(venue, "band", band, "report"), report, qos=1)
        done.wait(10)
        pub.loop_stop()
        sub.loop_stop()
    finally:
        broker.close()
    good = sum(P.verify(report, keys[band]) for band, report in received)
    for band, report in received[: args.bands]:
        r = P.decode(report)
        print(f"{band} seq={r.seq} LAeq={r.laeq_db:.1f} dB claps={r.claps} tag ok={P.verify(report, keys[band])}")
    print(f"received {len(received)}/{expected} reports through Mosquitto, {good} with a valid tag")
    return 0 if good == expected else 1
