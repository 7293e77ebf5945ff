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
        self.interval = FRAME_MS if ms < FRAME_MS else (MAX_INTERVAL_MS if ms > MAX_INTERVAL_MS else ms)

    def frame(self, event=False):
        """Call after each 10 ms frame; returns the interval length (ms) when a report is due, else 0."""
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


class EventAdvert:
    """An event report waiting for its slot on the air (see event_delay_ms).

    While one waits the band stays off the air, so its older report does not
    compete with the reaction; a later event report replaces the payload and
    keeps the slot.  Time is counted in audio frames, not by a clock."""

    def __init__(self):
        self.payload = None
        self.wait = 0

    def hold(self, payload, adv_interval_ms, bits):
        if self.payload is None:
            self.wait = event_delay_ms(adv_interval_ms, bits)
        self.payload = payload

    def elapse(self, ms):
        """Call as time passes; returns the payload once its slot has come, else None."""
        if self.payload is None:
            return None
        self.wait -= ms
        if self.wait > 0:
            return None
        p = self.payload
        self.payload = None
        return p
