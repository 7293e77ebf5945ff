# Wire-format tests that run under both CPython (pytest) and MicroPython.
# MicroPython subset only: no typing, no f-strings with '=', no pytest helpers.
import json

from wristband import packet

_DIR = __file__.rsplit("/", 1)[0]


def _unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def _vectors(version=2):
    with open(_DIR + "/../vectors/packet_v%d.json" % version) as fh:
        return json.load(fh)


def _raises(fn, *args):
    try:
        fn(*args)
    except packet.PacketError:
        return True
    return False


def test_vectors_decode_identically():
    for v in _vectors():
        got = packet.decode(_unhex(v["report"]), _unhex(v["band_key"]), v["epoch"]).as_dict()
        for name, want in v["decoded"].items():
            assert got[name] == want, (v["band_id"], name, got[name], want)


def test_version_1_vectors_still_decode_and_verify():
    venue = bytes(range(32))
    for v in _vectors(1):
        report = _unhex(v["report"])
        got = packet.decode(report).as_dict()
        for name, want in v["decoded"].items():
            assert got[name] == want, (v["band_id"], name, got[name], want)
        assert packet.verify(report, packet.band_key(venue, v["band_id"]))


def test_vectors_key_tag_and_seq_offset():
    venue = bytes(range(32))
    for v in _vectors():
        key = packet.band_key(venue, v["band_id"])
        assert key == _unhex(v["band_key"]), v["band_id"]
        report = _unhex(v["report"])
        assert packet.verify(report, key)
        got = packet.decode(report)
        assert got.onair == packet.onair_id(key, v["epoch"])
        assert packet.seq_offset(key, v["epoch"]) == v["seq_offset"]
        assert packet.field_mask(key, v["epoch"]) == _unhex(v["field_mask"])
        assert packet.id_epoch(key, got.onair, v["epoch"] * packet.EPOCH_S + 1) == v["epoch"]
        assert (got.seq - v["seq_offset"]) & 0xFFFF == v["counter"]


def test_vectors_encode_identically():
    # Re-encode from decoded physical values: must give the same bytes.
    venue = bytes(range(32))
    for v in _vectors():
        d = v["decoded"]
        key = packet.band_key(venue, v["band_id"])
        again = packet.encode(key, v["epoch"], v["counter"], d["interval_ms"], d["laeq_db"],
                         d["voice_db"], d["mid_db"], d["low_db"], d["top_db"], d["tonal"],
                         d["fluct_db"], d["motion_g"], d["claps"], d["imu_claps"],
                         d["battery_pct"], d["flags"])
        assert again == _unhex(v["report"]), v["band_id"]


def test_seq_on_air_does_not_carry_across_epochs():
    # the counter runs on; what goes on air jumps by the new epoch's offset
    key = bytes(range(16))
    a = packet.decode(packet.encode(key, 100, 41, 250, 80)).seq
    b = packet.decode(packet.encode(key, 101, 42, 250, 80)).seq
    assert (a - packet.seq_offset(key, 100)) & 0xFFFF == 41
    assert (b - packet.seq_offset(key, 101)) & 0xFFFF == 42
    assert (b - a) & 0xFFFF != 1


def test_tampered_byte_fails_verify():
    v = _vectors()[1]
    key = _unhex(v["band_key"])
    report = _unhex(v["report"])
    for i in range(packet.REPORT_SIZE):
        for bit in (0x01, 0x80):
            bad = bytearray(report)
            bad[i] ^= bit
            try:
                ok = packet.verify(bytes(bad), key)
            except packet.PacketError:
                ok = False
            assert not ok, i


def test_malformed_inputs_raise_packet_error():
    good = _unhex(_vectors()[0]["report"])
    bad = [b"", good[:1], good[:22], good + b"\x00", b"\x03" + good[1:],
           good[:7] + b"\x00" + good[8:], None, 42, "text", bytes(23)]
    for b in bad:
        assert _raises(packet.decode, b), b
        assert _raises(packet.verify, b, bytes(16)), b


def test_bad_keys_and_ids_raise_packet_error():
    assert _raises(packet.band_key, b"short", "B1")
    assert _raises(packet.band_key, bytes(32), "")
    assert _raises(packet.band_key, bytes(32), "has space")
    assert _raises(packet.band_key, bytes(32), "x" * 33)
    assert _raises(packet.onair_id, bytes(15), 1)
    assert _raises(packet.onair_id, bytes(16), -1)
    assert _raises(packet.encode, bytes(16), 1, 70000, 250, 70, 70)
    assert _raises(packet.encode, bytes(16), 1, 1, 0, 70, 70)
    assert _raises(packet.encode, bytes(16), 1, 1, 2560, 70, 70)
    assert _raises(packet.encode, bytes(16), 1, 1, 250, "loud", 70)
    assert _raises(packet.encode, bytes(16), 1, 1, 250, 70, 20, 20, 20, 20, 0, 0, None, 0, 0, None,
                   0x10)


def test_batch_round_trip_and_errors():
    reports = [_unhex(v["report"]) for v in _vectors()]
    records = [(r, -40 - i, 1000 + 7 * i) for i, r in enumerate(reports)]
    batch = packet.encode_batch(records, 990)
    assert len(batch) == packet.BATCH_HEADER_SIZE + packet.BATCH_RECORD_SIZE * len(records)
    assert packet.decode_batch(batch) == records
    assert _raises(packet.decode_batch, batch[:-1])
    assert _raises(packet.decode_batch, b"\x02" + batch[1:])
    assert _raises(packet.decode_batch, b"")
    assert _raises(packet.encode_batch, [(reports[0], -40, 100000)], 0)


def test_adv_payload_fits_legacy_advert():
    adv = packet.adv_payload(_unhex(_vectors()[0]["report"]))
    assert len(adv) <= 31
    assert adv[3] == len(adv) - 4 and adv[4] == 0xFF


def test_flags_of_reads_the_status_field():
    at = [off for name, off, code in packet.FIELDS if name == "status"][0]
    assert at == packet.STATUS_AT
    v = _vectors()[1]
    report = _unhex(v["report"])
    assert packet.flags_of(report) == packet.decode(report).flags == packet.FLAG_EVENT


def test_the_fields_on_air_say_nothing_without_the_key():
    # the same sound in two epochs: the bytes on air differ, the fields in clear do not
    key = bytes(range(16))
    a = packet.encode(key, 100, 7, 250, 91.5, 88.0, 80.5, 95.0, 77.0, 0.4, 1.5, 0.3, 2, 1, 60, 2)
    b = packet.encode(key, 101, 8, 250, 91.5, 88.0, 80.5, 95.0, 77.0, 0.4, 1.5, 0.3, 2, 1, 60, 2)
    assert a[8:17] != b[8:17] and a[17] >> 4 != b[17] >> 4
    # relays still read the flags
    assert packet.flags_of(a) == packet.flags_of(b) == packet.FLAG_EVENT
    ca, cb = packet.decode(a, key, 100).as_dict(), packet.decode(b, key, 101).as_dict()
    for name in ("laeq_db", "voice_db", "mid_db", "low_db", "top_db", "tonal", "fluct_db",
                 "motion_g", "claps", "imu_claps", "battery_pct", "flags"):
        assert ca[name] == cb[name], name
    assert ca["laeq_db"] == 91.5 and ca["claps"] == 2 and ca["imu_claps"] == 1
