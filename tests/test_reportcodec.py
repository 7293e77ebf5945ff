"""The host codec (crowdpulse/reportcodec.py) agrees with wristband.packet byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from crowdpulse.gateway.registry import Registry
from crowdpulse.reportcodec import (
    CODE,
    CODE_NAMES,
    code_bytes,
    new_codes,
    nibbles,
    relay_batch,
    with_seq,
)
from crowdpulse.sim.runs.runner import sign
from wristband import packet

VENUE_KEY = bytes(range(32))
BANDS = [f"B{i:04d}" for i in range(1, 41)]
EPOCH = 2_000_000


def _codes(rng: np.random.Generator, n: int) -> np.ndarray:
    codes = new_codes(n)
    for name in CODE_NAMES:
        codes[name] = rng.integers(0, 256, n)
    codes["interval"] = rng.integers(1, 256, n)  # 0 is not a valid interval
    return codes


def test_the_codes_are_the_body_fields_after_the_seq_in_wire_order() -> None:
    body = [name for name, _off, _code in packet.FIELDS if name != "tag"]
    assert list(CODE_NAMES) == body[-packet.N_CODES :]
    assert [CODE[name] for name in CODE_NAMES] == list(range(packet.N_CODES))


def test_signed_reports_are_what_the_firmware_encodes() -> None:
    rng = np.random.default_rng(3)
    reg = Registry(VENUE_KEY, [(b, "floor") for b in BANDS], ["floor"])
    ids = reg.ids_for_epoch(EPOCH)
    seq = rng.integers(0, 0xFFFF, len(BANDS))
    counters = seq.copy()
    idx = rng.permutation(len(BANDS))[:25]
    codes = code_bytes(_codes(rng, len(idx)))
    reports = sign(reg, ids, seq, idx, codes, EPOCH)
    for row, b in enumerate(idx):
        key = packet.band_key(VENUE_KEY, BANDS[b])
        want = packet.encode_codes(key, EPOCH, int(counters[b]), [int(c) for c in codes[row]])
        assert reports[row].tobytes() == want
    assert (seq[idx] == counters[idx] + 1).all()  # the counters moved on


@pytest.mark.parametrize("high,low", [(0, 0), (3, 9), (15, 15), (40, 2), (-1, 7)])
def test_nibbles_saturate_as_the_firmware_does(high: int, low: int) -> None:
    claps = nibbles("claps", audio_claps=high, imu_claps=low)
    assert int(claps) == packet.nibbles(high, low)
    status = nibbles("status", battery=high, flags=low)
    assert int(status) == packet.nibbles(high, low)
    with pytest.raises(KeyError):
        nibbles("claps", battery=1)


def test_a_new_seq_changes_only_the_seq() -> None:
    key = packet.band_key(VENUE_KEY, "B0001")
    report = packet.encode(key, EPOCH, 10, 250, 80.0)
    body = with_seq(report[: packet.BODY_SIZE], 0xABCD)
    assert packet.decode(body + report[packet.BODY_SIZE :]).seq == 0xABCD
    others = [n for n, _o, _c in packet.FIELDS if n not in ("seq", "tag")]
    got, was = packet.decode(body + bytes(packet.TAG_SIZE)), packet.decode(report)
    assert all(getattr(got, n) == getattr(was, n) for n in others if hasattr(was, n))


def test_a_relay_batch_is_what_the_firmware_codec_builds() -> None:
    key = packet.band_key(VENUE_KEY, "B0002")
    reports = [packet.encode(key, EPOCH, i, 250, 70.0 + i) for i in range(5)]
    rssi, arrival = [-40, -55, -128, 127, -90], [1000, 1003, 1003, 1100, 66_000]
    records = list(zip(reports, rssi, arrival, strict=True))
    got = relay_batch(
        np.frombuffer(b"".join(reports), np.uint8).reshape(5, -1),
        np.array(rssi, float),
        np.array(arrival, np.int64),
    )
    assert got == packet.encode_batch(records, 1000)
