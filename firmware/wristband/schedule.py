"""When a report is due: at the end of the interval, or early when a reaction starts."""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython: the simulator and tools use this module as is

    def const(x):
        return x


FRAME_MS = const(10)
MIN_EVENT_MS = const(50)  # an event report covers at least this much audio
MAX_INTERVAL_MS = const(2550)  # the report's interval field tops out here


class Schedule:
    def __init__(self, interval_ms=250):
        self.interval = 250
        self.elapsed = 0
        self.set_interval(interval_ms)

    def set_interval(self, ms):
        ms = (int(ms) // FRAME_MS) * FRAME_MS
        self.interval = FRAME_MS if ms < FRAME_MS else min(ms, MAX_INTERVAL_MS)

    def frame(self, event=False):
        """Call after each 10 ms frame; returns the interval length (ms) when a report
        is due, else 0."""
        self.elapsed += FRAME_MS
        if self.elapsed >= self.interval or (event and self.elapsed >= MIN_EVENT_MS):
            ms = self.elapsed
            self.elapsed = 0
            return ms
        return 0


def event_delay_ms(adv_interval_ms, bits):
    """How long an event report waits before it goes on the air: a random slot
    of one advertising interval (bits: a random integer, e.g. getrandbits(16)).

    When a crowd reacts, every band in radio range flags the same onset within
    a frame or two.  Adverts sent at once would all collide (BLE is pure ALOHA),
    and since (re)starting advertising also sets the phase of every later
    advert, the bands would stay in step and keep colliding for many intervals.
    Spread over one interval (the one the gateway's rate control chose for this
    density), the event adverts offer the channel the load it carries best, and
    every advert heard after the onset carries the reaction."""
    return bits % adv_interval_ms if adv_interval_ms > 0 else 0


class Advert:
    """Which report goes on the air (BLE), and when.

    The radio advertises on its own every interval; (re)starting it puts a
    PDU on the air at once and sets the phase of every later one.  So:
    - a new report waits for the band's next advert, and goes one frame
      before it in its place (newer reports replace it meanwhile): one PDU
      per interval, the newest report in each, and the phase stays the
      band's own, never the report schedule's (a crowd's onset puts every
      band's report schedule in step);
    - an event report goes off the air and back on in a random slot of one
      interval (event_delay_ms); while it waits, later reports do not
      replace it, later event reports do and keep the slot;
    - rephase(): the interval changed (every band hears it at once), so the
      band goes quiet and its next advert comes at a random point of the new
      interval (a waiting event report too: a slot of the old interval would
      crowd the flagged adverts together).
    Time is counted in audio frames (elapse), not by a clock."""

    def __init__(self):
        self.payload = None
        self.event = False
        self.wait = 0
        self.since = -1  # ms since the last (re)start; -1: never started

    def report(self, payload, interval_ms):
        if self.event:
            return
        if self.payload is None:
            self.wait = 0 if self.since < 0 else interval_ms - FRAME_MS - self.since
        self.payload = payload

    def event_report(self, payload, interval_ms, bits):
        """Returns True when the band must go off the air now."""
        first = not self.event
        if first:
            self.wait = event_delay_ms(interval_ms, bits)
            self.event = True
        self.payload = payload
        return first

    def rephase(self, interval_ms, bits):
        """Returns True when the band must go off the air now (until its new slot)."""
        if self.since < 0:
            return False
        if self.event:  # a new slot in the new interval, like everyone else's
            self.wait = event_delay_ms(interval_ms, bits)
            return False  # (already off the air)
        self.since = interval_ms - event_delay_ms(interval_ms, bits)
        if self.payload is not None:
            self.wait = interval_ms - FRAME_MS - self.since
        return True

    def elapse(self, ms):
        """Call as audio frames pass; returns the payload to (re)start advertising
        with now, else None."""
        if 0 <= self.since < 3600000:  # (a band off the air for an hour needs no more)
            self.since += ms
        if self.payload is None:
            return None
        self.wait -= ms
        if self.wait > 0:
            return None
        p = self.payload
        self.payload = None
        self.event = False
        self.since = 0
        return p
