"""crowdpulse wire protocol v2: the one definition of a band report.

Firmware, gateway and simulator all import this module; nobody restates the
layout.  It runs unchanged under MicroPython and CPython.  docs/protocol.md is
the public description of the same bytes.

A report is 23 bytes, so it fits the manufacturer data of one legacy BLE
advertisement and the same bytes travel over MQTT.
"""

import hashlib
import struct

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython

    def const(x):
        return x


try:
    import hmac as _hmac  # CPython, or micropython-lib's hmac when installed
except ImportError:
    _hmac = None

VERSION = const(2)
REPORT_SIZE = const(23)
BODY_SIZE = const(18)
TAG_SIZE = const(5)
KEY_SIZE = const(16)
EPOCH_S = const(900)
# Bluetooth SIG company id 0xFFFF is reserved for test and unassigned use.
COMPANY_ID = const(0xFFFF)

# Field table of report v2: name, byte offset, struct code.  Big-endian throughout.
FIELDS = (
    ("version", 0, "B"),
    ("onair", 1, "I"),
    ("seq", 5, "H"),
    ("interval", 7, "B"),
    ("laeq", 8, "B"),
    ("voice", 9, "B"),
    ("mid", 10, "B"),
    ("low", 11, "B"),
    ("top", 12, "B"),
    ("tonal", 13, "B"),
    ("fluct", 14, "B"),
    ("motion", 15, "B"),
    ("claps", 16, "B"),
    ("status", 17, "B"),
    ("tag", 18, "5s"),
)
# Two fields carry two 4-bit values: (name, field, shift); shift 4 is the high nibble.
NIBBLES = (
    ("audio_claps", "claps", 4),
    ("imu_claps", "claps", 0),
    ("battery", "status", 4),
    ("flags", "status", 0),
)
BODY_FORMAT = ">BIHBBBBBBBBBBB"
N_CODES = const(11)  # interval..status: what the band's DSP and runtime fill in
# What a band hears and its battery would follow it from one on-air id to the
# next; on air these go behind the epoch's field mask (field_mask): each code
# plus its mask byte, mod 256 (mod 16 for the battery nibble).  The interval and
# the flags stay clear: relays read the EVENT flag.
MASKED = ("laeq", "voice", "mid", "low", "top", "tonal", "fluct", "motion", "claps")
MASKED_NIBBLE = "battery"
MASK_SIZE = const(10)  # a byte per masked field, then the battery nibble's

# Scaling: physical = OFFSET + code * STEP.
INTERVAL_STEP_MS = const(10)
LEVEL_OFFSET_DB = 20.0
LEVEL_STEP_DB = 0.5
TONAL_STEP = 1.0 / 255.0
TEXTURE_STEP_DB = 0.05
MOTION_STEP_G = 0.02
MOTION_ABSENT = const(255)
COUNT_MAX = const(15)  # claps per interval saturate at this (a nibble)
BATTERY_STEPS = const(14)  # battery nibble: 0..14 is 0..100 %, 15 unknown
BATTERY_UNKNOWN = const(15)

_CODES_AT = const(7)  # the interval: the first code (FIELDS)
_MASK_AT = tuple(off - _CODES_AT for name, off, code in FIELDS if name in MASKED)
_STATUS_CODE = [off - _CODES_AT for name, off, code in FIELDS if name == "status"][0]

FLAG_MUTED = const(0x01)
FLAG_EVENT = const(0x02)
FLAG_CLIPPED = const(0x04)
FLAG_DROPPED = const(0x08)

# Relay beacon: commands to bands that only have BLE (and the time, for their clock).
BEACON_TYPE = const(0xC1)
# type, unix time, report interval (10 ms units), advertising interval (100 ms
# units: the gateway spaces adverts out when many bands share the air), flags, seq
BEACON_FORMAT = ">BIBBBH"
BEACON_BODY = const(10)
BEACON_SIZE = const(15)
CMD_EVENT_OVER = const(0x01)

