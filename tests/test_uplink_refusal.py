"""A band the broker refuses keeps trying, keeps advertising, and comes up once
the broker knows its password: the real firmware in the real MicroPython on a
virtual serial port, flashed with `crowdpulse flash`, against a real Mosquitto
with a password file."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flash_helpers import Run, flash_args, venue_key

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.sim.bands.virtualband import Medium
from crowdpulse.tools import bandconfig
from wristband import packet

pytestmark = [pytest.mark.micropython, pytest.mark.broker]
PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def _passwd(path: Path, user: str, password: str, create: bool = False) -> None:
    subprocess.run(
        [PASSWD, *(["-c"] if create else []), "-b", str(path), user, password],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _status(band: SerialBand, start: int) -> list[dict[str, str]]:
    out = []
    for line in band.output[start:].decode(errors="replace").splitlines():
        if line.startswith("crowdpulse: status "):
            out.append(dict(kv.split("=", 1) for kv in line.split()[2:]))
    return out


def test_a_refused_band_retries_keeps_advertising_and_comes_up_once_allowed(
    crowdpulse: Callable[..., Run], key_file: Path, tmp_path: Path
) -> None:
    passwd = tmp_path / "passwd"
    _passwd(passwd, "reader", "reader-pw", create=True)  # the band is not in it yet
    medium = Medium()
    with (
        Mosquitto(anonymous=False, extra_config=f"password_file {passwd}\n") as broker,
        SerialBand(tmp_path / "band", medium=medium) as band,
    ):
        reports: list[bytes] = []
        reader = make_client(BrokerURL.parse(f"mqtt://reader:reader-pw@127.0.0.1:{broker.port}"))
        reader.on_message = lambda c, u, m: reports.append(bytes(m.payload))
        reader.connect("127.0.0.1", broker.port)
        reader.subscribe(topic("demo", "band", "+", "report"))
        reader.loop_start()

        run = crowdpulse(
            *flash_args(
                band,
                key_file,
                "B0042",
                "--transport",
                "both",
                "--mqtt-host",
                "127.0.0.1",
                "--mqtt-port",
                broker.port,
                "--status-every",
                1,
                "--mqtt-timeout",
                20,
            )
        )
        # flashed and booted, but refused: one line says so, with the likely cause, and no traceback
        assert run.code == 1, run
        assert "verified, booted" in run.out
        refusal = [line for line in run.err.splitlines() if "MQTT login refused" in line]
        assert len(refusal) == 1, run.err
        assert (
            "not authorised" in refusal[0]
            and "venue key" in refusal[0]
            and "password" in refusal[0]
        )
        assert "Traceback" not in run.out + run.err
        boots = band.boots

        # the band keeps trying, says so in its status, and keeps advertising over BLE
        mark = len(band.output)
        assert band.wait_output("crowdpulse: mqtt failed: refused rc=5", 10, mark)
        assert band.wait_output("mqtt=refused", 10, mark)
        adverts = len(medium.adverts)
        assert band.wait_output("crowdpulse: mqtt failed: refused rc=5", 10, len(band.output))
        deadline = time.monotonic() + 30
        while len(medium.adverts) < adverts + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(medium.adverts) >= adverts + 3, "BLE adverts stopped while MQTT was refused"
        assert b"mqtt online" not in band.output[mark:]  # still refused all along
        assert b"fatal" not in band.output and not reports

        # the venue adds the band's password (derived from the venue key) and reloads the broker
        _passwd(passwd, "B0042", bandconfig.mqtt_password(venue_key(key_file), "B0042"))
        mark = len(band.output)
        broker.reload()
        assert band.wait_output("crowdpulse: mqtt online", 15, mark), bytes(band.output[-600:])
        deadline = time.monotonic() + 15
        while len(reports) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        reader.loop_stop()
        reader.disconnect()
        assert len(reports) >= 4
        key = packet.band_key(venue_key(key_file), "B0042")
        assert all(packet.verify(r, key) for r in reports)
        assert band.wait_output("mqtt=up", 5, mark)
        assert band.boots == boots  # no reflash, no reboot: the same run of the firmware
    medium.close()
