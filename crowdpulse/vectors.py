"""Protocol test vectors: fixed keys and values, reproducible by anyone.

`crowdpulse packet vectors` prints them; tests/vectors/packet_v2.json holds
them, and both interpreters check the firmware's packet module against it.
tests/vectors/address.json holds the BLE addresses (packet.ble_address).
"""

from __future__ import annotations

from typing import Any

from wristband import packet

VENUE_KEY = bytes(range(32))

# (band id, epoch, counter, fields for packet.encode)
CASES: list[tuple[str, int, int, dict[str, Any]]] = [
    ("B0001", 1_950_000, 0, dict(interval_ms=250, laeq_db=72.5)),
    (
        "B0001",
        1_950_000,
        1,
        dict(
            interval_ms=250,
            laeq_db=96.0,
            voice_db=88.0,
            mid_db=84.5,
            low_db=101.0,
            top_db=81.0,
            tonal=0.4,
            fluct_db=1.8,
            claps=4,
            flags=packet.FLAG_EVENT,
        ),
    ),
    ("B0001", 1_950_001, 2, dict(interval_ms=250, laeq_db=96.0, voice_db=88.0)),
    (
        "stage-left.042",
        1_950_001,
        65535,
        dict(
            interval_ms=2550,
            laeq_db=147.5,
            voice_db=147.5,
            mid_db=147.5,
            low_db=147.5,
            top_db=147.5,
            tonal=1.0,
            fluct_db=12.75,
            motion_g=5.08,
            claps=15,
            imu_claps=15,
            battery_pct=100,
            flags=0x0F,
        ),
    ),
    (
        "Z",
        0,
        1,
        dict(interval_ms=10, laeq_db=20.0, motion_g=0.0, battery_pct=0, flags=packet.FLAG_MUTED),
    ),
]


def vectors() -> list[dict[str, Any]]:
    out = []
    for band_id, epoch, counter, fields in CASES:
        key = packet.band_key(VENUE_KEY, band_id)
        report = packet.encode(key, epoch, counter, **fields)
        out.append(
            {
                "band_id": band_id,
                "band_key": key.hex(),
                "epoch": epoch,
                "counter": counter,
                "seq_offset": packet.seq_offset(key, epoch),
                "field_mask": packet.field_mask(key, epoch).hex(),
                "report": report.hex(),
                "decoded": packet.decode(report, key, epoch).as_dict(),
            }
        )
    return out


# (band id, epoch) for packet.ble_address: consecutive epochs, and the extremes
ADDRESS_CASES: list[tuple[str, int]] = [
    ("B0001", 1_950_000),
    ("B0001", 1_950_001),
    ("B0001", 1_950_002),
    ("stage-left.042", 1_950_001),
    ("Z", 0),
    ("Z", 0xFFFFFFFF),
]


def address_vectors() -> list[dict[str, Any]]:
    out = []
    for band_id, epoch in ADDRESS_CASES:
        key = packet.band_key(VENUE_KEY, band_id)
        out.append(
            {
                "band_id": band_id,
                "band_key": key.hex(),
                "epoch": epoch,
                "onair": f"{packet.onair_id(key, epoch):08x}",
                "address": packet.ble_address(key, epoch).hex(":"),
            }
        )
    return out
