# The timing of event adverts (wristband.schedule): a reaction's report waits a
# random slot of one advertising interval.  Runs on both interpreters.
from wristband.schedule import FRAME_MS, EventAdvert, event_delay_ms


def _lcg(n, seed=12345):
    # a fixed pseudo-random sequence, the same on both interpreters
    out = []
    x = seed
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append(x >> 15)
    return out


def test_delays_cover_one_interval_evenly():
    for interval in (100, 700, 7500, 25500):
        delays = [event_delay_ms(interval, b) for b in _lcg(4000)]
        assert min(delays) >= 0 and max(delays) < interval
        quarters = [0, 0, 0, 0]
        for d in delays:
            quarters[d * 4 // interval] += 1
        for q in quarters:
            assert 800 < q < 1200, (interval, quarters)


def test_an_event_advert_goes_out_in_its_slot_and_only_once():
    adv = EventAdvert()
    adv.hold(b"first", 700, 345)  # slot: 345 ms
    frames = 0
    out = None
    while out is None and frames < 100:
        out = adv.elapse(FRAME_MS)
        frames += 1
    assert out == b"first"
    assert frames * FRAME_MS >= 345 and (frames - 1) * FRAME_MS < 345
    assert adv.elapse(FRAME_MS) is None


def test_a_later_event_replaces_the_payload_but_keeps_the_slot():
    adv = EventAdvert()
    adv.hold(b"first", 1000, 250)
    assert adv.elapse(200) is None
    adv.hold(b"second", 1000, 990)  # the slot stays at 250 ms
    assert adv.elapse(40) is None
    assert adv.elapse(10) == b"second"


def test_a_zero_slot_goes_at_once():
    adv = EventAdvert()
    adv.hold(b"now", 100, 300)  # 300 % 100 == 0
    assert adv.elapse(0) == b"now"
