"""Vectorised decoding of relay batches: one numpy view per MQTT message.

The layout comes from `wristband.packet.FIELDS`, as numpy dtypes by the host
codec (crowdpulse/reportcodec.py); tests prove the decoding agrees with
`wristband.packet.decode` on every record, malformed ones included.
"""

from __future__ import annotations

import struct
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from crowdpulse.reportcodec import RECORD_DTYPE, REPORT_DTYPE
from wristband import packet


class Reason(IntEnum):
    """Why a record was rejected by the format check (0 = well formed)."""

    OK = 0
    LENGTH = 1
    VERSION = 2  # includes protocol v1: that band needs new firmware
    INTERVAL = 3


def nibble(rep: np.ndarray, name: str) -> npt.NDArray[np.uint8]:
    """A 4-bit sub-field (packet.NIBBLES) of decoded report rows."""
    for sub, field, shift in packet.NIBBLES:
        if sub == name:
            return ((rep[field] >> shift) & 0x0F).astype(np.uint8)
    raise KeyError(name)


class Reports:
    """A batch as columns.  The identity and order columns are decoded at once;
    the physical-unit columns (as in `wristband.packet.Report`) on first use,
    since the gateway's hot path works on the raw codes."""

    def __init__(
        self,
        raw: npt.NDArray[np.uint8],
        reason: npt.NDArray[np.uint8],
        arrival_ms: npt.NDArray[np.int64],
        rssi: npt.NDArray[np.int8],
    ) -> None:
        self.raw = raw  # (n, 23): the bytes the tag covers, for HMAC checks
        self.reason = reason
        self.arrival_ms = arrival_ms
        self.rssi = rssi
        self._rep = raw.view(REPORT_DTYPE).reshape(-1)
        self.onair: npt.NDArray[np.uint32] = self._rep["onair"].astype(np.uint32)
        self.seq: npt.NDArray[np.uint16] = self._rep["seq"].astype(np.uint16)
        self.interval_ms: npt.NDArray[np.int32] = (
            self._rep["interval"].astype(np.int32) * packet.INTERVAL_STEP_MS
        )
        self.flags: npt.NDArray[np.uint8] = nibble(self._rep, "flags")
        self._physical: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.reason.shape[0])

    def _col(self, name: str) -> np.ndarray:
        if self._physical is None:
            self._physical = _columns(self._rep)
        return self._physical[name]

    laeq_db = property(lambda self: self._col("laeq_db"))
    voice_db = property(lambda self: self._col("voice_db"))
    mid_db = property(lambda self: self._col("mid_db"))
    low_db = property(lambda self: self._col("low_db"))
    top_db = property(lambda self: self._col("top_db"))
    tonal = property(lambda self: self._col("tonal"))
    fluct_db = property(lambda self: self._col("fluct_db"))
    motion_g = property(lambda self: self._col("motion_g"))  # NaN where absent
    claps = property(lambda self: self._col("claps"))
    imu_claps = property(lambda self: self._col("imu_claps"))
    battery_pct = property(lambda self: self._col("battery_pct"))  # NaN where unknown


def _reasons(rep: np.ndarray, length: np.ndarray) -> npt.NDArray[np.uint8]:
    # Same priority order as wristband.packet._check_report.
    conds = [length != packet.REPORT_SIZE, rep["version"] != packet.VERSION, rep["interval"] == 0]
    choices = [Reason.LENGTH, Reason.VERSION, Reason.INTERVAL]
    return np.select(conds, [np.uint8(c) for c in choices], np.uint8(Reason.OK)).astype(np.uint8)


def _columns(rep: np.ndarray) -> dict[str, np.ndarray]:
    f32 = np.float32
    motion = rep["motion"]
    battery = nibble(rep, "battery").astype(f32)
    out = {
        name: packet.level_db(rep[field].astype(f32))
        for name, field in (
            ("laeq_db", "laeq"),
            ("voice_db", "voice"),
            ("mid_db", "mid"),
            ("low_db", "low"),
            ("top_db", "top"),
        )
    }
    out.update(
        {
            "tonal": rep["tonal"].astype(f32) * f32(packet.TONAL_STEP),
            "fluct_db": rep["fluct"].astype(f32) * f32(packet.TEXTURE_STEP_DB),
            "motion_g": np.where(
                motion == packet.MOTION_ABSENT, np.nan, motion * packet.MOTION_STEP_G
            ).astype(f32),
            "claps": nibble(rep, "audio_claps"),
            "imu_claps": nibble(rep, "imu_claps"),
            "battery_pct": np.where(
                battery == packet.BATTERY_UNKNOWN,
                np.nan,
                np.floor((battery * 100 + packet.BATTERY_STEPS // 2) / packet.BATTERY_STEPS),
            ),
        }
    )
    return out


def decode_reports(
    raw: npt.NDArray[np.uint8], length: np.ndarray, arrival_ms: np.ndarray, rssi: np.ndarray
) -> Reports:
    """Columns for n reports given as an (n, 23) byte array and their true lengths."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, packet.REPORT_SIZE)
    rep = raw.view(REPORT_DTYPE).reshape(-1)
    return Reports(
        raw,
        _reasons(rep, np.asarray(length)),
        np.asarray(arrival_ms, dtype=np.int64),
        np.asarray(rssi, dtype=np.int8),
    )


def decode_batch(buf: bytes | bytearray) -> Reports:
    """Decode one relay batch; a malformed header raises `PacketError`, as the shared
    decoder does."""
    if len(buf) < packet.BATCH_HEADER_SIZE:
        raise packet.PacketError("truncated batch")
    version, size, count, base_ms = struct.unpack(
        packet.BATCH_HEADER, buf[: packet.BATCH_HEADER_SIZE]
    )
    if version != packet.BATCH_VERSION:
        raise packet.PacketError(f"unknown batch version {version}")
    if size != packet.BATCH_RECORD_SIZE:
        raise packet.PacketError(f"unknown batch record size {size}")
    if len(buf) != packet.BATCH_HEADER_SIZE + count * size:
        raise packet.PacketError("batch length does not match its count")
    rec = np.frombuffer(buf, dtype=RECORD_DTYPE, offset=packet.BATCH_HEADER_SIZE, count=count)
    if np.any(rec["length"] > packet.REPORT_SIZE):
        raise packet.PacketError("batch record longer than a report")
    raw = np.frombuffer(buf, dtype=np.uint8, offset=packet.BATCH_HEADER_SIZE).reshape(count, size)
    raw = raw[:, packet.BATCH_RECORD_HEAD :]
    return decode_reports(raw, rec["length"], base_ms + rec["dt_ms"].astype(np.int64), rec["rssi"])
