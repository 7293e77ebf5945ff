"""docs/deploy.md, run: its command blocks, in order, on this machine, against a
real Mosquitto, the real gateway and a virtual band on a serial port.

What differs from a fresh Debian gateway host, and how:
- paths: /etc, /opt/crowdpulse, /var/lib/crowdpulse live under a temporary root
  folder; /opt/crowdpulse/bin is this environment's bin folder;
- names and ports: gateway.local and 10.0.0.2 are 127.0.0.1; 1883, 8883 and
  8080 are free ports; /dev/ttyUSB0 is the virtual band's port;
- the `crowdpulse` user and group are root (groups are not made by tests);
- `sudo` runs the command as this user (root here), `systemctl` is
  tests/doc_systemctl.py, and Debian's /etc/mosquitto/mosquitto.conf is written
  as the package ships it (with `user root`: the temporary root is private);
- blocks preceded by a `<!-- not run by tests/test_deploy_doc.py: why -->`
  comment are skipped (package installs, a BLE relay, chrony).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from crowdpulse.childproc import free_ports
from crowdpulse.keys import load_venue_key
from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.tools import bandconfig

pytestmark = [pytest.mark.broker, pytest.mark.micropython]
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deploy.md"
SKIP = "<!-- not run by tests/test_deploy_doc.py:"
FENCE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def blocks(text: str) -> list[str]:
    """The doc's ```sh blocks, in order, without those marked as not run."""
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip().splitlines()
        if before and before[-1].startswith(SKIP):
            continue
        out.append(m.group(1))
    return out


def test_the_guide_has_runnable_blocks_and_says_why_it_skips_the_others() -> None:
    text = DOC.read_text()
    skipped = [line for line in text.splitlines() if line.startswith(SKIP)]
    assert len(blocks(text)) >= 10 and skipped
    assert all(line.rstrip().endswith("-->") and len(line) > len(SKIP) + 20 for line in skipped)


def test_deploy_md_runs_top_to_bottom(tmp_path: Path) -> None:
    host, home = tmp_path / "host", tmp_path / "home"
    for d in (
        "etc/mosquitto/conf.d",
        "etc/systemd/system",
        "opt/crowdpulse",
        "var/lib",
        "run",
        "var/log",
    ):
        (host / d).mkdir(parents=True)
    home.mkdir()
    (host / "opt/crowdpulse/bin").symlink_to(Path(sys.executable).parent)
    # Debian's main configuration, as the package ships it, under the root folder
    (host / "etc/mosquitto/mosquitto.conf").write_text(
        f"persistence false\nlog_dest file {host}/var/log/mosquitto-broker.log\n"
        + ("user root\n" if os.geteuid() == 0 else "")
        + f"include_dir {host}/etc/mosquitto/conf.d\n"
    )
    lan, tls, http = free_ports(3)  # distinct: two listeners on one port stop the broker
    with SerialBand(tmp_path / "band") as band:
        script = DOC.read_text()
        steps = "\n".join(blocks(script))
        for old, new in (
            ("/etc/", f"{host}/etc/"),
            ("/opt/crowdpulse", f"{host}/opt/crowdpulse"),
            ("/var/lib/crowdpulse", f"{host}/var/lib/crowdpulse"),
            ("gateway.local", "127.0.0.1"),
            ("10.0.0.2", "127.0.0.1"),
            ("/dev/ttyUSB0", band.port),
            ("-o crowdpulse", "-o root"),
            ("-g crowdpulse", "-g root"),
            ("root:crowdpulse", "root:root"),
        ):
            steps = steps.replace(old, new)
        for port, new in (("1883", lan), ("8883", tls), ("8080", http)):
            steps = re.sub(rf"\b{port}\b", str(new), steps)
        prelude = (
            f'set -euo pipefail\nsudo() {{ "$@"; }}\n'
            f'systemctl() {{ {sys.executable} {ROOT / "tests/doc_systemctl.py"} "$@"; }}\n'
        )
        env = dict(
            os.environ,
            HOME=str(home),
            DOC_ROOT=str(host),
            DOC_BROKER_PORTS=f"{lan},{tls}",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}/usr/sbin{os.pathsep}{os.environ['PATH']}",
            PYTHONPATH=str(ROOT / "tests"),
        )
        try:
            run = subprocess.run(
                ["bash", "-c", prelude + steps],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            logs = {p.name: p.read_text()[-3000:] for p in (host / "var/log").glob("*.log")}
            gateway_stop = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "tests/doc_systemctl.py"),
                    "stop",
                    "crowdpulse-gateway",
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            subprocess.run(
                [sys.executable, str(ROOT / "tests/doc_systemctl.py"), "stop", "mosquitto"],
                env=env,
                capture_output=True,
            )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:] + json.dumps(logs, indent=1)[-4000:]
    assert "gateway login: good" in out and "anonymous refused: good" in out, out
    assert "B0001: MQTT up on 127.0.0.1" in out and "venue club-x" in out, out
    health = json.loads(
        next(line for line in run.stdout.splitlines() if line.startswith('{"status"'))
    )
    assert health["mqtt"] is True and health["bands"] == 451  # 450 on the floor and bar, REF01
    doctor = [line for line in run.stdout.splitlines() if line[:4] in ("ok  ", "WARN", "FAIL")]
    assert doctor and not [line for line in doctor if line.startswith("FAIL")], "\n".join(doctor)
    for needle in (
        "login as gateway accepted",
        "TLS: certificate verified",
        "ACL: gateway may write",
        "zone floor: 1 of 400 bands heard",
        "no report rejected",
    ):
        assert any(needle in line for line in doctor), (needle, doctor)
    # the notes file holds every password, the dashboard's and each band's included,
    # and the venue key was not overwritten by the broker's key (§5 names it broker.key)
    users = dict(
        line.split(":", 1) for line in (host / "etc/crowdpulse/mqtt-users.txt").read_text().split()
    )
    key = load_venue_key(host / "etc/crowdpulse/venue.key")
    assert {"gateway", "console", "dashboard", "stage-left", "bar"} <= set(users) and len(
        users
    ) == 456  # 451 bands (REF01, the music reference, too) and 5 service users
    assert users["B0001"] == bandconfig.mqtt_password(key, "B0001")
    assert gateway_stop.returncode == 0
    assert "Traceback" not in out + logs.get("crowdpulse-gateway.log", "")
    assert "crowdpulse gateway: stopped" in (host / "var/log/crowdpulse-gateway.log").read_text()
