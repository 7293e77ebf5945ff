"""Wrist motion from an accelerometer: movement intensity and felt claps.

Fed one sample per 10 ms frame (raw counts at `per_g` counts per g).  Claps
at the wrist are sharp impacts: a jump of more than 1.5 g between samples.
"""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython

    def const(x):
        return x


_REFRACTORY = const(10)  # frames: one impact per 100 ms at most


def _norm(x, y, z):
    # alpha-max-beta-min: |a| to within 4 %, integer only
    x = -x if x < 0 else x
    y = -y if y < 0 else y
    z = -z if z < 0 else z
    hi = x if x > y else y
    hi = z if z > hi else hi
    return hi + ((x + y + z - hi) * 3 >> 3)


class Motion:
    def __init__(self, per_g):
        self.per_g = per_g
        self.jump = per_g * 3 // 2
        self.px = 0
        self.py = 0
        self.pz = 0
        self.sum = 0
        self.n = 0
        self.impacts = 0
        self.refr = 0

    def sample(self, x, y, z):
        dev = _norm(x, y, z) - self.per_g
        self.sum += -dev if dev < 0 else dev
        self.n += 1
        jerk = _norm(x - self.px, y - self.py, z - self.pz)
        self.px = x
        self.py = y
        self.pz = z
        if self.refr:
            self.refr -= 1
        elif self.n > 1 and jerk > self.jump:
            self.impacts += 1
            self.refr = _REFRACTORY

    def finish(self):
        """(motion code in 0.02 g units, impacts) for the interval; resets it."""
        code = 0
        if self.n:
            code = (self.sum * 50) // (self.n * self.per_g)
        impacts = self.impacts
        self.sum = 0
        self.n = 0
        self.impacts = 0
        return (254 if code > 254 else code), impacts
