"""The gateway's numpy batch decoder agrees with the shared decoder on every record."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdpulse.gateway import batch
from wristband import packet

KEY = packet.band_key(bytes(range(32)), "B0001")


@st.composite
def records(draw: st.DrawFn) -> tuple[bytes, int, int]:
    kind = draw(st.sampled_from(["good", "good", "random", "short", "mutated"]))
    if kind == "random":
        report = draw(st.binary(min_size=packet.REPORT_SIZE, max_size=packet.REPORT_SIZE))
    elif kind == "short":
        report = draw(st.binary(min_size=0, max_size=packet.REPORT_SIZE - 1))
    else:
        level = st.floats(20, 150)
        report = packet.encode(
            KEY,
            draw(st.integers(0, 2**32 - 1)),
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(1, 255)) * 10,
            draw(level),
            draw(level),
            draw(level),
            draw(level),
            draw(level),
            draw(st.floats(0, 1)),
            draw(st.floats(0, 13)),
            draw(st.none() | st.floats(0, 5)),
            draw(st.integers(0, 20)),
            draw(st.integers(0, 20)),
            draw(st.none() | st.integers(0, 100)),
            draw(st.integers(0, 0x0F)),
        )
        if kind == "mutated":
            b = bytearray(report)
            b[draw(st.integers(0, packet.REPORT_SIZE - 1))] = draw(st.integers(0, 255))
            report = bytes(b)
    return report, draw(st.integers(-128, 127)), draw(st.integers(0, 0xFFFF))


@settings(max_examples=300)
@given(st.lists(records(), max_size=40), st.integers(0, 2**40))
def test_vectorised_decoder_agrees_with_decode(recs: list, base_ms: int) -> None:
    shifted = [(r, rssi, base_ms + dt) for r, rssi, dt in recs]
    buf = packet.encode_batch(shifted, base_ms)
    cols = batch.decode_batch(buf)
    assert len(cols) == len(recs)
    for i, (report, rssi, arrival) in enumerate(shifted):
        assert cols.rssi[i] == rssi and cols.arrival_ms[i] == arrival
        try:
            ref = packet.Report(report)  # the gateway takes the current version only
        except packet.PacketError:
            assert cols.reason[i] != batch.Reason.OK
            continue
        assert cols.reason[i] == batch.Reason.OK
        assert bytes(cols.raw[i]) == report
        for name in ("onair", "seq", "interval_ms", "claps", "imu_claps", "flags"):
            assert int(getattr(cols, name)[i]) == getattr(ref, name), name
        for name in (
            "laeq_db",
            "voice_db",
            "mid_db",
            "low_db",
            "top_db",
            "tonal",
            "fluct_db",
            "motion_g",
            "battery_pct",
        ):
            want = getattr(ref, name)
            got = float(getattr(cols, name)[i])
            if want is None:
                assert math.isnan(got), name
            else:
                assert got == pytest.approx(want, rel=1e-6, abs=1e-6), name


def test_reasons_match_each_kind_of_fault() -> None:
    good = packet.encode(KEY, 1, 1, 250, 80, 85)
    faults = {
        batch.Reason.VERSION: b"\x01" + good[1:],  # protocol v1: old firmware
        batch.Reason.INTERVAL: good[:7] + b"\x00" + good[8:],
        batch.Reason.LENGTH: good[:20],
        batch.Reason.OK: good,
    }
    cols = batch.decode_batch(packet.encode_batch([(r, -50, 5) for r in faults.values()], 0))
    assert list(cols.reason) == list(faults)


@pytest.mark.parametrize(
    "buf",
    [b"", b"\x01\x1b\x00\x01" + bytes(8), b"\x09" + bytes(11), b"\x01\x1a\x00\x00" + bytes(8)],
)
def test_malformed_batches_raise_packet_error(buf: bytes) -> None:
    with pytest.raises(packet.PacketError):
        batch.decode_batch(buf)
    with pytest.raises(packet.PacketError):
        packet.decode_batch(buf)


def test_overlong_record_length_is_rejected_like_the_shared_decoder() -> None:
    buf = bytearray(packet.encode_batch([(bytes(23), 0, 0)], 0))
    buf[packet.BATCH_HEADER_SIZE + 3] = 24
    for decoder in (batch.decode_batch, packet.decode_batch):
        with pytest.raises(packet.PacketError):
            decoder(bytes(buf))


def test_empty_batch_is_valid() -> None:
    cols = batch.decode_batch(packet.encode_batch([], 123))
    assert len(cols) == 0 and cols.raw.shape == (0, packet.REPORT_SIZE)
    assert np.asarray(cols.reason).dtype == np.uint8