# Relay batch: header then fixed-size records, so a batch decodes as one array.
BATCH_VERSION = const(1)
BATCH_HEADER = ">BBHQ"  # version, record size, count, base time (ms since 1970)
BATCH_HEADER_SIZE = const(12)
BATCH_RECORD = ">HbB"  # arrival offset ms, rssi dBm, report length
BATCH_RECORD_HEAD = const(4)
BATCH_RECORD_SIZE = const(27)
BATCH_MAX = const(65535)

# Key-derivation labels (HMAC messages).  Keys and ids are unchanged since v1.
BAND_KEY_LABEL = b"crowdpulse/v1/band-key/"
ID_LABEL = b"crowdpulse/v1/id"
SEQ_LABEL = b"crowdpulse/v2/seq"
ADDRESS_LABEL = b"crowdpulse/v2/address"
ADDRESS_SIZE = const(6)
FIELD_LABEL = b"crowdpulse/v2/fields"
COMMAND_KEY_LABEL = b"crowdpulse/v1/command-key"
MQTT_PASSWORD_LABEL = b"crowdpulse/v1/mqtt-password/"  # + band id (provisioning)

# Names in topics, configs and venue files: venues and zones are 1-NAME_MAX of
# NAME_CHARS, band and relay ids 1-NAME_MAX of ID_CHARS.
TOPIC_ROOT = "crowdpulse/v1"
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-"
ID_CHARS = NAME_CHARS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ."
NAME_MAX = const(32)


class PacketError(Exception):
    """Any malformed input to this module."""


# the last key's HMAC pads, and its epoch's secrets: a band signs every report with
# one key and changes epoch every 15 minutes, so each report costs one HMAC, not four
_pads = [None, b"", b""]  # key, inner pad, outer pad
_secrets = [None, -1, 0, 0, b""]  # key, epoch, on-air id, seq offset, field mask


def _hmac_sha256(key, msg):
    if _hmac is not None:
        return _hmac.new(key, msg, hashlib.sha256).digest()
    # MicroPython ships no hmac module; RFC 2104 over the built-in sha256.
    if _pads[0] != key:
        k = hashlib.sha256(key).digest() if len(key) > 64 else bytes(key)
        k = k + bytes(64 - len(k))
        _pads[1] = bytes(b ^ 0x36 for b in k)
        _pads[2] = bytes(b ^ 0x5C for b in k)
        _pads[0] = bytes(key)
    inner = hashlib.sha256(_pads[1])
    inner.update(msg)
    outer = hashlib.sha256(_pads[2])
    outer.update(inner.digest())
    return outer.digest()


def _epoch_secrets(key, epoch):
    """(on-air id, seq offset, field mask) of this key and epoch, derived once."""
    c = _secrets
    if c[1] != epoch or c[0] != key:
        c[2], c[3], c[4] = onair_id(key, epoch), seq_offset(key, epoch), field_mask(key, epoch)
        c[0], c[1] = bytes(key), epoch
    return c


def check_band_id(band_id):
    if not isinstance(band_id, str) or not 1 <= len(band_id) <= NAME_MAX:
        raise PacketError("band id must be 1-32 characters")
    for c in band_id:
        if c not in ID_CHARS:
            raise PacketError("band id may hold only letters, digits, '.', '_' and '-'")
    return band_id


def band_key(venue_key, band_id):
    """Per-band key, derived at provisioning; the venue key never leaves the venue."""
    if not isinstance(venue_key, (bytes, bytearray)) or len(venue_key) < 16:
        raise PacketError("venue key must be at least 16 bytes")
    msg = BAND_KEY_LABEL + check_band_id(band_id).encode()
    return _hmac_sha256(venue_key, msg)[:KEY_SIZE]


def _check_key(key):
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise PacketError("band key must be 16 bytes")


def epoch_of(unix_s):
    """The id-rotation epoch that a UTC time falls in."""
    return int(unix_s) // EPOCH_S


