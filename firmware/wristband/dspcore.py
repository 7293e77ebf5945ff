"""Per-sample and per-sub-block kernels of the band's feature pipeline.

Integer-only viper code.  The same source is compiled by numba for the
simulator's twin (crowdpulse.sim.bands.twin), so firmware and twin cannot drift.
Rules that keep that true and keep the band exact on a 32-bit ESP32:
- every intermediate fits in a signed 32-bit int (docs/dsp.md has the bounds);
- ptr16 loads are unsigned in viper: sign-extend by hand;
- ptr32 loads are zero-extended on 64-bit hosts: shift by _SEXT to sign-extend;
- no floats, no allocation, no builtins other than range().
"""

import array
import sys

from micropython import const

from wristband.native import viper

# 32 on 64-bit hosts (unix port), 0 on the ESP32; the twin sets 0.
_SEXT = 32 if sys.maxsize > 0x7FFFFFFF else 0

SUB = const(32)  # samples per 2 ms sub-block
NSUB = const(5)  # sub-blocks per 10 ms frame
FRAME = const(160)

# A-weighting correction FIR (symmetric, 5 taps, Q14) from crowdpulse.dspdesign.
_H0 = const(21792)
_H1 = const(1512)
_H2 = const(-251)
_XA_MAX = const(46000)  # |xa|^2 + 2^24 stays below 2^31
_MASK24 = const(0xFFFFFF)

# State slots (int32).  Filter states are Q10 unless noted.
S_D = const(0)  # 20 Hz DC blocker (first A-weighting pole)
S_A1 = const(1)  # A: second 20.6 Hz pole
S_A2 = const(2)  # A: 107.7 Hz pole
S_A3 = const(3)  # A: 737.9 Hz pole
S_Y1 = const(4)  # A: FIR delay line, Q0
S_Y2 = const(5)
S_Y3 = const(6)
S_Y4 = const(7)
S_VH1 = const(8)  # voice band: two 300 Hz high-pass poles (at 8 kHz)
S_VH2 = const(9)
S_VL1 = const(10)  # voice band: two 3.4 kHz low-pass poles
S_VL2 = const(11)
S_MH1 = const(12)  # mid band (claps): two 1.5 kHz high-pass poles
S_MH2 = const(13)
S_TH1 = const(14)  # top band (hi-hats): the last two mid-band samples
S_TH2 = const(15)
S_LL1 = const(16)  # low band (kick, bass): two 200 Hz low-pass poles (at 4 kHz)
S_LL2 = const(17)
S_FA_HI = const(18)  # frame A-weighted energy, two 24-bit limbs
S_FA_LO = const(19)
S_FV_HI = const(20)  # frame voice-band energy
S_FV_LO = const(21)
S_CLIP = const(22)  # a sample hit full scale in this interval
N_FILTER = const(23)

# Sub-block band energies written by filter_frame: mid, top, low per sub-block,
# then the frame's voice band decimated to 4 kHz (40 samples) for dspspec.
SB_DEC = const(15)
SB_LEN = const(55)

# 1024 * log2(1 + i/32), i = 0..32: mantissa table for log2q10.
_LOG_TAB = array.array(
    "H",
    (0, 45, 90, 132, 174, 214, 254, 292, 330, 366, 402, 436, 470, 504, 536, 568, 599,
     629, 659, 689, 717, 745, 773, 800, 827, 853, 879, 904, 929, 953, 977, 1001, 1024),
)


@viper
def log2q10(v: int) -> int:
    """1024 * log2(v), -1.61 to +0.44 units off (docs/dsp.md), for 2 <= v < 2^31; 0 for v <= 1."""
    if v <= 1:
        return 0
    p = 15
    m = v
    if m >= 1 << 24:
        m >>= 8
        p += 8
    while m >= 65536:
        m >>= 1
        p += 1
    if m < 128:
        m <<= 8
        p -= 8
    while m < 32768:
        m <<= 1
        p -= 1
    # m in [2^15, 2^16): v ~ m * 2^(p - 15)
    frac = m - 32768
    idx = frac >> 10
    r = frac & 1023
    t = ptr16(_LOG_TAB)
    a = int(t[idx])
    b = int(t[idx + 1])
    return (p << 10) + a + (((b - a) * r) >> 10)


@viper
def log2q10_2(hi: int, lo: int) -> int:
    """1024 * log2(hi * 2^24 + lo), for the two-limb energy accumulators."""
    if hi == 0:
        return int(log2q10(lo))
    if hi < 64:
        return int(log2q10((hi << 24) | lo))
    return int(log2q10((hi << 6) | (lo >> 18))) + (18 << 10)


