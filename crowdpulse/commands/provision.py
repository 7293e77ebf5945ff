"""`crowdpulse provision`: flash and configure the bands of a fleet file (docs/flashing.md)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from crowdpulse.cli import CliError
from crowdpulse.commands.flash import add_link_arguments, settings, venue, venue_note
from crowdpulse.tools import bandconfig, firmware, uplinkwait
from crowdpulse.tools import provision as prov
from crowdpulse.tools.flash import FlashError, Job, flash, restart
from crowdpulse.tools.link import LinkError
from crowdpulse.tools.ui import BandProgress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fleet", required=True, metavar="FILE", help="band_id,zone[,transport] per line"
    )
    parser.add_argument(
        "--ports",
        default="auto",
        help="auto (USB serial ports of ESP32 boards) or a comma-separated list",
    )
    parser.add_argument(
        "--parallel", type=int, default=4, metavar="N", help="bands at once (default 4)"
    )
    parser.add_argument(
        "--venue-key",
        metavar="FILE",
        help="venue key file (default: $CROWDPULSE_VENUE_KEY; or --config)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="the fleet record, JSON lines (default: FLEET.record.jsonl beside the fleet file)",
    )
    parser.add_argument(
        "--transport",
        choices=bandconfig.TRANSPORTS,
        help="for rows without one (default: both with --mqtt-host, else ble)",
    )
    parser.add_argument(
        "--image", metavar="FILE", help="write this MicroPython image on every band first"
    )
    parser.add_argument(
        "--force", action="store_true", help="flash bands the record has as done, too"
    )
    parser.add_argument(
        "--mqtt-passwords",
        metavar="FILE",
        help="write `band_id password` lines for Mosquitto here (mode 600)",
    )
    add_link_arguments(parser)
    bandconfig.add_arguments(parser)


class _Run:
    """One provisioning run: the state its worker threads share."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.venue = venue(args)
        self.key = self.venue.key
        self.settings = settings(args, self.venue)
        transport = args.transport or ("both" if args.mqtt_host else "ble")
        fleet_path = Path(args.fleet)
        try:
            self.fleet = prov.read_fleet(fleet_path, transport)
            for b in self.fleet:
                bandconfig.zone_of(self.venue, b.band_id, b.zone, args.config or "--config")
            self.ports = prov.find_ports(args.ports)
            self.configs = {
                b.band_id: bandconfig.band_config(
                    self.key, b.band_id, b.zone, b.transport, self.settings
                )
                for b in self.fleet
            }
        except (prov.FleetError, bandconfig.ConfigError) as exc:
            raise CliError(str(exc)) from None
        self.record = prov.Record(
            Path(args.record) if args.record else fleet_path.with_suffix(".record.jsonl")
        )
        self.firmware = firmware.firmware_hash()
        self.counts = {"done": 0, "skipped": 0, "failed": 0, "mqtt": 0}
        self.inflight: dict[str, tuple[prov.FleetBand, float]] = {}
        self.lock = threading.Lock()

    # -- phase 1: who is on each port ---------------------------------------------
    def survey(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}

        def seen(port: str, res: str | None | BaseException) -> None:
            if isinstance(res, BaseException):
                self.counts["failed"] += 1
                print(f"{port}: {_one_line(res)}", flush=True)
            else:
                found[port] = res

        prov.parallel(
            self.ports,
            lambda p: prov.identify(p, self.args.connect_timeout),
            self.args.parallel,
            seen,
        )
        return {p: found[p] for p in self.ports if p in found}  # port order, not finish order

    # -- phase 2: flash ---------------------------------------------------------------
    def one(self, a: prov.Assignment, ui: BandProgress) -> str:
        with self.lock:
            self.inflight[a.band.band_id] = (a.band, time.monotonic())
        cfg = self.configs[a.band.band_id]
        wait = self.args.mqtt_timeout if uplinkwait.uses_mqtt(cfg) else 0.0
        if not a.flash:
            outcome = restart(a.port, self.args.connect_timeout, self.args.boot_timeout, wait)
            return "skipped" + self._mqtt(cfg, a.port, outcome)
        job = Job(
            a.port,
            a.band.band_id,
            cfg,
            self.args.board,
            Path(self.args.image) if self.args.image else None,
            connect_timeout=self.args.connect_timeout,
            boot_timeout=self.args.boot_timeout,
            mqtt_timeout=wait,
        )
        result = flash(job, ui.band(a.band.band_id))
        return f"done ({len(result.written)} files written, {result.seconds:.1f} s)" + self._mqtt(
            cfg, a.port, result.mqtt
        )

    def _mqtt(self, cfg: dict[str, Any], port: str, outcome: uplinkwait.Outcome | None) -> str:
        """'; <one line on the band's MQTT uplink>' to add to the band's result line."""
        if outcome is None:
            return ""
        if outcome.state != "up":
            with self.lock:
                self.counts["mqtt"] += 1
        line = uplinkwait.explain(outcome, cfg, port, self.args.mqtt_timeout)
        return "; " + line.removeprefix(f"{cfg['band_id']}: ")

    def finished(self, a: prov.Assignment, res: str | BaseException, ui: BandProgress) -> None:
        _, t0 = self.inflight.pop(a.band.band_id, (a.band, time.monotonic()))
        extra: dict[str, Any] = {"seconds": prov.elapsed(t0)}
        if isinstance(res, BaseException):
            result, extra["error"] = "failed", _one_line(res)
            print(f"{a.band.band_id} on {a.port}: failed: {extra['error']}", flush=True)
        else:
            result = res.split(" ", 1)[0].rstrip(";")
            shown = res if a.flash else "already done; restarted" + res.removeprefix("skipped")
            print(f"{a.band.band_id} on {a.port}: {shown}", flush=True)
        ui.finish(a.band.band_id, result)
        self.counts[result] += 1
        self.record.add(a.band, a.port, self.firmware, result, **extra)

    def interrupted(self) -> None:
        for band, t0 in list(self.inflight.values()):
            self.record.add(band, "", self.firmware, "interrupted", seconds=prov.elapsed(t0))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, FlashError | LinkError | prov.FleetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.parallel <= 64:
        raise CliError("--parallel must be 1-64")
    r = _Run(args)
    note = venue_note(r.venue, args.transport or ("both" if args.mqtt_host else "ble"))
    if note:
        print(note, file=sys.stderr, flush=True)
    if args.mqtt_passwords:
        n = prov.write_mqtt_passwords(Path(args.mqtt_passwords), r.key, r.fleet, r.settings)
        print(f"wrote {n} MQTT passwords to {args.mqtt_passwords}", file=sys.stderr)
    try:
        with BandProgress() as ui:
            plan = prov.assign(r.survey(), r.fleet, r.record, r.firmware, args.force)
            prov.parallel(
                plan, lambda a: r.one(a, ui), args.parallel, lambda a, res: r.finished(a, res, ui)
            )
    except KeyboardInterrupt:
        r.interrupted()
        print(
            f"crowdpulse provision: interrupted; {_left(r)} bands still to do: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    c = r.counts
    mqtt = f"; {c['mqtt']} not up on MQTT (see their lines)" if c["mqtt"] else ""
    print(
        f"provisioned {c['done']} bands, {c['skipped']} already done, {c['failed']} failed{mqtt}; "
        f"{_left(r)} of {len(r.fleet)} still to do (record: {r.record.path})",
        flush=True,
    )
    return 1 if c["failed"] or c["mqtt"] else 0


def _left(r: _Run) -> int:
    return sum(1 for b in r.fleet if not r.record.done(b, r.firmware))
