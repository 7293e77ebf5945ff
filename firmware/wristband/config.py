"""The band's configuration: one JSON file on flash, every field checked.

A missing or broken file, or a field that cannot be trusted, never stops the
band: `load()` returns a Config whose `errors` say what is wrong.  With any
error the band stays in safe mode (microphone off, nothing sent) and waits to
be re-provisioned; fields with a harmless fault fall back to a default and add
a warning instead.
"""

import json

from wristband import boards, packet

CONFIG_PATH = "config.json"
TRANSPORTS = ("ble", "mqtt", "both")
_HEX = "0123456789abcdefABCDEF"
_MIN_UNIX = 1600000000  # any real event is after 2020


def _name(v, chars, longest):
    if not isinstance(v, str) or not 1 <= len(v) <= longest:
        return False
    return all(c in chars for c in v)


def _key(v):
    if not isinstance(v, str) or len(v) != 32:
        return None
    for c in v:
        if c not in _HEX:
            return None
    return bytes(int(v[i : i + 2], 16) for i in range(0, 32, 2))


def _int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


class Config:
    def __init__(self):
        self.errors = []
        self.warnings = []
        self.venue = None
        self.zone = None
        self.band_id = None
        self.key = None
        self.command_key = None
        self.transport = "both"
        self.interval_ms = 250
        self.window = None  # (start, end) in UTC unix seconds
        self.board = boards.DEFAULT
        self.mic = dict(boards.PROFILES[boards.DEFAULT]["mic"])
        self.wifi = None
        self.mqtt = None
        self.ntp = "pool.ntp.org"
        self.status_every_s = 60

    @property
    def ok(self):
        return not self.errors

    def _err(self, msg):
        self.errors.append(msg)

    def _warn(self, msg):
        self.warnings.append(msg)

    def _identity(self, raw):
        if _name(raw.get("venue"), packet.NAME_CHARS, packet.NAME_MAX):
            self.venue = raw["venue"]
        else:
            self._err("venue must be 1-32 of a-z 0-9 _ -")
        if _name(raw.get("zone"), packet.NAME_CHARS, packet.NAME_MAX):
            self.zone = raw["zone"]
        else:
            self._err("zone must be 1-32 of a-z 0-9 _ -")
        if _name(raw.get("band_id"), packet.ID_CHARS, packet.NAME_MAX):
            self.band_id = raw["band_id"]
        else:
            self._err("band_id must be 1-32 of A-Z a-z 0-9 . _ -")
        self.key = _key(raw.get("key"))
        if self.key is None:
            self._err("key must be 32 hex digits (the band key from provisioning)")
        if "command_key" in raw:
            self.command_key = _key(raw["command_key"])
            if self.command_key is None:
                self._warn("command_key is not 32 hex digits; relay beacons are ignored")

    def _radio(self, raw):
        t = raw.get("transport", "both")
        if t in TRANSPORTS:
            self.transport = t
        else:
            self._err("transport must be ble, mqtt or both")
        v = raw.get("interval_ms", 250)
        if _int(v, 10, 2550):
            self.interval_ms = v - v % 10
        else:
            self._warn("interval_ms must be 10-2550; using 250")
        w = raw.get("wifi")
        if w is not None:
            if (isinstance(w, dict) and isinstance(w.get("ssid"), str)
                    and isinstance(w.get("password", ""), str)):
                self.wifi = (w["ssid"], w.get("password", ""))
            else:
                self._err("wifi must be {ssid, password}")
        m = raw.get("mqtt")
        if m is not None:
            ok = (isinstance(m, dict) and isinstance(m.get("host"), str)
                  and _int(m.get("port", 1883), 1, 65535))
            for k in ("user", "password"):
                ok = ok and isinstance(m.get(k, ""), str)
            if ok:
                self.mqtt = (m["host"], m.get("port", 1883), m.get("user") or None,
                             m.get("password") or None, bool(m.get("tls", False)))
            else:
                self._err("mqtt must be {host, port, user, password, tls}")
        if self.transport != "ble" and self.mqtt is None:
            self._err("transport %s needs an mqtt section" % self.transport)
        if isinstance(raw.get("ntp"), str):
            self.ntp = raw["ntp"]

    def _timing(self, raw):
        w = raw.get("window")
        if (isinstance(w, list) and len(w) == 2 and _int(w[0], _MIN_UNIX, 2**32 - 1)
                and _int(w[1], _MIN_UNIX, 2**32 - 1) and w[0] < w[1]):
            self.window = (w[0], w[1])
        else:
            self._err("window must be [start, end] in UTC unix seconds, start < end")
        v = raw.get("status_every_s", 60)
        if _int(v, 1, 3600):
            self.status_every_s = v

    def _hardware(self, raw):
        b = raw.get("board", boards.DEFAULT)
        if b not in boards.PROFILES:
            self._err("unknown board %r; known: %s" % (b, ", ".join(sorted(boards.PROFILES))))
            return
        self.board = b
        mic = dict(boards.PROFILES[b]["mic"])
        over = raw.get("mic", {})
        if not isinstance(over, dict):
            self._err("mic must be an object")
            return
        if "sensitivity_dbfs" in over:
            s = over["sensitivity_dbfs"]
            if isinstance(s, (int, float)) and not isinstance(s, bool) and -60 <= s <= 0:
                mic["sensitivity_cdb"] = int(round(s * 100))
            else:
                self._warn("mic.sensitivity_dbfs must be -60..0; using the board's")
        pins = over.get("pins")
        if pins is not None:
            if isinstance(pins, dict) and all(_int(p, 0, 48) for p in pins.values()):
                mic["pins"] = pins
            else:
                self._err("mic.pins must map names to GPIO numbers 0-48")
        self.mic = mic


def parse(text):
    cfg = Config()
    try:
        raw = json.loads(text)
    except ValueError:
        cfg._err("config is not valid JSON")
        return cfg
    if not isinstance(raw, dict):
        cfg._err("config must be a JSON object")
        return cfg
    if raw.get("version", 1) != 1:
        cfg._err("config version %r is not supported" % raw.get("version"))
    cfg._identity(raw)
    cfg._radio(raw)
    cfg._timing(raw)
    cfg._hardware(raw)
    return cfg


def load(path=CONFIG_PATH):
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        cfg = Config()
        cfg._err("no %s on the band; provision it with `crowdpulse flash`" % path)
        return cfg
    return parse(text)
