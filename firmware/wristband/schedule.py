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