def onair_id(key, epoch):
    """The rotating on-air id; only holders of the band key can link epochs."""
    _check_key(key)
    if not isinstance(epoch, int) or not 0 <= epoch <= 0xFFFFFFFF:
        raise PacketError("epoch out of range")
    digest = _hmac_sha256(key, ID_LABEL + struct.pack(">I", epoch))
    return struct.unpack(">I", digest[:4])[0]


def _code(value, offset, step, top):
    q = int((value - offset) / step + 0.5) if value > offset else 0
    return top if q > top else q


def level_code(db):
    return _code(db, LEVEL_OFFSET_DB, LEVEL_STEP_DB, 255)


def level_db(code):
    return LEVEL_OFFSET_DB + code * LEVEL_STEP_DB


def seq_offset(key, epoch):
    """What a band adds to its running report counter on air, in this epoch.

    The counter runs on across epochs, so the gateway's replay check is
    unchanged; the offset changes with the on-air id, so the last seq under one
    id says nothing about the first under the next (docs/privacy.md)."""
    _check_key(key)
    digest = _hmac_sha256(key, SEQ_LABEL + struct.pack(">I", epoch))
    return (digest[0] << 8) | digest[1]


def ble_address(key, epoch):
    """The band's BLE address in this epoch, most significant byte first.

    A non-resolvable private address (Bluetooth Core 5.4, Vol 6, Part B,
    1.3.2.2: the top two bits 0b00, the other 46 neither all 0 nor all 1),
    changing with the on-air id, so the address links no more than the id
    does.  The host layer and the simulator use it as it is; the ESP32 layer
    cannot set a chosen address and asks the controller for a fresh random
    one instead (docs/privacy.md)."""
    _check_key(key)
    if not isinstance(epoch, int) or not 0 <= epoch <= 0xFFFFFFFF:
        raise PacketError("epoch out of range")
    digest = _hmac_sha256(key, ADDRESS_LABEL + struct.pack(">I", epoch))
    addr = bytearray(digest[:ADDRESS_SIZE])
    addr[0] &= 0x3F
    rest = addr[1] & addr[2] & addr[3] & addr[4] & addr[5]
    zero = (addr[0] | addr[1] | addr[2] | addr[3] | addr[4] | addr[5]) == 0
    if (addr[0] == 0x3F and rest == 0xFF) or zero:
        addr[5] ^= 0x01  # the two values the spec forbids: one chance in 2^45
    return bytes(addr)


def id_epoch(key, onair, unix_s):
    """The epoch (now's, the one before or the one after) whose on-air id of this
    band this is, or None: what a key holder needs to read the masked fields."""
    now = epoch_of(unix_s)
    for e in (now, now - 1, now + 1):
        if onair_id(key, e) == onair:
            return e
    return None


def field_mask(key, epoch):
    """The epoch's mask of the MASKED fields (MASK_SIZE bytes): only the gateway,
    which derives every band key, can read a band's levels across its ids."""
    _check_key(key)
    return _hmac_sha256(key, FIELD_LABEL + struct.pack(">I", epoch))[:MASK_SIZE]


def mask_codes(codes, mask, sign):
    """N_CODES codes with the field mask added (sign 1) or taken off (sign -1)."""
    out = bytearray(codes)
    for i in range(len(_MASK_AT)):
        j = _MASK_AT[i]
        out[j] = (codes[j] + sign * mask[i]) & 0xFF
    battery = ((codes[_STATUS_CODE] >> 4) + sign * mask[MASK_SIZE - 1]) & 0x0F
    out[_STATUS_CODE] = (battery << 4) | (codes[_STATUS_CODE] & 0x0F)
    return out


def unmask(buf, key, epoch):
    """A report's bytes with its fields read in clear (the tag no longer checks)."""
    _check_report(buf)
    out = bytearray(buf)
    out[_CODES_AT : _CODES_AT + N_CODES] = mask_codes(out[_CODES_AT : _CODES_AT + N_CODES],
                                                      field_mask(key, epoch), -1)
    return bytes(out)


