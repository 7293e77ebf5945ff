"""Tonal share: how much of the voice band's energy sits in steady spectral lines.

Programme music is mostly notes: partials that hold their frequency and level
from one 32 ms window to the next.  A crowd (hundreds of voices, thousands of
claps), rain and ventilation are noise: every FFT bin's level jumps at random
between windows.  So the band runs a 128-point FFT of the voice band every
32 ms (decimated to 4 kHz: 31.25 Hz bins, 312 Hz - 2 kHz kept), and measures
the share of the energy in bins whose level moved less than 3 dB since the
last window.  docs/dsp.md gives the derivation and the figures.

The 128 real samples go through a 64-point complex FFT (even samples as the
real part, odd as the imaginary) and one unpacking step: half the butterflies
of a 128-point transform, which keeps the band inside its CPU budget.
Integer-only viper code, 32-bit safe, compiled by numba in the twin like
dspcore and dspfeat.  The FFT runs on block-normalised input (at most 2^13), so
every butterfly keeps |re|, |im| <= 2^13 and every product below 2^30.
"""

import array
import sys

from micropython import const

from wristband.native import viper

# 32 on 64-bit hosts (unix port), 0 on the ESP32; the twin sets 0 (see dspcore).
_SEXT = 32 if sys.maxsize > 0x7FFFFFFF else 0

N = const(128)  # window length (32 ms at 4 kHz)
_HALF = const(64)  # the complex FFT's length
_K0 = const(10)  # first bin kept: 312.5 Hz
_K1 = const(64)  # one past the last: 2 kHz
_PEAK = const(4096)  # block-normalise the window's peak to [2^12, 2^13)
_STEADY = const(1020)  # 3 dB in log units: a partial that held its level
_QUIET = const(4)  # peak below this: the band hears nothing to judge
_LIFT = const(40960)  # 40 octaves of power, so a bin's absolute level is always > 0
# Of every four windows, the first two are analysed (the second against the
# first) and two are skipped: a steady share every 128 ms is plenty for a
# 250 ms report, and half the FFTs keep the band inside its CPU budget.
_GROUP = const(4)
_PAIR = const(2)

# Slots of the state array.
T_FILL = const(0)  # samples in the ring
T_SUM = const(1)  # per interval: sum of window shares (0..256 each) ...
T_N = const(2)  # ... and how many windows
T_HAVE = const(3)  # a previous window exists
T_PHASE = const(4)  # which window of a group of _GROUP this is
T_PREV = const(5)  # _K1 slots: last window's bin levels, absolute log units
N_STATE = const(T_PREV + _K1)
# Work array: ring (N), re (64), im (64), twiddles cos and sin of 2 pi k / 128
# (64 each), window (N), 6-bit reversed index (64).
N_WORK = const(2 * N + 5 * _HALF)
W_RING = const(0)
W_RE = const(N)
W_IM = const(N + _HALF)
W_COS = const(N + 2 * _HALF)
W_SIN = const(N + 3 * _HALF)
W_WIN = const(N + 4 * _HALF)
W_REV = const(2 * N + 4 * _HALF)

# round(32767 * cos(2 pi k / 128)), k = 0..32: every twiddle and the Hann window
# come from this quarter wave by symmetry, in integers, so band and twin agree.
_QUARTER = array.array(
    "H",
    (32767, 32728, 32609, 32412, 32137, 31785, 31356, 30852, 30273, 29621, 28898, 28105,
     27245, 26319, 25329, 24279, 23170, 22005, 20787, 19519, 18204, 16846, 15446, 14010,
     12539, 11039, 9512, 7962, 6393, 4808, 3212, 1608, 0),
)


def _cos(k):
    """32767 * cos(2 pi k / 128) for k = 0..128, from the quarter wave."""
    if k <= 32:
        return int(_QUARTER[k])
    if k <= 64:
        return -int(_QUARTER[64 - k])
    if k <= 96:
        return -int(_QUARTER[k - 64])
    return int(_QUARTER[128 - k])


def work():
    """The preallocated work area, with twiddles and window filled in (once, at start)."""
    w = array.array("i", [0] * N_WORK)
    for k in range(_HALF):
        w[W_COS + k] = _cos(k)
        w[W_SIN + k] = _cos(32 - k) if k <= 32 else _cos(k - 32)  # sin = cos(. - pi/2)
    for n in range(N):
        w[W_WIN + n] = (32767 - _cos(n)) >> 1  # Hann
    for m in range(_HALF):
        r = 0
        for b in range(6):
            r |= ((m >> b) & 1) << (5 - b)
        w[W_REV + m] = r
    return w


def state():
    return array.array("i", [0] * N_STATE)


@viper
def _fft(w: ptr32):
    """In-place 64-point radix-2 FFT of w[W_RE..], w[W_IM..] (already in bit-reversed
    order), halving at every stage so that the components never grow past the
    input's bound.  Twiddles are W_128^(2j): the table is for 128 points."""
    x = int(_SEXT)
    size = 2
    step = _HALF
    while size <= _HALF:
        half = size >> 1
        start = 0
        while start < _HALF:
            for j in range(half):
                c = (w[W_COS + j * step] << x) >> x
                s = (w[W_SIN + j * step] << x) >> x
                a = start + j
                b = a + half
                br = (w[W_RE + b] << x) >> x
                bi = (w[W_IM + b] << x) >> x
                # (br + i bi) * (c - i s)
                tr = ((br * c) >> 15) + ((bi * s) >> 15)
                ti = ((bi * c) >> 15) - ((br * s) >> 15)
                ar = (w[W_RE + a] << x) >> x
                ai = (w[W_IM + a] << x) >> x
                w[W_RE + b] = (ar - tr) >> 1
                w[W_IM + b] = (ai - ti) >> 1
                w[W_RE + a] = (ar + tr) >> 1
                w[W_IM + a] = (ai + ti) >> 1
            start += size
        size <<= 1
        step >>= 1


