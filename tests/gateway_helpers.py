"""Helpers for tests that run the real gateway against a real Mosquitto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from crowdpulse.broker import free_port
from crowdpulse.keys import load_venue_key
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.supervisor import GatewayPart, PartStoppedError
from wristband import packet

EXE = str(Path(sys.executable).parent / "crowdpulse")
VENUE = "testclub"


def write_venue(
    tmp: Path, extra: str = "", bands: tuple[str, str] = ("B0001-B0020", "B0021-B0030")
) -> Path:
    key = tmp / "venue.key"
    if not key.exists():
        subprocess.run([EXE, "packet", "keygen", str(key)], check=True, capture_output=True)
    port = free_port()
    cfg = tmp / "venue.toml"
    cfg.write_text(f"""venue = "{VENUE}"
[keys]
venue_key_file = "venue.key"
[[zones]]
name = "floor"
bands = ["{bands[0]}"]
[[zones]]
name = "bar"
weight = 0.5
bands = ["{bands[1]}"]
[storage]
path = "gateway.db"
[http]
port = {port}
[console]
token = "test-token"
{extra}
""")
    return cfg


def http_port(cfg: Path) -> int:
    for line in cfg.read_text().splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1])
    raise AssertionError("no port")


class GatewayProc:
    """The real gateway for a test: crowdpulse.supervisor's GatewayPart, as the demo and
    the benches start it, with its log in the venue file's folder."""

    def __init__(self, broker_url: str, cfg: Path, *args: str) -> None:
        self.cfg = cfg
        fd, log = tempfile.mkstemp(prefix="gateway-", suffix=".log", dir=cfg.parent)
        os.close(fd)
        self.part = GatewayPart(broker_url, cfg, http_port(cfg), Path(log), *args)
        self.proc, self.port = self.part.proc, self.part.port

    def wait_ready(self, timeout: float = 120.0, mqtt: bool = True) -> GatewayProc:
        """Until the API answers and (by default) the gateway is subscribed."""
        try:
            self.part.wait_up(timeout, mqtt)
        except PartStoppedError as exc:
            raise AssertionError(f"{exc}\n{self.part.log.read_text(errors='replace')}") from None
        return self

    def get(self, path: str) -> Any:
        return self.part.get(path)

    def stop(self, sig: int = signal.SIGINT, grace: float = 15.0) -> str:
        """SIGINT (Ctrl-C at the console) by default; the gateway's whole output."""
        self.part.stop(sig, grace)
        return self.part.log.read_text(errors="replace")


class Bands:
    """Signs reports for the venue's bands as their firmware would."""

    def __init__(self, cfg: Path, ids: list[str]) -> None:
        vk = load_venue_key(cfg.parent / "venue.key")
        self.keys = {b: packet.band_key(vk, b) for b in ids}
        self.seq = dict.fromkeys(ids, 0)

    def reports(self, at_ms: int, **fields: Any) -> list[bytes]:
        f = dict(
            interval_ms=250,
            laeq_db=95.0,
            voice_db=90.0,
            mid_db=85.0,
            low_db=98.0,
            top_db=80.0,
            tonal=0.4,
            fluct_db=1.5,
            claps=1,
        )
        f.update(fields)
        out = []
        for b, k in self.keys.items():
            out.append(packet.encode(k, packet.epoch_of(at_ms // 1000), self.seq[b], **f))  # type: ignore[arg-type]
            self.seq[b] = (self.seq[b] + 1) & 0xFFFF
        return out


def publisher(broker_url: str) -> Any:
    url = BrokerURL.parse(broker_url)
    c = make_client(url)
    c.connect(url.host, url.port)
    c.loop_start()
    return c


def send_batch(client: Any, reports: list[bytes], at_ms: int, relay: str = "r1") -> None:
    client.publish(
        topic(VENUE, "relay", relay, "batch"),
        packet.encode_batch([(r, -60, at_ms) for r in reports], at_ms),
    ).wait_for_publish(5)


def band_ids(lo: int, hi: int) -> list[str]:
    return [f"B{i:04d}" for i in range(lo, hi + 1)]


def metric(text: str, name: str) -> float:
    """The value of one sample line of a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")
