"""Wire protocol v1 under CPython: properties over the whole input space."""

from __future__ import annotations

import contextlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdpulse.vectors import address_vectors, vectors
from wristband import packet

KEY = packet.band_key(bytes(range(32)), "B0001")
ROOT = Path(__file__).resolve().parent.parent

LEVELS = ("laeq_db", "voice_db", "mid_db", "low_db", "top_db")
fields = st.fixed_dictionaries(
    {
        "interval_ms": st.integers(1, 255).map(lambda c: c * 10),
        **{name: st.floats(-50, 200, allow_nan=False) for name in LEVELS},
        "tonal": st.floats(-1, 2, allow_nan=False),
        "fluct_db": st.floats(-1, 20, allow_nan=False),
        "motion_g": st.none() | st.floats(0, 10, allow_nan=False),
        "claps": st.integers(-5, 400),
        "imu_claps": st.integers(-5, 400),
        "battery_pct": st.none() | st.integers(-10, 150),
        "flags": st.integers(0, 0x0F),
    }
)


@settings(max_examples=400)
@given(fields, st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
def test_round_trip_saturates_and_quantises(f: dict, seq: int, epoch: int) -> None:
    report = packet.encode(KEY, epoch, seq, **f)
    assert len(report) == packet.REPORT_SIZE
    assert packet.verify(report, KEY)
    d = packet.decode(report, KEY, epoch)
    assert (d.seq - packet.seq_offset(KEY, epoch)) & 0xFFFF == seq and d.onair == packet.onair_id(
        KEY, epoch
    )
    assert d.interval_ms == f["interval_ms"]
    for name in LEVELS:
        want = min(max(f[name], packet.LEVEL_OFFSET_DB), 147.5)
        assert abs(getattr(d, name) - want) <= packet.LEVEL_STEP_DB / 2 + 1e-9
    assert abs(d.tonal - min(max(f["tonal"], 0), 1)) <= packet.TONAL_STEP / 2 + 1e-9
    assert abs(d.fluct_db - min(max(f["fluct_db"], 0), 12.75)) <= packet.TEXTURE_STEP_DB / 2 + 1e-9
    assert d.claps == min(max(f["claps"], 0), packet.COUNT_MAX)
    assert d.imu_claps == min(max(f["imu_claps"], 0), packet.COUNT_MAX)
    assert (d.motion_g is None) == (f["motion_g"] is None)
    assert (d.battery_pct is None) == (f["battery_pct"] is None)
    if f["battery_pct"] is not None:
        # a 100/14 % step, then decoded to a whole percent
        assert (
            abs(d.battery_pct - min(max(f["battery_pct"], 0), 100))
            <= 50 / packet.BATTERY_STEPS + 0.5
        )
    assert d.flags == f["flags"]
    # Re-encoding the decoded values is a fixed point.
    assert packet.encode(KEY, epoch, seq, **{k: getattr(d, k) for k in f}) == report


@settings(max_examples=2000)
@given(st.binary(min_size=0, max_size=40))
def test_random_bytes_raise_only_packet_error(data: bytes) -> None:
    with contextlib.suppress(packet.PacketError):
        packet.decode(data)
    with contextlib.suppress(packet.PacketError):
        packet.verify(data, KEY)
    with contextlib.suppress(packet.PacketError):
        packet.decode_batch(data)


@settings(max_examples=300)
@given(st.binary(min_size=packet.REPORT_SIZE, max_size=packet.REPORT_SIZE))
def test_random_reports_almost_never_verify(data: bytes) -> None:
    with contextlib.suppress(packet.PacketError):
        assert not packet.verify(data, KEY)


def test_size_limit_at_every_extreme() -> None:
    lows = dict(
        interval_ms=10,
        laeq_db=-1e9,
        voice_db=-1e9,
        mid_db=-1e9,
        low_db=-1e9,
        top_db=-1e9,
        tonal=-1,
        fluct_db=-1,
        motion_g=0.0,
        claps=-1,
        imu_claps=-1,
        battery_pct=0,
        flags=0,
    )
    highs = dict(
        interval_ms=2550,
        laeq_db=1e9,
        voice_db=1e9,
        mid_db=1e9,
        low_db=1e9,
        top_db=1e9,
        tonal=9,
        fluct_db=1e9,
        motion_g=1e9,
        claps=10**6,
        imu_claps=10**6,
        battery_pct=10**6,
        flags=0x0F,
    )
    for f in (lows, highs):
        for seq, epoch in ((0, 0), (0xFFFF, 0xFFFFFFFF)):
            report = packet.encode(KEY, epoch, seq, **f)
            assert len(report) == packet.REPORT_SIZE <= 23
            assert len(packet.adv_payload(report)) <= 31
    assert packet.decode(packet.encode(KEY, 0, 0, **highs), KEY, 0).motion_g == pytest.approx(
        254 * 0.02
    )


def test_nonfinite_values_are_packet_errors() -> None:
    with pytest.raises(packet.PacketError):
        packet.encode(KEY, 0, 0, 250, float("inf"), 70)
    assert (
        packet.decode(packet.encode(KEY, 0, 0, 250, float("nan"), 70), KEY, 0).laeq_db
        == packet.LEVEL_OFFSET_DB
    )


def test_fallback_hmac_matches_the_standard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packet, "_hmac", None)
    for key in (b"", b"k" * 16, b"x" * 64, b"y" * 65, bytes(range(200))):
        msg = b"crowdpulse" * 7
        assert packet._hmac_sha256(key, msg) == hmac.new(key, msg, "sha256").digest()


def test_ids_rotate_and_keys_differ() -> None:
    other = packet.band_key(bytes(range(32)), "B0002")
    assert other != KEY
    ids = {packet.onair_id(KEY, e) for e in range(1000)}
    assert len(ids) == 1000
    assert packet.epoch_of(900 * 5 + 899) == 5


def test_committed_vectors_match_the_code_and_the_docs() -> None:
    committed = json.loads((ROOT / "tests/vectors/packet_v2.json").read_text())
    assert committed == json.loads(json.dumps(vectors()))
    doc = (ROOT / "docs/protocol.md").read_text()
    for v in committed:
        assert v["report"] in doc, "docs/protocol.md is missing a test vector"


def test_committed_address_vectors_match_the_code_and_the_docs() -> None:
    committed = json.loads((ROOT / "tests/vectors/address.json").read_text())
    assert committed == json.loads(json.dumps(address_vectors()))
    doc = (ROOT / "docs/protocol.md").read_text()
    for v in committed[:3]:
        assert v["address"] in doc, "docs/protocol.md is missing an address vector"