@viper
def filter_frame(x: ptr16, st: ptr32, sb: ptr32, n: int) -> int:
    """Run the filter bank over n samples (a multiple of SUB).

    Adds the A-weighted and voice-band energy to the frame accumulators and
    writes mid/top/low energy per sub-block into sb.  Returns the sub-block count.
    """
    s = int(_SEXT)
    d0 = (st[S_D] << s) >> s
    a1 = (st[S_A1] << s) >> s
    a2 = (st[S_A2] << s) >> s
    a3 = (st[S_A3] << s) >> s
    y1 = (st[S_Y1] << s) >> s
    y2 = (st[S_Y2] << s) >> s
    y3 = (st[S_Y3] << s) >> s
    y4 = (st[S_Y4] << s) >> s
    vh1 = (st[S_VH1] << s) >> s
    vh2 = (st[S_VH2] << s) >> s
    vl1 = (st[S_VL1] << s) >> s
    vl2 = (st[S_VL2] << s) >> s
    mh1 = (st[S_MH1] << s) >> s
    mh2 = (st[S_MH2] << s) >> s
    th1 = (st[S_TH1] << s) >> s
    th2 = (st[S_TH2] << s) >> s
    ll1 = (st[S_LL1] << s) >> s
    ll2 = (st[S_LL2] << s) >> s
    fa_hi = st[S_FA_HI]
    fa_lo = st[S_FA_LO]
    fv_hi = st[S_FV_HI]
    fv_lo = st[S_FV_LO]
    clip = st[S_CLIP]
    lsum = 0
    k = 0
    i = 0
    while i < n:
        em = 0
        et = 0
        el = 0
        end = i + SUB
        while i < end:
            v = int(x[i])
            if v >= 32768:
                v -= 65536
            if v >= 32767 or v <= -32767:
                clip = 1
            xq = v << 10
            # 20.6 Hz pole: also the DC blocker that feeds every band
            t = xq - d0
            d0 += t >> 7
            d = xq - d0
            # A-weighting: 20.6 Hz, 107.7 Hz and 737.9 Hz high-pass poles
            t = d - a1
            a1 += t >> 7
            y = d - a1
            t = y - a2
            a2 += (t >> 5) + (t >> 7) + (t >> 9)
            y = y - a2
            t = y - a3
            a3 += t >> 2
            y = (y - a3 + 512) >> 10
            if y > 65535:
                y = 65535
            elif y < -65535:
                y = -65535
            # then the FIR that stands in for the 12.2 kHz poles
            xa = (_H0 * y2 + _H1 * (y1 + y3) + _H2 * (y + y4) + 8192) >> 14
            y4 = y3
            y3 = y2
            y2 = y1
            y1 = y
            if xa > _XA_MAX:
                xa = _XA_MAX
            elif xa < -_XA_MAX:
                xa = -_XA_MAX
            fa_lo += xa * xa
            fa_hi += fa_lo >> 24
            fa_lo &= _MASK24
            # voice band: 3.4 kHz low-pass x2 at 16 kHz, then 300 Hz high-pass x2
            # on every other sample (the low-pass has already done the work of a
            # decimation filter; an energy meter does not mind the rest)
            t = d - vl1
            vl1 += (t >> 1) + (t >> 2) - (t >> 5)
            t = vl1 - vl2
            vl2 += (t >> 1) + (t >> 2) - (t >> 5)
            if i & 1:
                t = vl2 - vh1
                vh1 += (t >> 2) - (t >> 5) - (t >> 7)
                u = vl2 - vh1
                t = u - vh2
                vh2 += (t >> 2) - (t >> 5) - (t >> 7)
                xv = (u - vh2 + 512) >> 10
                if xv > _XA_MAX:
                    xv = _XA_MAX
                elif xv < -_XA_MAX:
                    xv = -_XA_MAX
                fv_lo += xv * xv
                fv_hi += fv_lo >> 24
                fv_lo &= _MASK24
                if i & 3 == 3:
                    sb[SB_DEC + (i >> 2)] = xv
            # mid band (claps): 1.5 kHz high-pass x2
            t = d - mh1
            mh1 += (t >> 1) - (t >> 4) + (t >> 7)
            u = d - mh1
            t = u - mh2
            mh2 += (t >> 1) - (t >> 4) + (t >> 7)
            u = u - mh2
            q = u >> 14
            if q > 8191:
                q = 8191
            elif q < -8191:
                q = -8191
            em += q * q
            # top band (hi-hats): the mid band's second difference, a +12 dB/octave
            # tilt that puts a 7 kHz hi-hat ~20 dB above a 1.5 kHz clap
            w = u - th1 - th1 + th2
            th2 = th1
            th1 = u
            q = w >> 14
            if q > 8191:
                q = 8191
            elif q < -8191:
                q = -8191
            et += q * q
            # low band (kick, bass): sum 4 samples (nulls at 4 and 8 kHz), then two
            # 200 Hz low-pass poles at 4 kHz
            lsum += d
            if i & 3 == 3:
                t = (lsum >> 2) - ll1
                ll1 += (t >> 2) + (t >> 6) + (t >> 8)
                t = ll1 - ll2
                ll2 += (t >> 2) + (t >> 6) + (t >> 8)
                q = ll2 >> 13
                el += q * q
                lsum = 0
            i += 1
        sb[3 * k] = em
        sb[3 * k + 1] = et
        sb[3 * k + 2] = el
        k += 1
    st[S_D] = d0
    st[S_A1] = a1
    st[S_A2] = a2
    st[S_A3] = a3
    st[S_Y1] = y1
    st[S_Y2] = y2
    st[S_Y3] = y3
    st[S_Y4] = y4
    st[S_VH1] = vh1
    st[S_VH2] = vh2
    st[S_VL1] = vl1
    st[S_VL2] = vl2
    st[S_MH1] = mh1
    st[S_MH2] = mh2
    st[S_TH1] = th1
    st[S_TH2] = th2
    st[S_LL1] = ll1
    st[S_LL2] = ll2
    st[S_FA_HI] = fa_hi
    st[S_FA_LO] = fa_lo
    st[S_FV_HI] = fv_hi
    st[S_FV_LO] = fv_lo
    st[S_CLIP] = clip
    return k


@viper
def i2s32_to_16(src: ptr8, dst: ptr16, n: int) -> int:
    """Top 16 bits of n little-endian 32-bit I2S slots (INMP441: 24-bit, left-aligned)."""
    for i in range(n):
        j = i << 2
        dst[i] = src[j + 2] | (src[j + 3] << 8)
    return n