def encode_codes(key, epoch, counter, codes):
    """Pack already-quantised field codes (interval..status, N_CODES bytes) into a report.

    counter is the band's running report count; the on-air seq hides it behind
    the epoch's offset.  The DSP produces codes directly, so firmware and twin
    share this path."""
    if len(codes) != N_CODES:
        raise PacketError("need %d field codes" % N_CODES)
    if not isinstance(counter, int) or not 0 <= counter <= 0xFFFF:
        raise PacketError("seq out of range")
    for c in codes:
        if not 0 <= c <= 255:
            raise PacketError("field code out of range")
    secrets = _epoch_secrets(key, epoch)
    seq = (counter + secrets[3]) & 0xFFFF
    body = bytearray(BODY_SIZE)
    on_air = mask_codes(codes, secrets[4], 1)
    struct.pack_into(BODY_FORMAT, body, 0, VERSION, secrets[2], seq, *on_air)
    _check_fields(body)
    return bytes(body) + _hmac_sha256(key, body)[:TAG_SIZE]


def flags_of(report):
    """The flags of raw report bytes, without decoding the rest (relays, early flush)."""
    return report[STATUS_AT] & 0x0F


STATUS_AT = const(17)  # FIELDS' "status" (checked against the table by the tests)


def nibbles(high, low):
    """One byte from two counts or codes, each saturated to 0..15."""
    high = 0 if high < 0 else (COUNT_MAX if high > COUNT_MAX else high)
    low = 0 if low < 0 else (COUNT_MAX if low > COUNT_MAX else low)
    return (high << 4) | low


def battery_code(pct):
    """The battery nibble for a percentage (None: unknown)."""
    if pct is None:
        return BATTERY_UNKNOWN
    pct = 0 if pct < 0 else (100 if pct > 100 else int(pct))
    return (pct * BATTERY_STEPS + 50) // 100