@viper
def _load(w: ptr32) -> int:
    """Window the ring into re/im (even samples real, odd imaginary) in bit-reversed
    order, block-normalised.

    Returns the normalising shift (positive: scaled down), or -99 when the
    window is too quiet to judge."""
    x = int(_SEXT)
    peak = 0
    for n in range(N):
        v = (w[W_RING + n] << x) >> x
        if v < 0:
            v = 0 - v
        if v > peak:
            peak = v
    if peak < _QUIET:
        return -99
    sh = 0
    while peak >= 2 * _PEAK:
        peak >>= 1
        sh += 1
    while peak < _PEAK:
        peak <<= 1
        sh -= 1
    for m in range(_HALF):
        n = m + m
        a = (w[W_RING + n] << x) >> x
        b = (w[W_RING + n + 1] << x) >> x
        if sh >= 0:
            a = a >> sh
            b = b >> sh
        else:
            a = a << (0 - sh)
            b = b << (0 - sh)
        r = w[W_REV + m]
        w[W_RE + r] = (a * w[W_WIN + n]) >> 15
        w[W_IM + r] = (b * w[W_WIN + n + 1]) >> 15
    return sh


@viper
def _judge(w: ptr32, t: ptr32, sh: int):
    """Compare this window's bin levels with the last window's; add the steady share.

    Levels are 1024 * log2(power) by the octave and linear within it: at most
    0.26 dB off, plenty for a 3 dB test, and no call per bin."""
    x = int(_SEXT)
    tot = 0
    steady = 0
    have = t[T_HAVE]
    gain = sh * 2048 + _LIFT  # undo the block normalisation, in log units of power
    for k in range(_K0, _K1):
        # unpack bin k of the 128 real samples from bins k and 64 - k of the
        # 64-point transform of their even/odd pairs
        ar = (w[W_RE + k] << x) >> x
        ai = (w[W_IM + k] << x) >> x
        br = (w[W_RE + _HALF - k] << x) >> x
        bi = (w[W_IM + _HALF - k] << x) >> x
        er = (ar + br) >> 1
        ei = (ai - bi) >> 1
        orr = (ai + bi) >> 1
        oi = (br - ar) >> 1
        c = (w[W_COS + k] << x) >> x
        s = w[W_SIN + k]
        re = er + (((c * orr) >> 15) + ((s * oi) >> 15))
        im = ei + (((c * oi) >> 15) - ((s * orr) >> 15))
        p = re * re + im * im
        lv = 0
        if p > 1:
            e = 0
            m = p
            if m >= 1 << 16:
                m >>= 16
                e += 16
            if m >= 1 << 8:
                m >>= 8
                e += 8
            if m >= 1 << 4:
                m >>= 4
                e += 4
            if m >= 1 << 2:
                m >>= 2
                e += 2
            if m >= 2:
                e += 1
            # p in [2^e, 2^(e+1)): the fraction by linear interpolation
            if e >= 10:
                frac = (p >> (e - 10)) - 1024
            else:
                frac = (p << (10 - e)) - 1024
            lv = (e << 10) + frac + gain
        prev = t[T_PREV + k]
        t[T_PREV + k] = lv
        en = p >> 6
        tot += en
        if have != 0 and lv != 0 and prev != 0:
            d = lv - prev
            if d < _STEADY and d > 0 - _STEADY:
                steady += en
    t[T_HAVE] = 1
    if have != 0 and tot >= 256:
        share = steady // (tot >> 8)
        t[T_SUM] = t[T_SUM] + (256 if share > 256 else share)
        t[T_N] = t[T_N] + 1


@viper
def push(sb: ptr32, first: int, count: int, w: ptr32, t: ptr32) -> int:
    """Append count decimated voice-band samples (sb[first:first+count]) to the ring;
    analyse every full window.  Returns the number of windows analysed."""
    fill = t[T_FILL]
    phase = t[T_PHASE]
    done = 0
    for i in range(count):
        if phase < _PAIR:
            w[W_RING + fill] = sb[first + i]  # a store keeps the low 32 bits: no sign to fix
        fill += 1
        if fill == N:
            fill = 0
            if phase == 0:
                t[T_HAVE] = 0  # the pair's first window: nothing to compare with yet
            if phase < _PAIR:
                sh = int(_load(w))
                if sh == -99:
                    t[T_HAVE] = 0
                else:
                    _fft(w)
                    _judge(w, t, sh)
                    done += 1
            phase += 1
            if phase == _GROUP:
                phase = 0
    t[T_FILL] = fill
    t[T_PHASE] = phase
    return done


@viper
def take(t: ptr32) -> int:
    """The interval's tonal share as a code 0..255 (0 when nothing was judged); resets."""
    n = t[T_N]
    s = t[T_SUM]
    t[T_SUM] = 0
    t[T_N] = 0
    if n == 0:
        return 0
    code = (s * 255 + (n << 7)) // (n << 8)
    return 255 if code > 255 else code
