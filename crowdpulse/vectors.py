"""Protocol test vectors: fixed keys and values, reproducible by anyone."""

from __future__ import annotations

from typing import Any

from wristband import packet as P

VENUE_KEY = bytes(range(32))

# (band id, epoch, seq, fields for packet.encode)
CASES: list[tuple[str, int, int, dict[str, Any]]] = [
    ("B0001", 1_950_000, 0, dict(interval_ms=250, laeq_db=72.5, lafmax_db=78.0)),
    ("B0001", 1_950_000, 1, dict(interval_ms=250, laeq_db=96.0, lafmax_db=104.5, claps=4,
                                 applause=0.6, voice_db=88.0, voice_excess_db=9.25,
                                 onset_rate=6.2, flags=P.FLAG_EVENT)),
    ("stage-left.042", 1_950_001, 65535, dict(interval_ms=2550, laeq_db=147.5, lafmax_db=147.5,
                                              claps=255, applause=1.0, voice_db=147.5,
                                              voice_excess_db=63.75, onset_rate=25.5,
                                              motion_g=5.08, battery_pct=100, flags=0x3F)),
    ("Z", 0, 1, dict(interval_ms=10, laeq_db=20.0, lafmax_db=20.0, motion_g=0.0, battery_pct=0,
                     flags=P.FLAG_MUTED)),
]


def vectors() -> list[dict[str, Any]]:
    out = []
    for band_id, epoch, seq, fields in CASES:
        key = P.band_key(VENUE_KEY, band_id)
        report = P.encode(key, epoch, seq, **fields)
        out.append({
            "band_id": band_id,
            "band_key": key.hex(),
            "epoch": epoch,
            "report": report.hex(),
            "decoded": P.decode(report).as_dict(),
        })
    return out
