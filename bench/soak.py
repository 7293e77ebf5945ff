"""`crowdpulse bench soak --minutes N`: a live venue for N minutes.

A real Mosquitto, a real `crowdpulse gateway` process and the simulator's
`normal` night with 10,000 bands on the wall clock (sim/runs/session.py's live
mode: the crowd, BLE bands through the radio medium and relays, WiFi bands
straight to the broker, the gateway's rate control followed), for N
minutes.  Once a second the gateway's RSS is read from /proc; at every
minute its /metrics (the tick p99 over that minute, reports accepted and
rejected, its warnings and errors by level).  Its output goes to a file,
searched for tracebacks at the end.

- `rss_growth`: (RSS at the end - RSS after the first minute) / the latter;
- `tick_p99_ratio`: the worst minute's tick p99 over the first minute's
  (wall time; `tick_cpu_p99_ratio` the same for the tick thread's CPU time,
  which a shared machine's other load does not inflate);
- `errors`: error-level log records plus tracebacks in the output.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from crowdpulse.broker import Mosquitto, free_port
from crowdpulse.mqtt import BrokerURL
from crowdpulse.sim.runs import session
from crowdpulse.sim.world import scenario
from crowdpulse.supervisor import GatewayPart

VENUE = "soak"
KEY = bytes(range(7, 39))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _metrics(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, Any] = {"rejected": {}, "log": {}}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name == "crowdpulse_reports_accepted_total":
            out["accepted"] = int(float(value))
        elif name.startswith("crowdpulse_reports_rejected_total{"):
            out["rejected"][name.split('"')[1]] = int(float(value))
        elif name == 'crowdpulse_tick_duration_ms{stat="p99_1m"}':
            out["tick_p99_1m_ms"] = float(value)
        elif name == 'crowdpulse_tick_duration_ms{stat="cpu_p99_1m"}':
            out["tick_cpu_p99_1m_ms"] = float(value)
        elif name.startswith("crowdpulse_log_messages_total{"):
            out["log"][name.split('"')[1]] = int(float(value))
    return out


def run(minutes: float = 30.0, devices: int = 10_000) -> dict[str, Any]:
    sc = scenario.load("normal")
    sc.duration_s = (
        minutes * 60.0 + 120.0
    )  # the night goes on (liked tracks) past the shipped timeline
    with Mosquitto() as broker, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "venue.key").write_text(KEY.hex())
        port = free_port()
        cfg = tmp / "venue.toml"
        venue = session.venue_file(sc, devices, VENUE, "venue.key", port)
        venue.db_path, venue.token = str(tmp / "gw.db"), "soak"
        cfg.write_text(venue.text())
        gw = GatewayPart(broker.url, cfg, port, tmp / "gateway.log")
        try:
            gw.wait_up()
            result = _soak(minutes, devices, sc, broker, port, gw.proc.pid)
        finally:
            gw.stop(grace=30.0)
        text = gw.log.read_text(errors="replace")
    result["errors"] = result["log_errors"] + text.count("Traceback (most recent call last)")
    return result


def _soak(
    minutes: float, devices: int, sc: scenario.Scenario, broker: Mosquitto, port: int, pid: int
) -> dict[str, Any]:
    said: list[str] = []
    sim = threading.Thread(
        target=session.live,
        daemon=True,
        kwargs=dict(
            sc=sc,
            devices=devices,
            url=BrokerURL.parse(broker.url),
            venue=VENUE,
            venue_key=KEY,
            seconds=minutes * 60.0 + 5.0,
            say=said.append,
        ),
    )
    start = time.monotonic()
    sim.start()
    rss: list[tuple[float, float]] = []
    per_minute: list[dict[str, Any]] = []
    while len(per_minute) < int(round(minutes)):
        time.sleep(1.0)
        rss.append((time.monotonic() - start, _rss_mb(pid)))
        if time.monotonic() - start >= 60.0 * (len(per_minute) + 1):
            m = _metrics(port)
            m["rss_mb"] = rss[-1][1]
            per_minute.append(m)
            print(
                f"  minute {len(per_minute)}: rss {m['rss_mb']:.1f} MB, "
                f"tick p99 {m['tick_p99_1m_ms']:.2f} ms, "
                f"accepted {m['accepted']}",
                flush=True,
            )
    last = per_minute[-1]
    first_p99 = per_minute[0]["tick_p99_1m_ms"]
    worst = max(m["tick_p99_1m_ms"] for m in per_minute[1:]) if len(per_minute) > 1 else first_p99
    rss_1m = per_minute[0]["rss_mb"]
    cpu = [m["tick_cpu_p99_1m_ms"] for m in per_minute]
    return {
        "minutes": len(per_minute),
        "devices": devices,
        "rss_initial_mb": round(rss[0][1], 1),
        "rss_start_mb": round(rss_1m, 1),
        "rss_end_mb": round(last["rss_mb"], 1),
        "rss_max_mb": round(max(r for _t, r in rss), 1),
        "rss_growth": round((last["rss_mb"] - rss_1m) / rss_1m, 4),
        "tick_p99_first_ms": round(first_p99, 2),
        "tick_p99_worst_ms": round(worst, 2),
        "tick_p99_ratio": round(worst / first_p99, 3) if first_p99 > 0 else None,
        "tick_p99_per_minute_ms": [round(m["tick_p99_1m_ms"], 2) for m in per_minute],
        "tick_cpu_p99_per_minute_ms": [round(v, 2) for v in cpu],
        "tick_cpu_p99_ratio": round(max(cpu[1:] or cpu) / cpu[0], 3) if cpu[0] > 0 else None,
        "accepted": last["accepted"],
        "rejected": {k: v for k, v in last["rejected"].items() if v},
        "log_warnings": last["log"].get("warning", 0),
        "log_errors": last["log"].get("error", 0) + last["log"].get("critical", 0),
        "sim_said": said[:5],
        "load_avg": round(os.getloadavg()[0], 1),
        "rss_slope_mb_per_h": round(
            float(
                np.polyfit(
                    [t for t, _ in rss if t >= 60] or [0, 1],
                    [r for t, r in rss if t >= 60] or [0, 0],
                    1,
                )[0]
            )
            * 3600,
            1,
        ),
    }
