# The ESP32 hardware layer's address handling, with recorders standing in for
# MicroPython's bluetooth, machine and network modules (no ESP32 radio here).
# It checks the order of calls that MicroPython's NimBLE binding needs
# (extmod/nimble/modbluetooth_nimble.c): a new random address only while
# neither advertising nor scanning; never the public address.  Runs under
# both CPython and MicroPython; MicroPython subset only.
import json
import sys

from wristband import config

_NAMES = ("bluetooth", "machine", "network", "neopixel", "wristband.dsp", "wristband.hal.esp32")
CALLS = []


class _BLE:
    def __init__(self):
        CALLS.append(("BLE",))

    def active(self, on=None):
        CALLS.append(("active", on))
        return True

    def config(self, *args, **kw):
        for k in kw:
            CALLS.append(("ble.config", k, kw[k]))

    def irq(self, handler):
        pass

    def gap_advertise(self, interval_us, adv_data=None, connectable=True):
        CALLS.append(("advertise", interval_us))

    def gap_scan(self, duration_ms, interval_us=0, window_us=0):
        CALLS.append(("scan", duration_ms))


class _WLAN:
    def __init__(self, which):
        pass

    def active(self, on=None):
        CALLS.append(("wlan.active", on))

    def config(self, **kw):
        for k in kw:
            CALLS.append(("wlan.config", k, kw[k]))

    def connect(self, ssid, key):
        CALLS.append(("connect", ssid))

    def disconnect(self):
        CALLS.append(("disconnect",))

    def isconnected(self):
        return True


class _Pin:
    OUT = 1
    IN = 0
    PULL_UP = 1

    def __init__(self, *a, **k):
        pass

    def value(self, v=None):
        return 1


class _Any:
    def __init__(self, *a, **k):
        pass

    def feed(self):
        pass


class bluetooth:
    BLE = _BLE


class machine:
    Pin = _Pin
    WDT = _Any
    RTC = _Any
    I2C = _Any
    I2S = _Any


class network:
    STA_IF = 0
    WLAN = _WLAN


class dsp:
    @staticmethod
    def i2s32_to_16(src, dst, n):
        pass


def _layer(wifi):
    saved = {}
    for name in _NAMES:
        saved[name] = sys.modules.get(name)
    sys.modules["bluetooth"] = bluetooth
    sys.modules["machine"] = machine
    sys.modules["network"] = network
    sys.modules["wristband.dsp"] = dsp
    try:
        from wristband.hal import esp32

        raw = {
            "version": 1,
            "venue": "v",
            "zone": "z",
            "band_id": "B1",
            "key": "00" * 16,
            "transport": "both" if wifi else "ble",
            "window": [1700000000, 1700003600],
        }
        if wifi:
            raw["wifi"] = {"ssid": "bands", "password": "secret123"}
            raw["mqtt"] = {"host": "10.0.0.2"}
        cfg = config.parse(json.dumps(raw))
        assert cfg.ok, cfg.errors
        return esp32.Hardware(cfg)
    finally:
        for name in _NAMES:
            if saved[name] is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = saved[name]


def _since(mark):
    return CALLS[mark:]


def test_the_public_address_is_never_used():
    hw = _layer(False)
    del CALLS[:]
    hw.start()
    assert ("ble.config", "addr_mode", 3) in CALLS
    assert CALLS.index(("ble.config", "addr_mode", 3)) == CALLS.index(("active", True)) + 1
    hw.advertise(b"\x02\x01\x06", 100)
    assert CALLS[-1] == ("advertise", 100000)


def test_a_new_address_only_when_neither_advertising_nor_scanning():
    hw = _layer(False)
    hw.start()
    mark = len(CALLS)
    hw.go_quiet(8000)
    quiet = _since(mark)
    assert quiet[0] == ("advertise", None)
    assert quiet[-1] == ("scan", 8000)  # hears beacons while quiet
    mark = len(CALLS)
    hw.new_address(bytes(6))
    switch = _since(mark)
    new = switch.index(("ble.config", "addr_mode", 3))
    assert ("advertise", None) in switch[:new] and ("scan", None) in switch[:new]


def test_a_wifi_band_leaves_the_wlan_and_comes_back_with_a_new_mac():
    hw = _layer(True)
    hw.start()
    mark = len(CALLS)
    hw.net_start()
    first = [c for c in _since(mark) if c[0] == "wlan.config"]
    assert len(first) == 1 and first[0][1] == "mac"
    assert _since(mark)[-1] == ("connect", "bands")  # the new MAC before the first join
    mark = len(CALLS)
    hw.go_quiet(8000)
    assert ("disconnect",) in _since(mark)
    mark = len(CALLS)
    hw.new_address(bytes(6))
    calls = _since(mark)
    macs = [c[2] for c in calls if c[0] == "wlan.config" and c[1] == "mac"]
    assert len(macs) == 1 and macs[0] != first[0][2]
    mac = macs[0]
    assert len(mac) == 6 and mac[0] & 0x03 == 0x02  # locally administered, unicast
    assert (
        calls.index(("disconnect",))
        < calls.index(("wlan.config", "mac", mac))
        < calls.index(("connect", "bands"))
    )


def test_only_relay_beacons_are_kept_from_a_scan():
    hw = _layer(False)
    hw.start()
    head = b"\x02\x01\x06\x13\xff\xff\xff"
    beacon = head[:3] + bytes([3 + 15, 0xFF, 0xFF, 0xFF]) + bytes([0xC1]) + bytes(14)
    report = head[:3] + bytes([3 + 23, 0xFF, 0xFF, 0xFF]) + bytes([2]) + bytes(22)
    hw._ble_irq(5, (0, b"", 0, -60, report))
    hw._ble_irq(5, (0, b"", 0, -60, beacon))
    got = hw.scan_results()
    assert len(got) == 1 and got[0][0] == 0xC1
