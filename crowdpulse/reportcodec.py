"""The host's codec for reports and relay batches, as numpy arrays.

Everything here is derived from `wristband.packet.FIELDS` and `NIBBLES`, the
one definition of the wire format: the report and record dtypes the gateway
decodes batches with, the field codes the simulator quantises into, and the
bodies and batches the simulator and the benches build by the thousand.  No
offset or field order is written down twice; tests prove these arrays agree
with `wristband.packet` byte for byte.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from wristband import packet

_NP_CODES = {"B": "u1", "H": ">u2", "I": ">u4"}
_OFFSET = {name: offset for name, offset, _code in packet.FIELDS}
# the N_CODES fields a band's DSP and runtime fill in: the tail of the body
CODE_NAMES = tuple(
    name
    for name, offset, _code in packet.FIELDS
    if packet.BODY_SIZE - packet.N_CODES <= offset < packet.BODY_SIZE
)
_CODES_AT = _OFFSET[CODE_NAMES[0]]
CODE = {name: i for i, name in enumerate(CODE_NAMES)}  # a code's place in the codes bytes


def _report_dtype() -> np.dtype[np.void]:
    names, formats, offsets = [], [], []
    for name, offset, code in packet.FIELDS:
        names.append(name)
        formats.append(_NP_CODES.get(code, f"V{packet.TAG_SIZE}"))
        offsets.append(offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": packet.REPORT_SIZE}
    )


REPORT_DTYPE = _report_dtype()
RECORD_DTYPE = np.dtype(
    {
        "names": ["dt_ms", "rssi", "length", "report"],
        "formats": [">u2", "i1", "u1", REPORT_DTYPE],
        "offsets": [0, 2, 3, packet.BATCH_RECORD_HEAD],
        "itemsize": packet.BATCH_RECORD_SIZE,
    }
)
CODES_DTYPE = np.dtype([(name, "u1") for name in CODE_NAMES])


def new_codes(n: int) -> np.ndarray:
    """n rows of field codes, by name (`codes["laeq"]`); `code_bytes` packs them."""
    return np.zeros(n, CODES_DTYPE)


def code_bytes(codes: np.ndarray) -> npt.NDArray[np.uint8]:
    """(n, N_CODES) bytes in wire order, as packet.encode_codes takes them."""
    return np.ascontiguousarray(codes).view(np.uint8).reshape(-1, packet.N_CODES)


def nibbles(field: str, **values: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """A byte field of two 4-bit values (packet.NIBBLES), each saturated to 0..15:
    `nibbles("claps", audio_claps=a, imu_claps=b)`."""
    out = np.zeros(np.broadcast(*values.values()).shape, np.uint8)
    for sub, parent, shift in packet.NIBBLES:
        if parent == field and sub in values:
            value = np.clip(np.asarray(values.pop(sub)), 0, packet.COUNT_MAX).astype(np.uint8)
            out |= value << shift
    if values:
        raise KeyError(f"{field} has no nibble {', '.join(values)}")
    return out


def bodies(
    onair: npt.NDArray[np.uint32], seq: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """(n, BODY_SIZE) report bodies in clear: version, on-air id, seq, then the codes.
    Masking and the tag are the signer's (mask_rows, then the band's key)."""
    rep = np.zeros(len(onair), REPORT_DTYPE)
    rep["version"] = packet.VERSION
    rep["onair"] = onair
    rep["seq"] = seq & 0xFFFF
    raw = rep.view(np.uint8).reshape(-1, packet.REPORT_SIZE)
    raw[:, _CODES_AT : _CODES_AT + packet.N_CODES] = codes
    return raw[:, : packet.BODY_SIZE].copy()


def with_seq(body: bytes, seq: int) -> bytes:
    """A report body with its seq field replaced."""
    raw = np.zeros(packet.REPORT_SIZE, np.uint8)
    raw[: packet.BODY_SIZE] = np.frombuffer(body[: packet.BODY_SIZE], np.uint8)
    raw.view(REPORT_DTYPE)["seq"] = seq & 0xFFFF
    return raw[: packet.BODY_SIZE].tobytes()


def mask_rows(
    raw: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.int64],
    masks: npt.NDArray[np.uint8],
    sign: int = -1,
) -> None:
    """packet.mask_codes(..., sign) on report rows of raw (reports or bodies), in
    place: masks is (len(rows), MASK_SIZE), each row's band's field mask for its
    id's epoch.  sign -1 reads the fields in clear, +1 masks them as a band does."""
    if len(rows) == 0:
        return
    m = masks.astype(np.int16) * sign
    sub = raw[np.ix_(rows, _MASKED_AT)].astype(np.int16) + m[:, : len(_MASKED_AT)]
    raw[np.ix_(rows, _MASKED_AT)] = (sub & 0xFF).astype(np.uint8)
    byte = raw[rows, _NIBBLE_AT].astype(np.int16)
    nib = ((byte >> _NIBBLE_SHIFT) + m[:, -1]) & 0x0F
    keep = byte & (0xFF ^ (0x0F << _NIBBLE_SHIFT))
    raw[rows, _NIBBLE_AT] = (keep | (nib << _NIBBLE_SHIFT)).astype(np.uint8)


_MASKED_AT = np.array([_OFFSET[name] for name in packet.MASKED])
_NIBBLE_AT, _NIBBLE_SHIFT = next(
    (_OFFSET[field], shift) for name, field, shift in packet.NIBBLES if name == packet.MASKED_NIBBLE
)


def relay_batch(
    reports: npt.NDArray[np.uint8], rssi: npt.NDArray[np.float64], arrival_ms: npt.NDArray[np.int64]
) -> bytes:
    """A relay batch (packet.encode_batch's bytes), built as one array."""
    base = int(arrival_ms.min())
    rec = np.zeros(len(reports), RECORD_DTYPE)
    rec["dt_ms"] = np.clip(arrival_ms - base, 0, 0xFFFF)
    rec["rssi"] = rssi.astype(np.int8)
    rec["length"] = packet.REPORT_SIZE
    rec["report"] = np.ascontiguousarray(reports).view(rec["report"].dtype).reshape(-1)
    header = struct.pack(
        packet.BATCH_HEADER, packet.BATCH_VERSION, packet.BATCH_RECORD_SIZE, len(rec), base
    )
    return header + rec.tobytes()
