# When a report goes on the air (wristband.schedule.Advert): a new report takes
# the band's next advert slot, a reaction's report a random slot of one
# interval.  Runs on both interpreters.
from wristband.schedule import FRAME_MS, Advert, event_delay_ms


def _lcg(n, seed=12345):
    # a fixed pseudo-random sequence, the same on both interpreters
    out = []
    x = seed
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out.append(x >> 15)
    return out


def _frames_until_out(adv, limit=5000):
    n = 0
    while n < limit:
        out = adv.elapse(FRAME_MS)
        n += 1
        if out is not None:
            return n, out
    return n, None


def test_delays_cover_one_interval_evenly():
    for interval in (100, 700, 7500, 25500):
        delays = [event_delay_ms(interval, b) for b in _lcg(4000)]
        assert min(delays) >= 0 and max(delays) < interval
        quarters = [0, 0, 0, 0]
        for d in delays:
            quarters[d * 4 // interval] += 1
        for q in quarters:
            assert 800 < q < 1200, (interval, quarters)


def test_the_first_report_goes_at_once():
    adv = Advert()
    adv.report(b"r0", 1000)
    assert adv.elapse(0) == b"r0"


def test_a_report_waits_for_the_next_slot_and_the_newest_goes():
    adv = Advert()
    adv.report(b"r0", 1000)
    adv.elapse(0)
    for _ in range(25):  # 250 ms later, the next report
        assert adv.elapse(FRAME_MS) is None
    adv.report(b"r1", 1000)
    for _ in range(25):
        assert adv.elapse(FRAME_MS) is None
    adv.report(b"r2", 1000)
    n, out = _frames_until_out(adv)
    assert out == b"r2"
    assert 50 + n == 99  # one frame before the radio's own advert at 1000 ms


def test_an_event_report_takes_a_random_slot_and_holds_it():
    adv = Advert()
    adv.report(b"r0", 7500)
    adv.elapse(0)
    assert adv.event_report(b"e1", 7500, 345)  # off the air now; slot at 345 ms
    assert not adv.event_report(b"e2", 7500, 7000)  # a later event keeps the slot
    adv.report(b"r1", 7500)  # a plain report does not displace it
    n, out = _frames_until_out(adv)
    assert out == b"e2"
    assert n * FRAME_MS >= 345 and (n - 1) * FRAME_MS < 345
    assert adv.elapse(FRAME_MS) is None


def test_a_new_interval_rephases_at_random():
    slots = []
    for bits in _lcg(200, 7):
        adv = Advert()
        adv.report(b"r0", 100)
        adv.elapse(0)
        assert adv.rephase(5000, bits)  # off the air until the new slot
        adv.report(b"r1", 5000)
        n, out = _frames_until_out(adv)
        assert out == b"r1"
        slots.append(n * FRAME_MS)
    assert min(slots) < 1000 and max(slots) > 4000


def test_an_event_report_takes_a_new_slot_in_a_new_interval():
    adv = Advert()
    adv.report(b"r0", 1000)
    adv.elapse(0)
    adv.event_report(b"e1", 1000, 120)
    assert not adv.rephase(5000, 4000)  # already off the air
    n, out = _frames_until_out(adv)
    assert out == b"e1" and n * FRAME_MS == 4000
