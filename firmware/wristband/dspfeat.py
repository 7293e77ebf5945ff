"""Feature kernels that run once per 2 ms sub-block and once per 10 ms frame.

Levels are handled as "log units": 1024 * log2(energy), so 1 dB = 340.17
units and every comparison below is a level difference in dB.  Same rules as
dspcore: integers only, 32-bit safe, compiled by viper on the band and by
numba in the twin.
"""

import sys

from micropython import const

from wristband.dspcore import log2q10, log2q10_2
from wristband.native import viper

_SEXT = 32 if sys.maxsize > 0x7FFFFFFF else 0

_DB3 = const(1020)
_DB4_5 = const(1531)
_DB6 = const(2041)
_DB9 = const(3061)
_DB10 = const(3402)
_DB12 = const(4082)
_MASK24 = const(0xFFFFFF)
_COUNT_MASK = const(0x3FFFFFFF)

# Clap timing, in 2 ms sub-blocks after the onset.
_PEAK_WITHIN = const(3)
_LATE_FROM = const(10)
_DECIDE_AT = const(15)
_ONSET_REFRACTORY = const(25)
_BURST_GAP = const(1000)  # 2 s without claps before a clap counts as a new reaction

# Fast time weighting over 10 ms frames: F = F*(1-a) + E*a/160, a = 1-exp(-10/125).
_F_KEEP = const(30249)  # (1 - a) in Q15
_F_GAIN = const(16123)  # a/160 in Q25

# State slots (int32).
D_INIT = const(0)
D_BG = const(1)  # mid-band background, log units << 6
D_PREV = const(2)
D_RI = const(3)
D_RING = const(4)  # 8 slots: mid-band level of the last sub-blocks
D_CL_STATE = const(12)
D_CL_T = const(13)
D_CL_PEAK = const(14)
D_CL_PRE = const(15)
D_CL_TOPD = const(16)
D_CL_LATE = const(17)
D_CL_AT = const(18)
D_ON_REFR = const(19)
D_COUNT = const(20)  # sub-blocks since start, masked to 30 bits
D_SINCE_CLAP = const(21)
D_EVENT = const(22)
D_CLAPS = const(23)  # per interval from here ...
D_ONSETS = const(24)
D_MICRO = const(25)
D_ROUGH = const(26)
D_NROUGH = const(27)
D_IM_HI = const(28)
D_IM_LO = const(29)
D_IL_HI = const(30)
D_IL_LO = const(31)
D_IA_HI = const(32)
D_IA_LO = const(33)
D_IV_HI = const(34)
D_IV_LO = const(35)
D_N = const(36)
D_CLIP = const(37)
D_FMAX_M = const(38)
D_FMAX_E = const(39)  # ... to here
D_FA_HI = const(40)  # this frame's energies, copied in by the pipeline
D_FA_LO = const(41)
D_FV_HI = const(42)
D_FV_LO = const(43)
D_F_M = const(44)  # fast-weighted mean square, soft float m * 2^e
D_F_E = const(45)
D_VINIT = const(46)  # frames seen, up to 2048 (warm-up)
D_VBG = const(47)  # voice-band background, log units << 8
D_VS = const(48)  # voice-band level smoothed over 320 ms, log units
D_VQUIET = const(49)
D_NCLAP = const(50)
D_CLAPLOG = const(51)  # 16 slots: onset sub-block counter of the last claps
D_VARMED = const(67)  # a swell may trigger: the level was calm for 1 s
D_VPREV = const(68)  # last 40 ms block's voice-band level, log units (0: none yet)
D_FLUCT = const(69)  # per interval: sum of |block-to-block voice-band level change| ...
D_NFLUCT = const(70)  # ... over this many block pairs
D_IT_HI = const(71)  # per interval: top-band (the mid band's second difference) energy
D_IT_LO = const(72)
D_BLK_HI = const(73)  # this 40 ms block's voice-band energy so far, and its frames
D_BLK_LO = const(74)
D_BLK_N = const(75)
N_STATE = const(76)
INTERVAL_FIRST = const(23)
INTERVAL_LAST = const(39)
INTERVAL2_FIRST = const(69)
INTERVAL2_LAST = const(72)
_FLUCT_FLOOR = const(6144)  # blocks below 2^6 energy are silence: no fluctuation to judge
_BLOCK = const(4)  # frames per fluctuation block: 40 ms, the syllable scale


@viper
def _add2(obj, at: int, v: int):
    dt = ptr32(obj)
    lo = dt[at + 1] + v
    dt[at] = dt[at] + (lo >> 24)
    dt[at + 1] = lo & _MASK24


