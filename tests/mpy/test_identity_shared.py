# The band's changing identity (BLE address, rotation timing), under both
# CPython (pytest) and MicroPython.  MicroPython subset only.
import json

from wristband import packet, rotation

_DIR = __file__.rsplit("/", 1)[0]


def _vectors():
    with open(_DIR + "/../vectors/address.json") as fh:
        return json.load(fh)


def _raises(fn, *args):
    try:
        fn(*args)
    except packet.PacketError:
        return True
    return False


def test_address_vectors():
    venue = bytes(range(32))
    for v in _vectors():
        key = packet.band_key(venue, v["band_id"])
        addr = packet.ble_address(key, v["epoch"])
        assert ":".join("%02x" % b for b in addr) == v["address"], v
        assert "%08x" % packet.onair_id(key, v["epoch"]) == v["onair"]


def test_addresses_are_private_and_change_every_epoch():
    key = bytes(range(16))
    seen = set()
    for epoch in range(300):
        a = packet.ble_address(key, epoch)
        assert len(a) == packet.ADDRESS_SIZE
        assert a[0] >> 6 == 0  # non-resolvable private address
        rest = bytes([a[0] & 0x3F]) + a[1:]
        assert rest != bytes(6) and rest != b"\x3f\xff\xff\xff\xff\xff"
        seen.add(a)
    assert len(seen) == 300
    assert packet.ble_address(bytes(16), 7) != packet.ble_address(bytes(15) + b"\x01", 7)


def test_address_rejects_bad_keys_and_epochs():
    assert _raises(packet.ble_address, bytes(15), 1)
    assert _raises(packet.ble_address, bytes(16), -1)
    assert _raises(packet.ble_address, bytes(16), 1 << 32)


def _run(rot, epoch, start_ms, end_ms, step=10):
    """Step a Rotation through [start, end) ms of the epoch timeline; the actions seen."""
    out = []
    t = start_ms
    while t < end_ms:
        e = epoch + t // rotation.EPOCH_MS
        act = rot.step(e, t - (e - epoch) * rotation.EPOCH_MS)
        if act:
            out.append((t, act, rot.epoch))
        t += step
    return out


def test_first_identity_at_once_then_quiet_around_each_boundary():
    rot = rotation.Rotation(4000)
    acts = _run(rot, 100, rotation.EPOCH_MS - 20000, 3 * rotation.EPOCH_MS + 5000)
    assert acts[0] == (rotation.EPOCH_MS - 20000, rotation.SWITCH, 100)
    quiet = [t for t, a, _ in acts if a == rotation.QUIET]
    back = [(t, e) for t, a, e in acts[1:] if a == rotation.SWITCH]
    assert len(quiet) == 3 and len(back) == 3
    for k in range(3):
        edge = (k + 1) * rotation.EPOCH_MS
        assert edge - 4000 < quiet[k] <= edge  # quiet in the last 4 s before the boundary
        # back at the first pass (10 ms apart) at or after a moment drawn in
        # the first 4 s: a draw of 3991-3999 ms is first seen at 4000 ms
        assert edge <= back[k][0] <= edge + 4000
        assert back[k][1] == 101 + k


def test_the_quiet_moments_are_drawn_afresh():
    rot = rotation.Rotation(4000)
    acts = _run(rot, 0, 0, 12 * rotation.EPOCH_MS + 5000, step=10)
    quiet = [t % rotation.EPOCH_MS for t, a, _ in acts if a == rotation.QUIET]
    back = [t % rotation.EPOCH_MS for t, a, _ in acts[1:] if a == rotation.SWITCH]
    assert len(set(quiet)) >= 10 and len(set(back)) >= 10


def test_without_quiet_time_the_switch_is_at_the_boundary():
    rot = rotation.Rotation(0)
    acts = _run(rot, 5, rotation.EPOCH_MS - 50, rotation.EPOCH_MS + 50)
    assert acts == [(rotation.EPOCH_MS - 50, rotation.SWITCH, 5),
                    (rotation.EPOCH_MS, rotation.SWITCH, 6)]


def test_a_clock_jump_goes_quiet_and_comes_back_in_the_new_epoch():
    rot = rotation.Rotation(4000)
    assert rot.step(10, 1000) == rotation.SWITCH
    act = rot.step(13, 0)  # three epochs later, right at a boundary
    assert act == rotation.QUIET or (act == rotation.SWITCH and rot.epoch == 13)
    t = 0
    while rot.epoch < 0:
        t += 10
        act = rot.step(13, t)
    assert act == rotation.SWITCH and rot.epoch == 13 and t < 4000


def test_coming_back_too_late_waits_for_the_next_epoch():
    rot = rotation.Rotation(4000)
    rot.lead = 0
    assert rot.step(7, rotation.EPOCH_MS - 1) in (rotation.SWITCH, rotation.QUIET)
    if rot.epoch < 0:  # drew a lead longer than 1 ms: it waits for epoch 8
        assert rot.wait == 8
        assert rot.step(7, rotation.EPOCH_MS - 1) == 0


def test_quiet_only_between_two_identities():
    rot = rotation.Rotation(4000)
    assert not rot.quiet  # no clock yet: no identity, but nothing to hide either
    rot.step(3, 1000)
    assert not rot.quiet and rot.epoch == 3
    assert rot.step(3, rotation.EPOCH_MS - 1) == rotation.QUIET or rot.lead == 0
    if rot.epoch < 0:
        assert rot.quiet
