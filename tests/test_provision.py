"""`crowdpulse provision`: a fleet of virtual serial bands, in parallel, and resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pytest
from flash_helpers import CONNECT_TIMEOUT_S, CROWDPULSE, Run, tree, venue_key

from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.tools import firmware
from wristband import packet

pytestmark = pytest.mark.micropython


# -- provision: a fleet of virtual bands ----------------------------------------------------
FLEET = [
    ("B0001", "floor"),
    ("B0002", "floor"),
    ("B0003", "bar"),
    ("B0004", "bar"),
    ("B0005", "stage"),
]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Path, list[SerialBand]]]:
    path = tmp_path / "fleet.csv"
    path.write_text(
        "band_id,zone,transport\n# the first five\n" + "".join(f"{b},{z},ble\n" for b, z in FLEET)
    )
    with ExitStack() as stack:
        yield (
            path,
            [stack.enter_context(SerialBand(tmp_path / f"band{i}")) for i in range(len(FLEET))],
        )


def provision_args(
    fleet_file: Path, bands: list[SerialBand], key: Path, parallel: int
) -> list[object]:
    return [
        "provision",
        "--fleet",
        fleet_file,
        "--ports",
        ",".join(b.port for b in bands),
        "--parallel",
        parallel,
        "--venue-key",
        key,
        "--connect-timeout",
        CONNECT_TIMEOUT_S,
    ]


def records(fleet_file: Path) -> list[dict[str, object]]:
    """The fleet record's complete lines (one may be half-written while we read)."""
    path = fleet_file.with_suffix(".record.jsonl")
    text = path.read_text() if path.exists() else ""
    return [json.loads(x) for x in text.splitlines(keepends=True) if x.endswith("\n")]


def check_fleet(bands: list[SerialBand], key: bytes) -> None:
    """Every band carries one fleet row, with its derived key, and booted as that band."""
    zones = dict(FLEET)
    cfgs = [json.loads((b.root / "config.json").read_text()) for b in bands]
    assert sorted(c["band_id"] for c in cfgs) == sorted(zones)
    for b, c in zip(bands, cfgs, strict=True):
        assert c["zone"] == zones[c["band_id"]] and c["transport"] == "ble"
        assert c["key"] == packet.band_key(key, c["band_id"]).hex()
        assert b.wait_output(f"crowdpulse: boot ok band={c['band_id']} ", 5), bytes(b.output[-400:])
        assert not any(p.endswith((".tmp", ".hold")) for p in tree(b.root))


def _bulk(band: SerialBand) -> tuple[float, float]:
    """When the host sent the middle 90 % of the bytes it sent this band (the
    firmware copy dominates: identifying a band takes a few hundred bytes)."""
    total = sum(n for _, n in band.received)
    seen, start, end = 0, 0.0, 0.0
    for t, n in band.received:
        if seen < 0.05 * total <= seen + n:
            start = t
        if seen < 0.95 * total <= seen + n:
            end = t
        seen += n
    return start, end


def test_provision_flashes_five_bands_in_parallel_and_records_them(
    crowdpulse: Callable[..., Run], fleet: tuple[Path, list[SerialBand]], key_file: Path
) -> None:
    fleet_file, bands = fleet
    run = crowdpulse(*provision_args(fleet_file, bands, key_file, 5))
    assert run.code == 0, run
    assert "provisioned 5 bands, 0 already done, 0 failed; 0 of 5 still to do" in run.out
    # in parallel: one instant at which every band was being flashed (one after
    # the other, each band's bulk would start after the previous one's ended)
    windows = [_bulk(b) for b in bands]
    assert max(s for s, _ in windows) < min(e for _, e in windows), windows
    key = venue_key(key_file)
    check_fleet(bands, key)
    rec = records(fleet_file)
    assert sorted(str(e["band"]) for e in rec) == [b for b, _ in FLEET]
    assert {e["result"] for e in rec} == {"done"}
    assert {e["firmware"] for e in rec} == {firmware.firmware_hash()}
    assert all(datetime.fromisoformat(str(e["time"])).tzinfo is not None for e in rec)
    everything = run.out + run.err + fleet_file.with_suffix(".record.jsonl").read_text()
    for band_id, _ in FLEET:
        assert packet.band_key(key, band_id).hex() not in everything
    assert key.hex() not in everything and packet.command_key(key).hex() not in everything

    # run again: every band is done already; it is only restarted, nothing is written
    before = [tree(b.root) for b in bands]
    again = crowdpulse(*provision_args(fleet_file, bands, key_file, 5))
    assert again.code == 0 and "provisioned 0 bands, 5 already done, 0 failed" in again.out, again
    assert [tree(b.root) for b in bands] == before


def test_an_interrupted_provision_resumes_where_it_stopped(
    crowdpulse: Callable[..., Run], fleet: tuple[Path, list[SerialBand]], key_file: Path
) -> None:
    fleet_file, bands = fleet
    argv = [str(a) for a in provision_args(fleet_file, bands, key_file, 1)]
    proc = subprocess.Popen(
        [*CROWDPULSE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while sum(e["result"] == "done" for e in records(fleet_file)) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C while the third band is being flashed
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert (
        "interrupted;" in err
        and "run the same command again to resume" in err
        and "Traceback" not in err
    )
    first = records(fleet_file)
    done_first = {str(e["band"]) for e in first if e["result"] == "done"}
    assert 2 <= len(done_first) < 5, first
    assert any(e["result"] == "interrupted" for e in first), first

    resumed = crowdpulse(*argv)
    assert resumed.code == 0, resumed
    n = len(done_first)
    assert (
        f"provisioned {5 - n} bands, {n} already done, 0 failed; 0 of 5 still to do" in resumed.out
    ), resumed.out
    for band_id in done_first:  # never flashed twice
        assert any(
            x.startswith(f"{band_id} on ") and x.endswith("already done; restarted")
            for x in resumed.out.splitlines()
        ), resumed.out
        assert sum(e["band"] == band_id and e["result"] == "done" for e in records(fleet_file)) == 1
    check_fleet(bands, venue_key(key_file))