@viper
def _clap_step(obj, lm: int, lt: int, pre: int):
    """One sub-block of the clap detector: sharp rise, fast decay, not hi-hat heavy."""
    dt = ptr32(obj)
    s = int(_SEXT)
    bg = dt[D_BG] >> 6
    state = dt[D_CL_STATE]
    if state == 0:
        if lm - pre >= _DB9 and lm >= bg + _DB10:
            dt[D_CL_STATE] = 1
            dt[D_CL_T] = 0
            dt[D_CL_PEAK] = lm
            dt[D_CL_TOPD] = lt - lm
            dt[D_CL_PRE] = pre
            dt[D_CL_LATE] = 0
            dt[D_CL_AT] = dt[D_COUNT]
        return
    t = dt[D_CL_T] + 1
    dt[D_CL_T] = t
    if t <= _PEAK_WITHIN and lm > dt[D_CL_PEAK]:
        dt[D_CL_PEAK] = lm
        dt[D_CL_TOPD] = lt - lm
    if t >= _LATE_FROM and lm > dt[D_CL_LATE]:
        dt[D_CL_LATE] = lm
    if t < _DECIDE_AT:
        return
    dt[D_CL_STATE] = 0
    late = dt[D_CL_LATE]
    # a clap near the band has died down 12 dB within 20-30 ms; snares, drum
    # machine claps and anything heard through the room ring on
    if late + _DB12 > dt[D_CL_PEAK]:
        return
    # hi-hats put their energy above 5 kHz; claps peak at 0.7-2.5 kHz
    topd = (dt[D_CL_TOPD] << s) >> s
    if topd > _DB9:
        return
    dt[D_CLAPS] = dt[D_CLAPS] + 1
    n = dt[D_NCLAP]
    dt[D_CLAPLOG + (n & 15)] = dt[D_CL_AT]
    dt[D_NCLAP] = (n + 1) & _COUNT_MASK
    if dt[D_SINCE_CLAP] >= _BURST_GAP:
        dt[D_EVENT] = 1
    dt[D_SINCE_CLAP] = 0


@viper
def subblocks(sb: ptr32, obj, nsub: int) -> int:
    """Onsets, claps and applause texture from the mid/top/low sub-block energies."""
    dt = ptr32(obj)
    for k in range(nsub):
        em = sb[3 * k]
        lm = int(log2q10(em))
        lt = int(log2q10(sb[3 * k + 1]))
        el = sb[3 * k + 2]
        # interval sums in two 24-bit limbs, inline: a viper call per sum would
        # cost more than the sums (this runs 500 times a second)
        lo = dt[D_IM_LO] + (em >> 8)
        dt[D_IM_HI] = dt[D_IM_HI] + (lo >> 24)
        dt[D_IM_LO] = lo & _MASK24
        lo = dt[D_IT_LO] + (sb[3 * k + 1] >> 8)
        dt[D_IT_HI] = dt[D_IT_HI] + (lo >> 24)
        dt[D_IT_LO] = lo & _MASK24
        lo = dt[D_IL_LO] + el
        dt[D_IL_HI] = dt[D_IL_HI] + (lo >> 24)
        dt[D_IL_LO] = lo & _MASK24
        if dt[D_INIT] == 0:
            dt[D_INIT] = 1
            dt[D_BG] = lm << 6
            dt[D_PREV] = lm
            for j in range(8):
                dt[D_RING + j] = lm
        bg = dt[D_BG] >> 6
        prev = dt[D_PREV]
        ri = dt[D_RI]
        pre = dt[D_RING + ((ri - 2) & 7)]
        v = dt[D_RING + ((ri - 3) & 7)]
        if v > pre:
            pre = v
        v = dt[D_RING + ((ri - 4) & 7)]
        if v > pre:
            pre = v
        if lm > 0 and prev > 0:
            d = lm - prev
            if d < 0:
                dt[D_ROUGH] = dt[D_ROUGH] - d
            else:
                dt[D_ROUGH] = dt[D_ROUGH] + d
            dt[D_NROUGH] = dt[D_NROUGH] + 1
            if d >= _DB6:
                dt[D_MICRO] = dt[D_MICRO] + 1
        refr = dt[D_ON_REFR]
        if refr > 0:
            dt[D_ON_REFR] = refr - 1
        elif lm - pre >= _DB6 and lm >= bg + _DB6:
            dt[D_ONSETS] = dt[D_ONSETS] + 1
            dt[D_ON_REFR] = _ONSET_REFRACTORY
        _clap_step(obj, lm, lt, pre)
        b = dt[D_BG]
        dt[D_BG] = b + (((lm << 6) - b) >> 8)
        dt[D_RING + ri] = lm
        dt[D_RI] = (ri + 1) & 7
        dt[D_PREV] = lm
        dt[D_COUNT] = (dt[D_COUNT] + 1) & _COUNT_MASK
        if dt[D_SINCE_CLAP] < _BURST_GAP:
            dt[D_SINCE_CLAP] = dt[D_SINCE_CLAP] + 1
    return nsub


