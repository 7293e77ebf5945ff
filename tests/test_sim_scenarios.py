"""Every shipped scenario, end to end: `crowdpulse sim` publishes through a real
Mosquitto to a real `crowdpulse gateway`, each in its own process."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from gateway_helpers import EXE, GatewayProc

from crowdpulse.broker import Mosquitto, free_port
from crowdpulse.sim import scenario as scenarios

pytestmark = pytest.mark.broker
WALL_S = 22  # at 20x, 7 minutes of scenario: every shipped event has happened
DEVICES = 300


def _metric(text: str, name: str, label: str = "") -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name) and label in line and not line.startswith("#"))


def _run(broker: Mosquitto, tmp: Path, name: str, *extra: str) -> tuple[GatewayProc, dict, str, Path]:
    key, venue = tmp / "venue.key", tmp / "venue.toml"
    subprocess.run([EXE, "packet", "keygen", str(key)], check=True, capture_output=True)
    subprocess.run([EXE, "sim", "--scenario", name, "--devices", str(DEVICES), "--venue", "simtest",
                    "--venue-key", str(key), "--write-venue", str(venue), *extra], check=True, capture_output=True)
    text = venue.read_text().replace("port = 8080", f"port = {free_port()}")
    venue.write_text(text + f'\n[storage]\npath = "{tmp / "gw.db"}"\n')
    gw = GatewayProc(broker.url, venue).wait_ready()
    truth = tmp / "truth.csv"
    sim = subprocess.run([EXE, "sim", "--scenario", name, "--devices", str(DEVICES), "--broker", broker.url,
                          "--venue", "simtest", "--venue-key", str(key), "--speed", "20",
                          "--seconds", str(WALL_S), "--truth", str(truth), *extra],
                         capture_output=True, text=True, timeout=120)
    assert sim.returncode == 0, sim.stderr
    return gw, gw.get("/api/state"), gw.get("/metrics"), truth


@pytest.mark.parametrize("name", scenarios.shipped())
def test_scenario_runs_through_mosquitto_to_the_gateway(mosquitto: Mosquitto, tmp_path: Path, name: str) -> None:
    gw, state, metrics, truth = _run(mosquitto, tmp_path, name)
    try:
        rows = list(csv.DictReader(truth.open()))
        wall = min(WALL_S, scenarios.load(name).duration_s / 20)
        assert len(rows) >= wall - 2 and float(rows[-1]["scene_s"]) > 20 * (wall - 3)
        assert _metric(metrics, "crowdpulse_reports_accepted") > DEVICES  # signed by the sim, verified by the gateway
        assert state["score"] is not None and 0 <= state["score"] <= 100
        zones = {z["zone"]: z for z in state["zones"]}
        if name == "rogue_band":
            assert _metric(metrics, "crowdpulse_reports_rejected", 'reason="bad_tag"') > 1000
        if name == "dead_zone":
            # the terrace is out of the floor relays' range: nothing of it is heard
            assert zones["terrace"]["bands"] == 0 and zones["terrace"]["score"] is None
            assert zones["floor"]["score"] is not None
        if name == "arrive_and_leave":
            assert state["bands"] > 0.6 * DEVICES  # only a third was in at the doors; the rest arrived
    finally:
        gw.stop()


@pytest.mark.parametrize("mode", ["fast", "twin"])
def test_the_music_reference_reaches_the_gateway(mosquitto: Mosquitto, tmp_path: Path, mode: str) -> None:
    """`--reference`: the venue file marks band REF as the music reference, the
    simulator publishes what the music alone gives, and the real gateway scores
    against it (and says so) without counting it among the crowd's bands."""
    gw, state, metrics, _truth = _run(mosquitto, tmp_path, "normal", "--reference", "--mode", mode)
    try:
        assert 'id = "REF"' in (tmp_path / "venue.toml").read_text()
        assert state["evidence"]["reference"] == "live", state["evidence"]
        assert any(z["referenced"] > 0.5 for z in state["zones"])
        assert state["bands"] <= DEVICES  # REF is not one of the crowd's bands
    finally:
        gw.stop()


def test_a_dead_broker_is_one_line(tmp_path: Path) -> None:
    key = tmp_path / "venue.key"
    subprocess.run([EXE, "packet", "keygen", str(key)], check=True, capture_output=True)
    proc = subprocess.run([EXE, "sim", "--scenario", "normal", "--devices", "100", "--venue-key", str(key),
                           "--broker", f"mqtt://127.0.0.1:{free_port()}", "--seconds", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("crowdpulse sim: nothing listens on 127.0.0.1:") and "start Mosquitto" in last
    assert "Traceback" not in proc.stderr


def test_a_bad_scenario_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration_min = 5\n[[zones]]\nname = "floor"\n')
    proc = subprocess.run([EXE, "sim", "--scenario", str(bad), "--devices", "10"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "zones[0] needs" in proc.stderr
