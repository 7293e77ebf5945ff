"""Shared by the flash and provision tests: the CLI in-process, keys, virtual serial bands."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crowdpulse import cli
from crowdpulse.broker import Mosquitto
from crowdpulse.keys import write_new_key
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.sim.bands.serialband import SerialBand

CROWDPULSE = [sys.executable, "-m", "crowdpulse"]


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def crowdpulse(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def run(*argv: object) -> Run:
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "venue.key"
    write_new_key(path)
    return path


def venue_key(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


@pytest.fixture
def band(tmp_path: Path) -> Iterator[SerialBand]:
    with SerialBand(tmp_path / "band") as b:
        yield b


# Virtual bands are MicroPython processes behind a pty: on a busy machine one
# may take longer than a board's 8 s to answer; the wait ends when it answers.
CONNECT_TIMEOUT_S = 60


def flash_args(band: SerialBand, key: Path, band_id: str = "B0042", *extra: object) -> list[object]:
    return [
        "flash",
        "--port",
        band.port,
        "--venue-key",
        key,
        "--band-id",
        band_id,
        "--zone",
        "floor",
        "--connect-timeout",
        CONNECT_TIMEOUT_S,
        *extra,
    ]


def one_line_error(run: Run, text: str) -> None:
    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    assert lines[-1].startswith("crowdpulse flash: ") and text in lines[-1], run.err
    assert "Traceback" not in run.err + run.out


def tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file of a band's flash: sha256 and mtime."""
    return {
        p.relative_to(root).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Reports:
    """A plain MQTT subscriber to every band report of the demo venue."""

    def __init__(self, broker: Mosquitto) -> None:
        self.got: list[bytes] = []
        self.client = make_client(BrokerURL.parse(broker.url))
        self.client.on_message = lambda c, u, m: self.got.append(bytes(m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topic("demo", "band", "+", "report"))
        self.client.loop_start()

    def wait(self, n: int, timeout: float) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.got)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