def battery_pct(code):
    return None if code == BATTERY_UNKNOWN else (code * 100 + BATTERY_STEPS // 2) // BATTERY_STEPS


def encode(
    key,
    epoch,
    counter,
    interval_ms,
    laeq_db,
    voice_db=LEVEL_OFFSET_DB,
    mid_db=LEVEL_OFFSET_DB,
    low_db=LEVEL_OFFSET_DB,
    top_db=LEVEL_OFFSET_DB,
    tonal=0.0,
    fluct_db=0.0,
    motion_g=None,
    claps=0,
    imu_claps=0,
    battery_pct=None,
    flags=0,
):
    """Quantise physical values (saturating at the field limits) and pack a report."""
    try:
        codes = (
            int(interval_ms) // INTERVAL_STEP_MS,
            level_code(laeq_db),
            level_code(voice_db),
            level_code(mid_db),
            level_code(low_db),
            level_code(top_db),
            _code(tonal, 0.0, TONAL_STEP, 255),
            _code(fluct_db, 0.0, TEXTURE_STEP_DB, 255),
            MOTION_ABSENT if motion_g is None else _code(motion_g, 0.0, MOTION_STEP_G, 254),
            nibbles(int(claps), int(imu_claps)),
            (battery_code(battery_pct) << 4) | (int(flags) & 0x0F),
        )
    except (TypeError, ValueError, OverflowError):
        raise PacketError("field is not a number")
    if int(flags) & ~0x0F:
        raise PacketError("unknown flag bits")
    return encode_codes(key, epoch, counter, codes)


def _check_fields(buf):
    if buf[0] != VERSION:
        raise PacketError("unknown version %d" % buf[0])
    if buf[7] == 0:
        raise PacketError("interval is zero")


def _check_report(buf, versions=(VERSION,)):
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise PacketError("report must be bytes")
    n = len(buf)
    if n < REPORT_SIZE:
        raise PacketError("truncated report (%d bytes)" % n)
    if n > REPORT_SIZE:
        raise PacketError("report too long (%d bytes)" % n)
    if buf[0] not in versions:
        raise PacketError("unknown version %d" % buf[0])
    if buf[0] == VERSION:
        _check_fields(buf)


class Report:
    """One band's feature summary for one interval (v2), in physical units.

    seq is as sent on air: the band's counter plus the epoch's seq_offset.
    Without the band key and the id's epoch the MASKED fields read as on air,
    which is noise; with them, in clear."""

    def __init__(self, buf, key=None, epoch=None):
        _check_report(buf)
        if key is not None:
            buf = unmask(buf, key, epoch)
        v = struct.unpack(BODY_FORMAT, bytes(buf[:BODY_SIZE]))
        self.version = v[0]
        self.onair = v[1]
        self.seq = v[2]
        self.interval_ms = v[3] * INTERVAL_STEP_MS
        self.laeq_db = level_db(v[4])
        self.voice_db = level_db(v[5])
        self.mid_db = level_db(v[6])
        self.low_db = level_db(v[7])
        self.top_db = level_db(v[8])
        self.tonal = v[9] * TONAL_STEP
        self.fluct_db = v[10] * TEXTURE_STEP_DB
        self.motion_g = None if v[11] == MOTION_ABSENT else v[11] * MOTION_STEP_G
        self.claps = v[12] >> 4
        self.imu_claps = v[12] & 0x0F
        self.battery_pct = battery_pct(v[13] >> 4)
        self.flags = v[13] & 0x0F
        self.tag = bytes(buf[BODY_SIZE:])

    @property
    def muted(self):
        return bool(self.flags & FLAG_MUTED)

    @property
    def event(self):
        return bool(self.flags & FLAG_EVENT)

    def as_dict(self):
        out = {"version": self.version, "onair": "%08x" % self.onair}
        for name in _PHYSICAL:
            out[name] = getattr(self, name)
        return out


_PHYSICAL = ("seq", "interval_ms", "laeq_db", "voice_db", "mid_db", "low_db", "top_db", "tonal",
             "fluct_db", "motion_g", "claps", "imu_claps", "battery_pct", "flags")


def decode(buf, key=None, epoch=None):
    """Parse a report without checking its tag; raises PacketError on bad input.
    With the band key and the on-air id's epoch, the masked fields read in clear.

    Version 1 reports (firmware before protocol v2) still decode, into
    wristband.packet_v1.Report, for tools that read old logs."""
    if isinstance(buf, (bytes, bytearray, memoryview)) and len(buf) and buf[0] == 1:
        from wristband import packet_v1

        return packet_v1.Report(buf)
    return Report(buf, key, epoch)


def verify(buf, key):
    """True when the tag matches the band key; malformed input raises PacketError."""
    _check_report(buf, (1, VERSION))
    _check_key(key)
    want = _hmac_sha256(key, bytes(buf[:BODY_SIZE]))[:TAG_SIZE]
    diff = 0
    for a, b in zip(want, bytes(buf[BODY_SIZE:])):
        diff |= a ^ b
    return diff == 0


def command_key(venue_key):
    """The key every band gets to check relay beacons (commands are public, not secret)."""
    if not isinstance(venue_key, (bytes, bytearray)) or len(venue_key) < 16:
        raise PacketError("venue key must be at least 16 bytes")
    return _hmac_sha256(venue_key, COMMAND_KEY_LABEL)[:KEY_SIZE]


def encode_beacon(cmd_key, unix_time, interval_ms, flags, seq, adv_interval_ms=0):
    _check_key(cmd_key)
    try:
        body = struct.pack(BEACON_FORMAT, BEACON_TYPE, int(unix_time),
                           int(interval_ms) // INTERVAL_STEP_MS, int(adv_interval_ms) // 100,
                           int(flags), int(seq) & 0xFFFF)
    except (ValueError, OverflowError, TypeError, struct.error):
        raise PacketError("beacon field out of range")
    return body + _hmac_sha256(cmd_key, body)[:TAG_SIZE]


def decode_beacon(buf, cmd_key):
    """(unix time, interval ms or 0, flags, seq, advertising interval ms or 0) of a
    beacon whose tag checks out."""
    _check_key(cmd_key)
    if not isinstance(buf, (bytes, bytearray, memoryview)) or len(buf) != BEACON_SIZE:
        raise PacketError("not a beacon")
    body = bytes(buf[:BEACON_BODY])
    if body[0] != BEACON_TYPE:
        raise PacketError("not a beacon")
    want = _hmac_sha256(cmd_key, body)[:TAG_SIZE]
    if want != bytes(buf[BEACON_BODY:]):
        raise PacketError("beacon tag does not match")
    _, t, interval, adv, flags, seq = struct.unpack(BEACON_FORMAT, body)
    return t, interval * INTERVAL_STEP_MS, flags, seq, adv * 100


def adv_payload(data):
    """Legacy advertising data: flags, then manufacturer data with a report or beacon."""
    if isinstance(data, (bytes, bytearray)) and len(data) == BEACON_SIZE and data[0] == BEACON_TYPE:
        n = BEACON_SIZE
    else:
        _check_report(data)
        n = REPORT_SIZE
    head = struct.pack("<BBBBBH", 2, 0x01, 0x06, 3 + n, 0xFF, COMPANY_ID)
    return head + bytes(data)


def manufacturer_data(adv):
    """The crowdpulse manufacturer data in raw advertising data, or None."""
    i = 0
    n = len(adv)
    while i + 1 < n:
        length = adv[i]
        if length == 0 or i + 1 + length > n:
            return None
        if adv[i + 1] == 0xFF and length >= 3 and adv[i + 2] | (adv[i + 3] << 8) == COMPANY_ID:
            return bytes(adv[i + 4 : i + 1 + length])
        i += 1 + length
    return None


def encode_batch(records, base_ms):
    """Relay batch: records are (report, rssi_dbm, arrival_ms) as the relay saw them."""
    if len(records) > BATCH_MAX:
        raise PacketError("batch too large")
    out = bytearray(BATCH_HEADER_SIZE + BATCH_RECORD_SIZE * len(records))
    struct.pack_into(BATCH_HEADER, out, 0, BATCH_VERSION, BATCH_RECORD_SIZE, len(records), base_ms)
    pos = BATCH_HEADER_SIZE
    for report, rssi, arrival_ms in records:
        dt = arrival_ms - base_ms
        if not 0 <= dt <= 0xFFFF or not -128 <= rssi <= 127 or len(report) > REPORT_SIZE:
            raise PacketError("batch record out of range")
        struct.pack_into(BATCH_RECORD, out, pos, dt, rssi, len(report))
        out[pos + BATCH_RECORD_HEAD : pos + BATCH_RECORD_HEAD + len(report)] = report
        pos += BATCH_RECORD_SIZE
    return bytes(out)


def decode_batch(buf):
    """Split a relay batch into (report, rssi_dbm, arrival_ms); reports are not decoded."""
    if not isinstance(buf, (bytes, bytearray, memoryview)) or len(buf) < BATCH_HEADER_SIZE:
        raise PacketError("truncated batch")
    version, size, count, base_ms = struct.unpack(BATCH_HEADER, bytes(buf[:BATCH_HEADER_SIZE]))
    if version != BATCH_VERSION:
        raise PacketError("unknown batch version %d" % version)
    if size != BATCH_RECORD_SIZE:
        raise PacketError("unknown batch record size %d" % size)
    if len(buf) != BATCH_HEADER_SIZE + count * size:
        raise PacketError("batch length does not match its count")
    out = []
    pos = BATCH_HEADER_SIZE
    for _ in range(count):
        dt, rssi, n = struct.unpack(BATCH_RECORD, bytes(buf[pos : pos + BATCH_RECORD_HEAD]))
        if n > REPORT_SIZE:
            raise PacketError("batch record longer than a report")
        start = pos + BATCH_RECORD_HEAD
        out.append((bytes(buf[start : start + n]), rssi, base_ms + dt))
        pos += size
    return out
