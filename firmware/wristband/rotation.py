"""When the band changes its on-air identity, and the quiet around each change.

A passer-by links two on-air ids when anything on the air runs on from one to
the next: the address, the seq, or the timing.  So at each epoch boundary the
band goes quiet at a random moment in the last `quiet_ms` before the boundary
(by its own clock) and speaks again at a random moment in the first `quiet_ms`
after it, with the new id and the new address, from a fresh report phase.
The two moments are drawn apart, so neither the length of the silence nor the
band's clock error (up to a second for a band set by a relay beacon) ties the
old id to the new one (docs/privacy.md has the sizes).

Pure logic: the band feeds it its clock, and does what `step` answers.
"""

import random

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython: the simulator runs this module as is

    def const(x):
        return x


EPOCH_MS = const(900000)  # packet.EPOCH_S in ms
QUIET_MS = const(4000)
KEEP = const(0)  # nothing to do
QUIET = const(1)  # stop sending now: no report, advert or publish until SWITCH
SWITCH = const(2)  # take the identity of `epoch` now, then send again


class Rotation:
    def __init__(self, quiet_ms=QUIET_MS):
        self.quiet_ms = quiet_ms
        self.epoch = -1  # whose id and address are on the air; -1 while quiet
        self.wait = -1  # while quiet: the epoch to come back in
        self.lead = 0  # go quiet this many ms before the end of `epoch`
        self.lag = 0  # come back this many ms into `wait`

    @property
    def quiet(self):
        """Between two identities (not before the first: that needs a clock)."""
        return self.epoch < 0 and self.wait >= 0

    def _draw(self):
        return random.getrandbits(24) % self.quiet_ms if self.quiet_ms > 0 else 0

    def _quiet(self, wait):
        self.epoch = -1
        self.wait = wait
        self.lag = self._draw()

    def step(self, epoch, ms):
        """epoch: the band's clock's epoch; ms: how far into it (0 .. EPOCH_MS-1).

        Returns KEEP, QUIET or SWITCH.  Call it every pass of the main loop."""
        if self.epoch >= 0:
            if epoch == self.epoch and ms < EPOCH_MS - self.lead:
                return KEEP
            # the lead time before the boundary; or the clock jumped past it
            self._quiet(epoch + 1 if epoch == self.epoch else epoch)
            if epoch < self.wait or ms < self.lag:
                return QUIET
        elif epoch < self.wait or (epoch == self.wait and ms < self.lag):
            return KEEP
        self.lead = self._draw()
        if ms >= EPOCH_MS - self.lead:  # came back too late to be heard in this epoch
            self._quiet(epoch + 1)
            return QUIET
        self.epoch = epoch
        return SWITCH