@viper
def _fast_weight(obj):
    """F = F*(1-a) + E*a/160 in a 15-bit soft float; track the interval maximum."""
    dt = ptr32(obj)
    s = int(_SEXT)
    hi = dt[D_FA_HI]
    lo = dt[D_FA_LO]
    m = 0
    e = 0
    if hi >= 64:
        m = (hi << 6) | (lo >> 18)
        e = 18
    else:
        m = (hi << 24) | lo
    if m > 0:
        while m >= 32768:
            m >>= 1
            e += 1
        while m < 16384:
            m <<= 1
            e -= 1
        m = (m * _F_GAIN) >> 15
        e -= 10  # Q25 gain, 15 bits already shifted out
    fm = dt[D_F_M]
    fe = (dt[D_F_E] << s) >> s
    fm = (fm * _F_KEEP) >> 15
    if fm == 0:
        fm = m
        fe = e
    elif m > 0:
        if fe < e:
            t = fm
            fm = m
            m = t
            t = fe
            fe = e
            e = t
        if fe - e < 16:
            fm += m >> (fe - e)
    if fm > 0:
        while fm >= 32768:
            fm >>= 1
            fe += 1
        while fm < 16384:
            fm <<= 1
            fe -= 1
        if fe < -200:  # far below any audible level: call it silence
            fm = 0
            fe = 0
    dt[D_F_M] = fm
    dt[D_F_E] = fe
    xm = dt[D_FMAX_M]
    xe = (dt[D_FMAX_E] << s) >> s
    if fm > 0:
        if xm == 0 or fe > xe or (fe == xe and fm > xm):
            dt[D_FMAX_M] = fm
            dt[D_FMAX_E] = fe


@viper
def _fluct_step(obj):
    """Envelope fluctuation at the syllable scale: the voice-band level of 40 ms
    blocks, and its mean step from block to block.  One talker's syllables and
    pauses move it most, a crowd's many voices less, rain and fans hardly at all
    (docs/dsp.md)."""
    dt = ptr32(obj)
    lo = dt[D_BLK_LO] + dt[D_FV_LO]
    dt[D_BLK_HI] = dt[D_BLK_HI] + dt[D_FV_HI] + (lo >> 24)
    dt[D_BLK_LO] = lo & _MASK24
    n = dt[D_BLK_N] + 1
    if n < _BLOCK:
        dt[D_BLK_N] = n
        return
    lv = int(log2q10_2(dt[D_BLK_HI], dt[D_BLK_LO]))
    dt[D_BLK_HI] = 0
    dt[D_BLK_LO] = 0
    dt[D_BLK_N] = 0
    prev = dt[D_VPREV]
    if lv >= _FLUCT_FLOOR and prev >= _FLUCT_FLOOR:
        d = lv - prev
        dt[D_FLUCT] = dt[D_FLUCT] + (d if d >= 0 else 0 - d)
        dt[D_NFLUCT] = dt[D_NFLUCT] + 1
    dt[D_VPREV] = lv


@viper
def _voice_step(obj):
    """Voice-band background and the cheer-swell trigger.

    The background is an average of the frame level in log units that warms
    up like a running mean (time constant = time since start) and then rises
    with a 20 s and falls with a 10 s time constant.
    """
    dt = ptr32(obj)
    lv = int(log2q10_2(dt[D_FV_HI], dt[D_FV_LO]))
    _fluct_step(obj)
    n = dt[D_VINIT]
    if n == 0:
        dt[D_VBG] = lv << 8
        dt[D_VS] = lv
    if n < 2048:
        n += 1
        dt[D_VINIT] = n
    s = 0
    while n > 1:
        n >>= 1
        s += 1
    vs = dt[D_VS]
    vs += (lv - vs) >> (s if s < 5 else 5)
    dt[D_VS] = vs
    bg = dt[D_VBG]
    if (lv << 8) > bg:
        bg += ((lv << 8) - bg) >> (s if s < 11 else 11)
    else:
        bg += ((lv << 8) - bg) >> (s if s < 10 else 10)
    dt[D_VBG] = bg
    exc = vs - (bg >> 8)
    quiet = dt[D_VQUIET]
    if exc < _DB3:
        if quiet < 100:
            dt[D_VQUIET] = quiet + 1
        else:
            dt[D_VARMED] = 1
        return
    dt[D_VQUIET] = 0
    if exc >= _DB6 and dt[D_VARMED] != 0:
        dt[D_EVENT] = 1
        dt[D_VARMED] = 0


@viper
def frame(obj, n: int) -> int:
    """Fold one frame (n samples, energies already in D_FA_*/D_FV_*) into the interval."""
    dt = ptr32(obj)
    _add2(obj, D_IA_HI, dt[D_FA_LO])
    dt[D_IA_HI] = dt[D_IA_HI] + dt[D_FA_HI]
    _add2(obj, D_IV_HI, dt[D_FV_LO])
    dt[D_IV_HI] = dt[D_IV_HI] + dt[D_FV_HI]
    dt[D_N] = dt[D_N] + n
    _fast_weight(obj)
    _voice_step(obj)
    return n
