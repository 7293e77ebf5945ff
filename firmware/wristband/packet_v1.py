"""Protocol v1 reports (firmware before protocol v2): decode only.

Bands send v2 (wristband.packet).  v1 stays readable so that tools can read
old logs and recordings; the gateway refuses v1 with the reason "format" and a
log line that says the band needs reflashing.  docs/protocol.md, appendix A.
"""

import struct

from wristband.packet import (
    BODY_SIZE,
    INTERVAL_STEP_MS,
    MOTION_ABSENT,
    MOTION_STEP_G,
    PacketError,
    _check_report,
    level_db,
)

VERSION = 1
FIELDS = (
    ("version", 0, "B"),
    ("onair", 1, "I"),
    ("seq", 5, "H"),
    ("interval", 7, "B"),
    ("laeq", 8, "B"),
    ("lafmax", 9, "B"),
    ("claps", 10, "B"),
    ("applause", 11, "B"),
    ("voice", 12, "B"),
    ("voice_excess", 13, "B"),
    ("onset_rate", 14, "B"),
    ("motion", 15, "B"),
    ("battery", 16, "B"),
    ("flags", 17, "B"),
    ("tag", 18, "5s"),
)
BODY_FORMAT = ">BIHBBBBBBBBBBB"
APPLAUSE_STEP = 1.0 / 255.0
EXCESS_STEP_DB = 0.25
ONSET_STEP_HZ = 0.1
BATTERY_UNKNOWN = 255
BATTERY_MAX = 100
RESERVED_FLAGS = 0xC0


class Report:
    """A v1 report in physical units (the v1 field table above)."""

    def __init__(self, buf):
        _check_report(buf, (VERSION,))
        v = struct.unpack(BODY_FORMAT, bytes(buf[:BODY_SIZE]))
        if v[3] == 0:
            raise PacketError("interval is zero")
        if v[12] > BATTERY_MAX and v[12] != BATTERY_UNKNOWN:
            raise PacketError("battery out of range")
        if v[13] & RESERVED_FLAGS:
            raise PacketError("reserved flag bits set")
        self.version = VERSION
        self.onair = v[1]
        self.seq = v[2]
        self.interval_ms = v[3] * INTERVAL_STEP_MS
        self.laeq_db = level_db(v[4])
        self.lafmax_db = level_db(v[5])
        self.claps = v[6]
        self.applause = v[7] * APPLAUSE_STEP
        self.voice_db = level_db(v[8])
        self.voice_excess_db = v[9] * EXCESS_STEP_DB
        self.onset_rate = v[10] * ONSET_STEP_HZ
        self.motion_g = None if v[11] == MOTION_ABSENT else v[11] * MOTION_STEP_G
        self.battery_pct = None if v[12] == BATTERY_UNKNOWN else v[12]
        self.flags = v[13]
        self.tag = bytes(buf[BODY_SIZE:])

    def as_dict(self):
        out = {"version": VERSION, "onair": "%08x" % self.onair}
        for name in _PHYSICAL:
            out[name] = getattr(self, name)
        return out


_PHYSICAL = ("seq", "interval_ms", "laeq_db", "lafmax_db", "claps", "applause", "voice_db",
             "voice_excess_db", "onset_rate", "motion_g", "battery_pct", "flags")
