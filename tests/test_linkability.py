"""A passer-by with a BLE sniffer cannot follow a band from one on-air id to the next.

crowdpulse.sim.bands.radiotwin runs the firmware's band.py for N bands through
several epoch boundaries and records what a sniffer hears; the observer in
crowdpulse.sim.bands.sniffer tries every simple way to pair each old id with its
successor: the address, the seq, the timing, and the sound levels on air
(masked per epoch since protocol v2, packet.field_mask).  The same observer
links the old firmware's ids near certainly, so these tests can fail.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator

import pytest

from crowdpulse.sim.bands import radiotwin, sniffer
from crowdpulse.sim.bands.virtualband import Medium, VirtualBand, band_config
from wristband import packet, rotation

BANDS, BOUNDARIES = 24, 5
PROTOCOL = list(sniffer.STRATEGIES)


@pytest.fixture(scope="module")
def new_firmware() -> dict[str, sniffer.Result]:
    night = radiotwin.night(bands=BANDS, boundaries=BOUNDARIES, seed=3)
    return {
        r.strategy: r
        for r in sniffer.observe(night.adverts, night.boundaries_ms, night.window_ms, night.truth)
    }


def test_the_new_firmware_links_no_better_than_chance(
    new_firmware: dict[str, sniffer.Result],
) -> None:
    bound = sniffer.chance_bound(BANDS, BOUNDARIES)  # 1/24 plus 3.5 sd of a blind pairing: 10.7 %
    assert math.isclose(bound, (5 + 3.5 * math.sqrt(5)) / 120)
    for name in PROTOCOL:
        r = new_firmware[name]
        assert r.trials == BANDS * BOUNDARIES, (name, r.trials)
        assert r.accuracy <= bound, (
            f"{name} links {r.correct} of {r.trials} (chance {r.trials / BANDS:.0f})"
        )


def test_the_old_firmware_is_linked_near_certainly() -> None:
    night = radiotwin.night(bands=BANDS, boundaries=2, seed=3, legacy=True)
    got = {
        r.strategy: r
        for r in sniffer.observe(night.adverts, night.boundaries_ms, night.window_ms, night.truth)
    }
    assert got["address"].accuracy == 1.0
    assert got["seq"].accuracy >= 0.95
    assert got["features"].accuracy > 2 * sniffer.chance_bound(BANDS, 2)  # its levels were in clear
    # and its timing alone gives it away: the same strategies that find nothing above
    bound = sniffer.chance_bound(BANDS, 2)
    assert max(got[s].accuracy for s in ("gap", "clock", "report", "frame")) > 2 * bound


def test_the_twin_runs_the_firmwares_quiet_time() -> None:
    night = radiotwin.night(bands=6, boundaries=3, seed=5, window_s=30)
    quiet = night.quiet_ms
    assert len(quiet) == 6 * 3
    assert all(0 <= q < 2 * rotation.QUIET_MS + 20 for q in quiet)
    assert len(set(quiet)) > len(quiet) // 2  # drawn afresh each time
    ids = sniffer.identities(night.adverts)
    assert len(ids) == 6 * 4  # one id per band per epoch
    for i in ids.values():
        assert len(i.addresses) == 1  # the address changes with the id, never within one
    assert len({a for i in ids.values() for a in i.addresses}) == len(ids)


def test_chance_bound_is_stated_from_n() -> None:
    assert sniffer.chance_bound(100, 1, z=0) == pytest.approx(0.01)
    assert sniffer.chance_bound(10, 4) > sniffer.chance_bound(10, 16) > 0.1


# -- the firmware, unchanged, under the real MicroPython --------------------------
@pytest.fixture
def bands_at_a_boundary() -> Iterator[tuple[list[bytes], int, list[tuple[float, bytes, bytes]]]]:
    """Three virtual bands whose clocks reach an epoch boundary 9 s after they start."""
    venue = secrets.token_bytes(32)
    now = int(time.time())
    edge = (now // packet.EPOCH_S + 2) * packet.EPOCH_S
    offset = edge - (now + 9)
    medium = Medium()
    ids = ["B0301", "B0302", "B0303"]
    bands = [
        VirtualBand(
            band_config(venue, b, window=(edge - 3600, edge + 3600)),
            medium=medium,
            clock_offset_s=offset,
        ).start()
        for b in ids
    ]
    try:
        time.sleep(9 + rotation.QUIET_MS / 1000 + 3)
    finally:
        for b in bands:
            b.stop()
        medium.close()
    yield (
        [packet.band_key(venue, b) for b in ids],
        edge,
        [(t + offset, a, d) for t, a, d in medium.adverts],
    )


@pytest.mark.micropython
def test_a_virtual_band_changes_address_and_id_at_one_instant(
    bands_at_a_boundary: tuple[list[bytes], int, list[tuple[float, bytes, bytes]]],
) -> None:
    keys, edge, adverts = bands_at_a_boundary
    epoch = edge // packet.EPOCH_S
    quiet_s = rotation.QUIET_MS / 1000
    addresses: list[set[bytes]] = [set(), set()]
    for key in keys:
        heard: list[tuple[float, int, int, bytes]] = []  # time, epoch of the id, seq, address
        for t, address, adv in adverts:
            report = packet.manufacturer_data(adv)
            assert report is not None and len(report) == packet.REPORT_SIZE
            onair = packet.decode(report).onair
            for e in (epoch - 1, epoch):
                if onair == packet.onair_id(key, e) and packet.verify(report, key):
                    assert address == packet.ble_address(
                        key, e
                    )  # every advert: the id's own address
                    heard.append((t, e, packet.decode(report).seq, address))
        old = [h for h in heard if h[1] == epoch - 1]
        new = [h for h in heard if h[1] == epoch]
        assert len(old) >= 20 and len(new) >= 10, (len(old), len(new))
        # one instant: nothing of the new identity before the last of the old
        assert max(h[0] for h in old) < min(h[0] for h in new)
        # quiet around the boundary (1.5 s of slack for the unix port's scheduling)
        assert max(h[0] for h in old) > edge - quiet_s - 1.5
        assert min(h[0] for h in new) < edge + quiet_s + 1.5
        # the gateway's counter runs on across the switch; the seq on air does not
        c_old = (old[-1][2] - packet.seq_offset(key, epoch - 1)) & 0xFFFF
        c_new = (new[0][2] - packet.seq_offset(key, epoch)) & 0xFFFF
        assert 0 < (c_new - c_old) & 0xFFFF < 0x8000
        assert (new[0][2] - old[-1][2]) & 0xFFFF != (c_new - c_old) & 0xFFFF
        addresses[0].add(old[0][3])
        addresses[1].add(new[0][3])
    assert not addresses[0] & addresses[1] and len(addresses[1]) == 3


def test_the_simulators_bands_cross_a_switch_without_a_replay() -> None:
    # crowdpulse.sim.runs.runner signs as the firmware does: the counter plus the
    # epoch's seq_offset, so the gateway's replay check holds across the boundary
    from crowdpulse.sim.runs import session
    from crowdpulse.sim.world import scenario

    edge = 2_000_001 * packet.EPOCH_S
    res = session.offline(
        scenario.load("normal"), 200, bytes(range(32)), seed=1, seconds=30, t0_s=float(edge - 15)
    )
    assert res.accepted > 10_000
    assert res.rejected["replay"] == 0 and res.rejected["bad_tag"] == 0


def test_sim_sniff_command() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "crowdpulse")
    out = subprocess.run(
        [exe, "sim", "sniff", "--bands", "4", "--boundaries", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert set(got["strategies"]) == set(sniffer.STRATEGIES) and got["chance"] == 0.25
    assert all(s["of"] == 4 for s in got["strategies"].values())
    bad = subprocess.run(
        [exe, "sim", "sniff", "--bands", "1"], capture_output=True, text=True, timeout=60
    )
    assert (
        bad.returncode != 0
        and "--bands must be 2-1000" in bad.stderr
        and "Traceback" not in bad.stderr
    )
