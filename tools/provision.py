"""`crowdpulse provision`: many bands from a fleet file, in parallel, resumable.

The fleet file is `band_id,zone[,transport]`, one band a line (a header line
and `#` comments are allowed), as in the venue file's `fleet_file`.  Band ids
are logical: a band gets its id when it is provisioned.  So each run:

1. asks every connected band who it is (the band_id in its config.json, read
   on the band: no key leaves it);
2. keeps a band that already carries an id of this fleet on that id (an
   interrupted band is finished as the same band), skips it when the fleet
   record says that id is done with this firmware, zone and transport (it is
   only restarted), and gives every other band the next id still to do;
3. flashes them, `parallel` at a time, and appends one JSON line per band to
   the fleet record: band, port, time, firmware hash, zone, transport, result.

Run the same command again after an interruption, or with the next bands
plugged in: bands recorded as done are never flashed again.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from serial.tools import list_ports

from crowdpulse.names import NAME_RE
from crowdpulse.tools import bandconfig
from crowdpulse.tools.link import Link
from wristband import packet

# USB-serial bridges on ESP32 boards, and Espressif's own USB
BAND_VIDS = {0x10C4: "CP210x", 0x1A86: "CH34x", 0x0403: "FTDI", 0x303A: "Espressif"}
T = TypeVar("T")
R = TypeVar("R")


class FleetError(ValueError):
    """The fleet file or the ports cannot be used (one line)."""


@dataclass(frozen=True)
class FleetBand:
    band_id: str
    zone: str
    transport: str


def read_fleet(path: Path, default_transport: str) -> list[FleetBand]:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as exc:
        raise FleetError(f"{path}: {exc.strerror}") from None
    out: list[FleetBand] = []
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#") or cells[0].lower() == "band_id":
            continue
        transport = cells[2] if len(cells) > 2 and cells[2] else default_transport
        try:
            packet.check_band_id(cells[0])
        except packet.PacketError:
            raise FleetError(
                f"{path}, row {n}: band_id must be 1-32 of A-Z a-z 0-9 . _ -"
            ) from None
        if len(cells) < 2 or not NAME_RE.fullmatch(cells[1]):
            raise FleetError(f"{path}, row {n}: need band_id,zone[,transport] (zone: a-z 0-9 _ -)")
        if transport not in bandconfig.TRANSPORTS:
            raise FleetError(f"{path}, row {n}: transport must be ble, mqtt or both")
        out.append(FleetBand(cells[0], cells[1], transport))
    if len({b.band_id for b in out}) != len(out):
        raise FleetError(f"{path}: a band id appears twice")
    if not out:
        raise FleetError(f"{path}: no bands")
    return out


class Record:
    """The fleet record: JSON lines, appended and flushed one band at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                self.entries.append(dict(json.loads(line)))
            except ValueError:
                continue  # a line torn by a crash: that band simply is not done

    def done(self, band: FleetBand, firmware: str) -> bool:
        last = next(
            (
                e
                for e in reversed(self.entries)
                if e.get("band") == band.band_id and e.get("result") in ("done", "skipped")
            ),
            None,
        )
        return bool(
            last
            and last.get("firmware") == firmware
            and last.get("zone") == band.zone
            and last.get("transport") == band.transport
        )

    def add(self, band: FleetBand, port: str, firmware: str, result: str, **extra: Any) -> None:
        entry = {
            "band": band.band_id,
            "port": port,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "firmware": firmware,
            "zone": band.zone,
            "transport": band.transport,
            "result": result,
            **extra,
        }
        with self._lock:
            self.entries.append(entry)
            with self.path.open("a") as fh:
                fh.write(json.dumps(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def find_ports(spec: str) -> list[str]:
    if spec != "auto":
        ports = [p.strip() for p in spec.split(",") if p.strip()]
        if len(set(ports)) != len(ports):
            raise FleetError("--ports lists a port twice")
        return ports
    found = sorted(p.device for p in list_ports.comports() if p.vid in BAND_VIDS)
    if not found:
        raise FleetError(
            "no bands found: no USB serial port of an ESP32 board is connected "
            "(pass --ports to name them)"
        )
    return found


def identify(port: str, connect_timeout: float) -> str | None:
    """The band id a band carries (None for a blank band); the band is left in its REPL."""
    link = Link(port, connect_timeout)
    try:
        link.open()
        link.raw_repl()
        return link.probe().band_id
    finally:
        link.close()


@dataclass(frozen=True)
class Assignment:
    port: str
    band: FleetBand
    flash: bool  # False: already done, only restart it


def assign(
    found: dict[str, str | None],
    fleet: list[FleetBand],
    record: Record,
    firmware: str,
    force: bool = False,
) -> list[Assignment]:
    """Which band id each port's band gets, in port order (see the module docstring)."""
    by_id = {b.band_id: b for b in fleet}
    done = set() if force else {b.band_id for b in fleet if record.done(b, firmware)}
    carried = {bid for bid in found.values() if bid in by_id}
    todo = [b for b in fleet if b.band_id not in done and b.band_id not in carried]
    out, seen = [], set()
    for port, bid in found.items():
        if bid in by_id and bid not in seen:
            seen.add(bid)
            out.append(Assignment(port, by_id[bid], bid not in done))
        elif todo:
            out.append(Assignment(port, todo.pop(0), True))
    return out


def parallel(
    items: Iterable[T],
    fn: Callable[[T], R],
    workers: int,
    done: Callable[[T, R | BaseException], None],
) -> None:
    """Run fn over items on daemon threads, `workers` at a time; Ctrl-C stays responsive.

    Daemon threads, not an executor: after Ctrl-C the process must exit now, not
    when the bands in flight are finished (the next run repairs them).
    """
    jobs: queue.Queue[T] = queue.Queue()
    for item in items:
        jobs.put(item)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            try:
                item = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                res: R | BaseException = fn(item)
            except Exception as exc:  # reported per item by `done`
                res = exc
            with lock:
                done(item, res)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)


def write_mqtt_passwords(
    path: Path, venue_key: bytes, fleet: list[FleetBand], settings: bandconfig.Settings
) -> int:
    """`band_id password` lines for Mosquitto (docs/deploy.md §4), readable by the owner only."""
    rows = [b for b in fleet if b.transport != "ble"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for b in rows:
            pw = settings.mqtt_password or bandconfig.mqtt_password(venue_key, b.band_id)
            fh.write(f"{settings.mqtt_user or b.band_id} {pw}\n")
    return len(rows)


def elapsed(t0: float) -> float:
    return round(time.monotonic() - t0, 1)
