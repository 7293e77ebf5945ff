# Wire-format tests that run under both CPython (pytest) and MicroPython.
# MicroPython subset only: no typing, no f-strings with '=', no pytest helpers.
import json

from wristband import packet as P

_DIR = __file__.rsplit("/", 1)[0]


def _unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def _vectors():
    with open(_DIR + "/../vectors/packet_v1.json") as fh:
        return json.load(fh)


def _raises(fn, *args):
    try:
        fn(*args)
    except P.PacketError:
        return True
    return False


def test_vectors_decode_identically():
    for v in _vectors():
        got = P.decode(_unhex(v["report"])).as_dict()
        for name, want in v["decoded"].items():
            assert got[name] == want, (v["band_id"], name, got[name], want)


def test_vectors_key_and_tag():
    venue = bytes(range(32))
    for v in _vectors():
        key = P.band_key(venue, v["band_id"])
        assert key == _unhex(v["band_key"]), v["band_id"]
        report = _unhex(v["report"])
        assert P.verify(report, key)
        assert P.decode(report).onair == P.onair_id(key, v["epoch"])


def test_vectors_encode_identically():
    # Re-encode from decoded physical values: must give the same bytes.
    venue = bytes(range(32))
    for v in _vectors():
        d = v["decoded"]
        key = P.band_key(venue, v["band_id"])
        again = P.encode(key, v["epoch"], d["seq"], d["interval_ms"], d["laeq_db"],
                         d["lafmax_db"], d["claps"], d["applause"], d["voice_db"],
                         d["voice_excess_db"], d["onset_rate"], d["motion_g"],
                         d["battery_pct"], d["flags"])
        assert again == _unhex(v["report"]), v["band_id"]


def test_tampered_byte_fails_verify():
    v = _vectors()[1]
    key = _unhex(v["band_key"])
    report = _unhex(v["report"])
    for i in range(P.REPORT_SIZE):
        for bit in (0x01, 0x80):
            bad = bytearray(report)
            bad[i] ^= bit
            try:
                ok = P.verify(bytes(bad), key)
            except P.PacketError:
                ok = False
            assert not ok, i


def test_malformed_inputs_raise_packet_error():
    good = _unhex(_vectors()[0]["report"])
    bad = [b"", good[:1], good[:22], good + b"\x00", b"\x02" + good[1:],
           good[:7] + b"\x00" + good[8:], good[:16] + b"\x65" + good[17:],
           good[:17] + b"\x80" + good[18:], None, 42, "text", bytes(23)]
    for b in bad:
        assert _raises(P.decode, b), b
        assert _raises(P.verify, b, bytes(16)), b


def test_bad_keys_and_ids_raise_packet_error():
    assert _raises(P.band_key, b"short", "B1")
    assert _raises(P.band_key, bytes(32), "")
    assert _raises(P.band_key, bytes(32), "has space")
    assert _raises(P.band_key, bytes(32), "x" * 33)
    assert _raises(P.onair_id, bytes(15), 1)
    assert _raises(P.onair_id, bytes(16), -1)
    assert _raises(P.encode, bytes(16), 1, 70000, 250, 70, 70)
    assert _raises(P.encode, bytes(16), 1, 1, 0, 70, 70)
    assert _raises(P.encode, bytes(16), 1, 1, 2560, 70, 70)
    assert _raises(P.encode, bytes(16), 1, 1, 250, "loud", 70)


def test_batch_round_trip_and_errors():
    reports = [_unhex(v["report"]) for v in _vectors()]
    records = [(r, -40 - i, 1000 + 7 * i) for i, r in enumerate(reports)]
    batch = P.encode_batch(records, 990)
    assert len(batch) == P.BATCH_HEADER_SIZE + P.BATCH_RECORD_SIZE * len(records)
    assert P.decode_batch(batch) == records
    assert _raises(P.decode_batch, batch[:-1])
    assert _raises(P.decode_batch, b"\x02" + batch[1:])
    assert _raises(P.decode_batch, b"")
    assert _raises(P.encode_batch, [(reports[0], -40, 100000)], 0)


def test_adv_payload_fits_legacy_advert():
    adv = P.adv_payload(_unhex(_vectors()[0]["report"]))
    assert len(adv) <= 31
    assert adv[3] == len(adv) - 4 and adv[4] == 0xFF
