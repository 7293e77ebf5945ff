# Runtime pieces that run on both interpreters: config validation, motion,
# relay beacons and advert parsing.  MicroPython subset only.
import json

from wristband import config, packet
from wristband.motion import Motion

GOOD = {
    "version": 1, "venue": "club-x", "zone": "floor", "band_id": "B0001",
    "key": "00112233445566778899aabbccddeeff", "transport": "mqtt", "interval_ms": 250,
    "window": [1800000000, 1800036000], "mqtt": {"host": "10.0.0.2", "port": 1883},
}


def _cfg(**changes):
    raw = dict(GOOD)
    for k, v in changes.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    return config.parse(json.dumps(raw))


def test_good_config_is_ok():
    c = _cfg()
    assert c.ok, c.errors
    assert c.key == bytes(range(0, 256, 17))
    assert c.mic["sensitivity_cdb"] == -2600 and c.mic["type"] == "i2s"
    assert c.mqtt == ("10.0.0.2", 1883, None, None, False)


def test_each_critical_field_is_checked():
    cases = [("venue", "Club X"), ("zone", ""), ("band_id", "a b"), ("key", "abc"),
             ("transport", "radio"), ("window", [5, 1]), ("window", "tonight"), ("board", "x"),
             ("mqtt", None), ("mqtt", {"host": 5}), ("wifi", {"ssid": 1}), ("version", 2)]
    for name, value in cases:
        c = _cfg(**{name: value})
        assert not c.ok, (name, value)
        assert c.errors, (name, value)


def test_harmless_faults_fall_back_with_a_warning():
    c = _cfg(interval_ms=5)
    assert c.ok and c.interval_ms == 250 and c.warnings
    c = _cfg(mic={"sensitivity_dbfs": 3})
    assert c.ok and c.mic["sensitivity_cdb"] == -2600 and c.warnings
    c = _cfg(mic={"sensitivity_dbfs": -22.5})
    assert c.mic["sensitivity_cdb"] == -2250


def test_not_json_and_not_an_object():
    assert config.parse("{nope").errors == ["config is not valid JSON"]
    assert config.parse("[1, 2]").errors == ["config must be a JSON object"]
    assert not config.load("/nonexistent/config.json").ok


def test_ble_only_needs_no_mqtt():
    assert _cfg(transport="ble", mqtt=None).ok


def test_motion_counts_impacts_and_intensity():
    m = Motion(4096)
    for _ in range(50):
        m.sample(0, 0, 4096)  # still, 1 g down
    code, impacts = m.finish()
    assert code == 0 and impacts == 0
    for i in range(50):
        m.sample(0, 0, 4096 + (12000 if i % 20 == 10 else 0))
    code, impacts = m.finish()
    assert impacts == 2 and code > 0


def test_beacons_round_trip_and_reject_forgery():
    ck = packet.command_key(bytes(range(32)))
    b = packet.encode_beacon(ck, 1800000000, 500, packet.CMD_EVENT_OVER, 7, 2400)
    assert len(b) == packet.BEACON_SIZE
    assert packet.decode_beacon(b, ck) == (1800000000, 500, packet.CMD_EVENT_OVER, 7, 2400)
    bad = bytearray(b)
    bad[3] ^= 1
    for data in (bytes(bad), b[:-1], b"\x01" + b[1:]):
        try:
            packet.decode_beacon(data, ck)
            raise AssertionError(data)
        except packet.PacketError:
            pass


def test_manufacturer_data_from_adverts():
    report = packet.encode(bytes(16), 1, 2, 250, 80, 85)
    adv = packet.adv_payload(report)
    assert packet.manufacturer_data(adv) == report
    beacon = packet.encode_beacon(bytes(16), 1800000000, 0, 0, 1)
    assert packet.manufacturer_data(packet.adv_payload(beacon)) == beacon
    other = b"\x02\x01\x06\x05\xff\x4c\x00\x01\x02"  # somebody else's company id
    assert packet.manufacturer_data(other) is None
    assert packet.manufacturer_data(b"\x09\xff") is None  # truncated
