"""One provisioning run over a fleet: survey the ports, flash, record, resume.

`crowdpulse provision` builds `Options` from its arguments and calls `run()`;
the fleet file, port survey, assignment and record are crowdpulse.tools.provision's.
Progress goes to stdout one line per band (a technician reads it scrolling
by), with the live bars of crowdpulse.tools.ui beside it.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdpulse.tools import bandconfig, firmware, provision, uplinkwait
from crowdpulse.tools.flash import FlashError, Job, flash, restart
from crowdpulse.tools.link import LinkError
from crowdpulse.tools.ui import BandProgress
from wristband import boards


@dataclass(frozen=True)
class Options:
    """What a run needs besides the venue: the fleet and how to reach the bands."""

    fleet: Path
    transport: str
    ports: str = "auto"
    record: Path | None = None
    parallel: int = 4
    force: bool = False
    board: str = boards.DEFAULT
    image: Path | None = None
    connect_timeout: float = 8.0
    boot_timeout: float = 30.0
    mqtt_timeout: float = 0.0
    config_name: str = "--config"  # where zones come from, for error lines


class FleetRun:
    """One provisioning run: the state its worker threads share."""

    def __init__(
        self, opts: Options, venue: bandconfig.Venue, settings: bandconfig.Settings
    ) -> None:
        """Reads the fleet and finds the ports; a bad fleet file or zone raises
        `provision.FleetError` or `bandconfig.ConfigError` (one line)."""
        self.opts = opts
        self.key = venue.key
        self.settings = settings
        self.fleet = provision.read_fleet(opts.fleet, opts.transport)
        for b in self.fleet:
            bandconfig.zone_of(venue, b.band_id, b.zone, opts.config_name)
        self.ports = provision.find_ports(opts.ports)
        self.configs = {
            b.band_id: bandconfig.band_config(self.key, b.band_id, b.zone, b.transport, settings)
            for b in self.fleet
        }
        self.record = provision.Record(opts.record or opts.fleet.with_suffix(".record.jsonl"))
        self.firmware = firmware.firmware_hash()
        self.counts = {"done": 0, "skipped": 0, "failed": 0, "mqtt": 0}
        self.inflight: dict[str, tuple[provision.FleetBand, float]] = {}
        self.lock = threading.Lock()

    # -- phase 1: who is on each port ---------------------------------------------
    def survey(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}

        def seen(port: str, res: str | None | BaseException) -> None:
            if isinstance(res, BaseException):
                self.counts["failed"] += 1
                print(f"{port}: {one_line(res)}", flush=True)
            else:
                found[port] = res

        provision.parallel(
            self.ports,
            lambda p: provision.identify(p, self.opts.connect_timeout),
            self.opts.parallel,
            seen,
        )
        return {p: found[p] for p in self.ports if p in found}  # port order, not finish order

    # -- phase 2: flash ---------------------------------------------------------------
    def one(self, a: provision.Assignment, ui: BandProgress) -> str:
        with self.lock:
            self.inflight[a.band.band_id] = (a.band, time.monotonic())
        cfg = self.configs[a.band.band_id]
        opts = self.opts
        wait = opts.mqtt_timeout if uplinkwait.uses_mqtt(cfg) else 0.0
        if not a.flash:
            outcome = restart(a.port, opts.connect_timeout, opts.boot_timeout, wait)
            return "skipped" + self._mqtt(cfg, a.port, outcome)
        job = Job(
            a.port,
            a.band.band_id,
            cfg,
            opts.board,
            opts.image,
            connect_timeout=opts.connect_timeout,
            boot_timeout=opts.boot_timeout,
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
        line = uplinkwait.explain(outcome, cfg, port, self.opts.mqtt_timeout)
        return "; " + line.removeprefix(f"{cfg['band_id']}: ")

    def finished(self, a: provision.Assignment, res: str | BaseException, ui: BandProgress) -> None:
        _, t0 = self.inflight.pop(a.band.band_id, (a.band, time.monotonic()))
        extra: dict[str, Any] = {"seconds": provision.elapsed(t0)}
        if isinstance(res, BaseException):
            result, extra["error"] = "failed", one_line(res)
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
            self.record.add(band, "", self.firmware, "interrupted", seconds=provision.elapsed(t0))

    def left(self) -> int:
        """Bands of the fleet the record does not have as done with this firmware."""
        return sum(1 for b in self.fleet if not self.record.done(b, self.firmware))


def one_line(exc: BaseException) -> str:
    if isinstance(exc, FlashError | LinkError | provision.FleetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def run(r: FleetRun) -> int:
    """Flash the fleet's bands: 0 when all are done and up, 1 if any failed,
    130 when interrupted (the record keeps what finished, so the same
    command resumes)."""
    opts = r.opts
    try:
        with BandProgress() as ui:
            plan = provision.assign(r.survey(), r.fleet, r.record, r.firmware, opts.force)
            provision.parallel(
                plan, lambda a: r.one(a, ui), opts.parallel, lambda a, res: r.finished(a, res, ui)
            )
    except KeyboardInterrupt:
        r.interrupted()
        print(
            f"crowdpulse provision: interrupted; {r.left()} bands still to do: "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    c = r.counts
    mqtt = f"; {c['mqtt']} not up on MQTT (see their lines)" if c["mqtt"] else ""
    print(
        f"provisioned {c['done']} bands, {c['skipped']} already done, {c['failed']} failed{mqtt}; "
        f"{r.left()} of {len(r.fleet)} still to do (record: {r.record.path})",
        flush=True,
    )
    return 1 if c["failed"] or c["mqtt"] else 0
