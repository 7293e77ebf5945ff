"""Vectorised decoding of relay batches: one numpy view per MQTT message.

The layout comes from `wristband.packet.FIELDS`; this module only turns it into
numpy dtypes, and tests prove it agrees with `wristband.packet.decode` on every
record, malformed ones included.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from wristband import packet as P

_NP_CODES = {"B": "u1", "H": ">u2", "I": ">u4"}


def _report_dtype() -> np.dtype[np.void]:
    names, formats, offsets = [], [], []
    for name, offset, code in P.FIELDS:
        names.append(name)
        formats.append(_NP_CODES.get(code, f"V{P.TAG_SIZE}"))
        offsets.append(offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": P.REPORT_SIZE}
    )


REPORT_DTYPE = _report_dtype()
RECORD_DTYPE = np.dtype(
    {
        "names": ["dt_ms", "rssi", "length", "report"],
        "formats": [">u2", "i1", "u1", REPORT_DTYPE],
        "offsets": [0, 2, 3, P.BATCH_RECORD_HEAD],
        "itemsize": P.BATCH_RECORD_SIZE,
    }
)


class Reason(IntEnum):
    """Why a record was rejected by the format check (0 = well formed)."""

    OK = 0
    LENGTH = 1
    VERSION = 2
    INTERVAL = 3
    BATTERY = 4
    FLAGS = 5


@dataclass(frozen=True)
class Reports:
    """A batch as columns.  Physical units as in `wristband.packet.Report`."""

    raw: npt.NDArray[np.uint8]  # (n, 23): the bytes the tag covers, for HMAC checks
    reason: npt.NDArray[np.uint8]
    arrival_ms: npt.NDArray[np.int64]
    rssi: npt.NDArray[np.int8]
    onair: npt.NDArray[np.uint32]
    seq: npt.NDArray[np.uint16]
    interval_ms: npt.NDArray[np.int32]
    laeq_db: npt.NDArray[np.float32]
    lafmax_db: npt.NDArray[np.float32]
    claps: npt.NDArray[np.uint8]
    applause: npt.NDArray[np.float32]
    voice_db: npt.NDArray[np.float32]
    voice_excess_db: npt.NDArray[np.float32]
    onset_rate: npt.NDArray[np.float32]
    motion_g: npt.NDArray[np.float32]  # NaN where absent
    battery_pct: npt.NDArray[np.float32]  # NaN where unknown
    flags: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return int(self.reason.shape[0])


def _reasons(rep: np.ndarray, length: np.ndarray) -> npt.NDArray[np.uint8]:
    # Same priority order as wristband.packet._check_report.
    conds = [
        length != P.REPORT_SIZE,
        rep["version"] != P.VERSION,
        rep["interval"] == 0,
        (rep["battery"] > P.BATTERY_MAX) & (rep["battery"] != P.BATTERY_UNKNOWN),
        (rep["flags"] & P.RESERVED_FLAGS) != 0,
    ]
    choices = [Reason.LENGTH, Reason.VERSION, Reason.INTERVAL, Reason.BATTERY, Reason.FLAGS]
    return np.select(conds, [np.uint8(c) for c in choices], np.uint8(Reason.OK)).astype(np.uint8)


def _columns(rep: np.ndarray) -> dict[str, np.ndarray]:
    f32 = np.float32
    motion = rep["motion"]
    battery = rep["battery"]
    return {
        "onair": rep["onair"].astype(np.uint32),
        "seq": rep["seq"].astype(np.uint16),
        "interval_ms": rep["interval"].astype(np.int32) * P.INTERVAL_STEP_MS,
        "laeq_db": P.level_db(rep["laeq"].astype(f32)),
        "lafmax_db": P.level_db(rep["lafmax"].astype(f32)),
        "claps": rep["claps"].astype(np.uint8),
        "applause": rep["applause"].astype(f32) * f32(P.APPLAUSE_STEP),
        "voice_db": P.level_db(rep["voice"].astype(f32)),
        "voice_excess_db": rep["voice_excess"].astype(f32) * f32(P.EXCESS_STEP_DB),
        "onset_rate": rep["onset_rate"].astype(f32) * f32(P.ONSET_STEP_HZ),
        "motion_g": np.where(motion == P.MOTION_ABSENT, np.nan, motion * P.MOTION_STEP_G).astype(f32),
        "battery_pct": np.where(battery == P.BATTERY_UNKNOWN, np.nan, battery).astype(f32),
        "flags": rep["flags"].astype(np.uint8),
    }


def decode_reports(raw: npt.NDArray[np.uint8], length: np.ndarray, arrival_ms: np.ndarray,
                   rssi: np.ndarray) -> Reports:
    """Columns for n reports given as an (n, 23) byte array and their true lengths."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, P.REPORT_SIZE)
    rep = raw.view(REPORT_DTYPE).reshape(-1)
    return Reports(
        raw=raw,
        reason=_reasons(rep, np.asarray(length)),
        arrival_ms=np.asarray(arrival_ms, dtype=np.int64),
        rssi=np.asarray(rssi, dtype=np.int8),
        **_columns(rep),
    )


def decode_batch(buf: bytes) -> Reports:
    """Decode one relay batch; a malformed header raises `PacketError`, as the shared decoder does."""
    if len(buf) < P.BATCH_HEADER_SIZE:
        raise P.PacketError("truncated batch")
    version, size, count, base_ms = struct.unpack(P.BATCH_HEADER, buf[: P.BATCH_HEADER_SIZE])
    if version != P.BATCH_VERSION:
        raise P.PacketError(f"unknown batch version {version}")
    if size != P.BATCH_RECORD_SIZE:
        raise P.PacketError(f"unknown batch record size {size}")
    if len(buf) != P.BATCH_HEADER_SIZE + count * size:
        raise P.PacketError("batch length does not match its count")
    rec = np.frombuffer(buf, dtype=RECORD_DTYPE, offset=P.BATCH_HEADER_SIZE, count=count)
    if np.any(rec["length"] > P.REPORT_SIZE):
        raise P.PacketError("batch record longer than a report")
    raw = np.frombuffer(buf, dtype=np.uint8, offset=P.BATCH_HEADER_SIZE).reshape(count, size)
    raw = raw[:, P.BATCH_RECORD_HEAD :]
    return decode_reports(raw, rec["length"], base_ms + rec["dt_ms"].astype(np.int64), rec["rssi"])
