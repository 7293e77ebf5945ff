"""The firmware's advert bytes, read by bumble's own AdvertisingData parser."""

from __future__ import annotations

from bumble.core import AdvertisingData
from hypothesis import given
from hypothesis import strategies as st

from wristband import packet


@given(st.integers(0, 0xFFFF), st.floats(20, 140), st.integers(0, 30))
def test_report_adverts_parse_with_bumble(seq: int, level: float, claps: int) -> None:
    report = packet.encode(bytes(16), 1234, seq, 250, level, level + 3, claps)
    raw = packet.adv_payload(report)
    ad = AdvertisingData.from_bytes(raw)
    assert ad.get(AdvertisingData.FLAGS) == 0x06
    company, data = ad.get(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    assert company == packet.COMPANY_ID and data == report
    assert packet.manufacturer_data(raw) == report
    assert len(raw) <= 31


def test_beacon_adverts_parse_with_bumble() -> None:
    beacon = packet.encode_beacon(packet.command_key(bytes(range(32))), 1_800_000_000, 500, 1, 3)
    company, data = AdvertisingData.from_bytes(packet.adv_payload(beacon)).get(
        AdvertisingData.MANUFACTURER_SPECIFIC_DATA
    )
    assert company == packet.COMPANY_ID and data == beacon


@given(st.binary(max_size=31))
def test_our_walker_agrees_with_bumble_on_any_bytes(raw: bytes) -> None:
    try:
        ad = AdvertisingData.from_bytes(raw)
        theirs = [
            d
            for c, d in ad.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
            if c == packet.COMPANY_ID
        ]
    except Exception:  # bumble rejects what it cannot parse; ours must not crash
        theirs = None
    ours = packet.manufacturer_data(raw)
    if theirs is not None:
        assert ours == (theirs[0] if theirs else None), (raw, theirs, ours)
