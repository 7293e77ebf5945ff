"""`crowdpulse monitor`: a band's serial console, decoded.

The band prints one-line events (docs/firmware.md): `crowdpulse: boot ok
band=B0001 fw=0.1.0`, `crowdpulse: state listening`, `crowdpulse: status
state=... reports=...`, config errors, MQTT on/offline.  Each is shown as a
kind and its fields.  A report printed as 46 hex digits (debug builds, or
pasted from a broker) is decoded with wristband.packet into physical units;
with the venue key, its tag is checked with the band key of the band that
last booted.  Anything else is shown as it came.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from crowdpulse.tools.link import open_error
from wristband import packet

_HEX_REPORT = re.compile(r"\b([0-9a-fA-F]{46})\b")
_KV = re.compile(r"(\w+)=(\S+)")
_FLAGS = (
    (packet.FLAG_MUTED, "MUTED"),
    (packet.FLAG_EVENT, "EVENT"),
    (packet.FLAG_CLIPPED, "CLIPPED"),
    (packet.FLAG_DROPPED, "DROPPED"),
)


@dataclass
class Event:
    kind: str  # boot, state, status, config, mqtt, report, event, log
    fields: dict[str, str] = field(default_factory=dict)
    text: str = ""


def _report(hex_text: str, band_key: bytes | None) -> Event:
    raw = bytes.fromhex(hex_text)
    try:
        r = packet.decode(raw)
    except packet.PacketError as exc:
        return Event("log", text=f"malformed report ({exc}): {hex_text}")
    if r.version != packet.VERSION:
        return Event("log", text=f"protocol v{r.version} report (reflash this band): {hex_text}")
    epoch = None if band_key is None else packet.id_epoch(band_key, r.onair, time.time())
    if band_key is not None and epoch is not None:
        r = packet.decode(raw, band_key, epoch)  # the band's own key reads its masked fields
    seq = r.seq if epoch is None else (r.seq - packet.seq_offset(band_key, epoch)) & 0xFFFF
    f = {
        "seq": str(seq),
        "interval": f"{r.interval_ms}ms",
        "laeq": f"{r.laeq_db:.1f}dB",
        "voice": f"{r.voice_db:.1f}dB",
        "mid": f"{r.mid_db:.1f}dB",
        "low": f"{r.low_db:.1f}dB",
        "top": f"{r.top_db:.1f}dB",
        "tonal": f"{r.tonal:.2f}",
        "fluct": f"{r.fluct_db:.2f}dB",
        "claps": str(r.claps),
        "imu_claps": str(r.imu_claps),
        "motion": "-" if r.motion_g is None else f"{r.motion_g:.2f}g",
        "battery": "-" if r.battery_pct is None else f"{r.battery_pct}%",
        "flags": ",".join(name for bit, name in _FLAGS if r.flags & bit) or "-",
    }
    if band_key is not None:
        f["tag"] = "ok" if packet.verify(raw, band_key) else "BAD"
    return Event("report", f)


def parse_line(line: str, band_key: bytes | None = None) -> Event:
    """One console line as an event (never raises)."""
    line = line.strip()
    m = _HEX_REPORT.search(line)
    if m:
        return _report(m.group(1), band_key)
    if not line.startswith("crowdpulse: "):
        return Event("log", text=line)
    body = line[len("crowdpulse: ") :]
    word, _, rest = body.partition(" ")
    if word == "boot":
        verdict, _, tail = rest.partition(" ")
        return Event("boot", {"result": verdict, **dict(_KV.findall(tail))})
    if word == "status":
        return Event("status", dict(_KV.findall(rest)))
    if word == "state":
        return Event("state", {"state": rest})
    if word == "config":
        level, _, msg = rest.partition(": ")
        return Event("config", {"level": level}, msg)
    if word == "mqtt":
        updown, _, why = rest.partition(": ")
        return Event("mqtt", {"link": updown.split()[0] if updown else ""}, why)
    return Event("event", text=body)


def render(ev: Event, when: float | None = None) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(when if when is not None else time.time()))
    fields = " ".join(f"{k}={v}" for k, v in ev.fields.items())
    body = " ".join(x for x in (fields, ev.text) if x)
    return f"{stamp}  {ev.kind:<7} {body}"


class Monitor:
    """Reads a band's console and hands each decoded line to `out` until stopped."""

    def __init__(
        self,
        port: str,
        out: Callable[[str], None],
        venue_key: bytes | None = None,
        baud: int = 115200,
    ) -> None:
        self.port = port
        self.out = out
        self.venue_key = venue_key
        self.baud = baud
        self.band_key: bytes | None = None
        self.stopped = threading.Event()

    def _open(self) -> serial.Serial:
        ser = serial.Serial()
        ser.port, ser.baudrate, ser.timeout, ser.exclusive = self.port, self.baud, 0.2, True
        ser.dtr = ser.rts = (
            False  # keep an ESP32's auto-reset lines idle: watching must not reset it
        )
        try:
            ser.open()
        except (OSError, ValueError) as exc:
            raise open_error(self.port, exc) from None
        return ser

    def run(self) -> None:
        ser = self._open()
        buf = b""
        try:
            while not self.stopped.is_set():
                try:
                    data = ser.read(ser.in_waiting or 1)
                except (OSError, serial.SerialException):
                    self.out(render(Event("log", text=f"{self.port} went away")))
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                for raw in lines:
                    self.line(raw.decode(errors="replace"))
        finally:
            ser.close()

    def line(self, text: str) -> None:
        text = text.strip().strip("\x04")
        if not text:
            return
        ev = parse_line(text, self.band_key)
        if ev.kind == "boot" and self.venue_key is not None and ev.fields.get("band"):
            try:
                self.band_key = packet.band_key(self.venue_key, ev.fields["band"])
            except packet.PacketError:
                self.band_key = None
        self.out(render(ev))
