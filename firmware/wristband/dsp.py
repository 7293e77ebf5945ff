"""The band's feature pipeline: 16 kHz int16 frames in, report field codes out.

    p = Pipeline(mic_sensitivity_cdb=-2600)   # INMP441: -26 dBFS at 94 dB SPL
    p.process(frame)                          # 160 samples (10 ms), array('h')
    if p.event(): ...                         # a reaction started: report now
    codes = p.finish(interval_ms)             # the N_CODES field codes for packet.encode_codes

Per-sample and per-sub-block work is viper (wristband.dspcore/dspfeat/dspspec,
compiled for the band's CPU by wristband.native); this
module only glues them and turns the interval's sums into codes with small-int
arithmetic, so it allocates nothing per frame.  docs/dsp.md explains it all.
"""

import array

from micropython import const

from wristband import native
from wristband.packet import BATTERY_UNKNOWN, FLAG_CLIPPED, MOTION_ABSENT, N_CODES, nibbles

# The kernels are imported after install() has compiled them with viper
# (a no-op where they were precompiled, or in the host's twin).
native.install("dspcore", "dspfeat", "dspspec")
from wristband import dspcore, dspfeat, dspspec  # noqa: E402

RATE = const(16000)
FRAME = const(160)

# 10*log10(2) * 256 / 1024 in Q15: log units -> dB in Q8 (1/256 dB).
_DB_Q8 = const(24661)
# log units -> quarter dB, in Q15.
_DB_Q2 = const(385)
# 10*log10(32767^2 / 2) in Q8: the mean square of a full-scale sine.
_FULL_SCALE_Q8 = const(22342)
_LEVEL_FLOOR_Q8 = const(5120)  # 20 dB, the zero of the packet's level scale
# The voice band's one-pole cascade loses 3.5 dB at 1 kHz; give it back so a
# 1 kHz tone reads the same in the voice field as in LAeq.
_VOICE_GAIN = const(1191)

# Applause texture, in log units (1 dB = 340): envelope roughness of the mid
# band between 2 ms sub-blocks, mid-band share of the A-weighted energy, and
# low-band share.  See docs/dsp.md for where each bound comes from.
_ROUGH_LO = const(408)  # 1.2 dB: stationary noise
_ROUGH_HI = const(680)  # 2.0 dB: overlapping claps
_TILT_LO = const(-5102)  # mid band 15 dB below the A-weighted total: voices, music
_TILT_HI = const(-3742)  # 11 dB below: the 1-4 kHz hump of clapping
_LOW_LO = const(-2721)  # low band 8 dB below the A-weighted total: any music
_LOW_HI = const(-6123)  # 18 dB below: no bass at all
# log units -> 0.05 dB steps (the report's texture fields), in Q15.
_TEX_Q15 = const(1927)
# Diagnostics the band computes but does not send (Pipeline.extra).
X_LAFMAX = const(0)
X_APPLAUSE = const(1)
X_VOICE_EXCESS = const(2)
X_ONSET_RATE = const(3)
X_ROUGH = const(4)

def calibration_q8(mic_sensitivity_cdb):
    """dB SPL of a full-scale sine, in Q8, for a mic of the given sensitivity.

    Sensitivity in hundredths of a dB (dBFS at 94 dB SPL) keeps this integer,
    so the band and the twin agree to the bit.
    """
    return (((9400 - mic_sensitivity_cdb) * 256 + 50) // 100) - _FULL_SCALE_Q8


def _level_code(log_units, cal_q8):
    db_q8 = ((log_units * _DB_Q8) >> 15) + cal_q8
    code = (db_q8 - _LEVEL_FLOOR_Q8 + 64) >> 7
    return 0 if code < 0 else (255 if code > 255 else code)


def _ramp(value, lo, hi):
    """0..256 as value goes from lo to hi (either direction)."""
    r = ((value - lo) * 256) // (hi - lo)
    return 0 if r < 0 else (256 if r > 256 else r)


class Pipeline:
    def __init__(self, mic_sensitivity_cdb=-2600):
        self.cal_q8 = calibration_q8(mic_sensitivity_cdb)
        self.st = array.array("i", [0] * dspcore.N_FILTER)
        self.sb = array.array("i", [0] * dspcore.SB_LEN)
        self.dt = array.array("i", [0] * dspfeat.N_STATE)
        self.codes = bytearray(N_CODES)
        self.extra = bytearray(5)
        self.spec_w = dspspec.work()
        self.spec_t = dspspec.state()
        # the voice band is summed over every other sample, and its background
        # is kept on frame sums, while interval levels are per-sample means
        self.log_frame = dspcore.log2q10(FRAME // 2)

    def process(self, frame):
        """Feed FRAME int16 samples (array('h') or a memoryview of one)."""
        st = self.st
        dt = self.dt
        n = dspcore.filter_frame(frame, st, self.sb, FRAME)
        dspfeat.subblocks(self.sb, dt, n)
        dt[dspfeat.D_FA_HI] = st[dspcore.S_FA_HI]
        dt[dspfeat.D_FA_LO] = st[dspcore.S_FA_LO]
        dt[dspfeat.D_FV_HI] = st[dspcore.S_FV_HI]
        dt[dspfeat.D_FV_LO] = st[dspcore.S_FV_LO]
        st[dspcore.S_FA_HI] = 0
        st[dspcore.S_FA_LO] = 0
        st[dspcore.S_FV_HI] = 0
        st[dspcore.S_FV_LO] = 0
        dspfeat.frame(dt, FRAME)
        dspspec.push(self.sb, dspcore.SB_DEC, FRAME // 4, self.spec_w, self.spec_t)

    def event(self):
        """True once a reaction (clap burst, cheer swell) has started; cleared by finish()."""
        return self.dt[dspfeat.D_EVENT] != 0

    def samples(self):
        return self.dt[dspfeat.D_N]

    def _mean_log(self, hi_slot):
        dt = self.dt
        total = dspcore.log2q10_2(dt[hi_slot], dt[hi_slot + 1])
        return total - dspcore.log2q10(dt[dspfeat.D_N])

    def _applause(self, la):
        dt = self.dt
        nr = dt[dspfeat.D_NROUGH]
        if nr == 0 or dt[dspfeat.D_IA_HI] == 0 and dt[dspfeat.D_IA_LO] == 0:
            return 0
        rough = dt[dspfeat.D_ROUGH] // nr
        # mid and low sums were scaled down by 2^16 and 2^8 on the way in
        mid = dspcore.log2q10_2(dt[dspfeat.D_IM_HI], dt[dspfeat.D_IM_LO]) + (16 << 10)
        low = dspcore.log2q10_2(dt[dspfeat.D_IL_HI], dt[dspfeat.D_IL_LO]) + (8 << 10)
        s = _ramp(rough, _ROUGH_LO, _ROUGH_HI)
        s = (s * _ramp(mid - la, _TILT_LO, _TILT_HI)) >> 8
        s = (s * _ramp(low - la, _LOW_LO, _LOW_HI)) >> 8
        return 255 if s > 255 else s

    def _band_code(self, hi_slot, scale):
        """Level code of a band whose sums were scaled down by 2^(scale/1024); 0 if silent."""
        dt = self.dt
        if dt[hi_slot] == 0 and dt[hi_slot + 1] == 0:
            return 0
        return _level_code(self._mean_log(hi_slot) + scale, self.cal_q8)

    def _texture(self, sum_slot, n_slot):
        """Mean level step (log units) as a code in 0.05 dB."""
        dt = self.dt
        n = dt[n_slot]
        if n == 0:
            return 0
        code = ((dt[sum_slot] // n) * _TEX_Q15 + 16384) >> 15
        return 255 if code > 255 else code

    def finish(self, interval_ms, motion=MOTION_ABSENT, imu_claps=0, battery=BATTERY_UNKNOWN,
               flags=0):
        """Field codes (interval..status) for the interval just ended; resets it.

        battery is the report's 4-bit battery code (packet.battery_code)."""
        dt = self.dt
        c = self.codes
        x = self.extra
        c[0] = interval_ms // 10
        if dt[dspfeat.D_N] == 0:
            for i in range(1, 8):
                c[i] = 0
            for i in range(5):
                x[i] = 0
            claps = 0
        else:
            cal = self.cal_q8
            c[1] = _level_code(self._mean_log(dspfeat.D_IA_HI), cal)
            lv = self._mean_log(dspfeat.D_IV_HI) + 1024
            c[2] = _level_code(lv + _VOICE_GAIN, cal)
            # mid and low sums were scaled down by 2^16 and 2^8 on the way in
            c[3] = self._band_code(dspfeat.D_IM_HI, 16 << 10)
            c[4] = self._band_code(dspfeat.D_IL_HI, 8 << 10)
            c[5] = self._band_code(dspfeat.D_IT_HI, 16 << 10)
            c[7] = self._texture(dspfeat.D_FLUCT, dspfeat.D_NFLUCT)
            claps = dt[dspfeat.D_CLAPS]
            self._extras(lv, interval_ms)
        c[6] = dspspec.take(self.spec_t)
        c[8] = motion
        c[9] = nibbles(claps, imu_claps)
        c[10] = (battery << 4) | (flags & 0x0F) | (FLAG_CLIPPED if self.st[dspcore.S_CLIP] else 0)
        self.st[dspcore.S_CLIP] = 0
        for i in range(dspfeat.INTERVAL_FIRST, dspfeat.INTERVAL_LAST + 1):
            dt[i] = 0
        for i in range(dspfeat.INTERVAL2_FIRST, dspfeat.INTERVAL2_LAST + 1):
            dt[i] = 0
        dt[dspfeat.D_EVENT] = 0
        return c

    def _extras(self, lv, interval_ms):
        """LAFmax, applause texture, voice excess, onset rate and mid-band roughness:
        computed on the band for diagnostics (`crowdpulse features`), not sent
        (docs/dsp.md)."""
        dt = self.dt
        x = self.extra
        fm = dt[dspfeat.D_FMAX_M]
        fmax = dspcore.log2q10(fm) + (dt[dspfeat.D_FMAX_E] << 10)
        x[X_LAFMAX] = _level_code(fmax, self.cal_q8) if fm else 0
        x[X_APPLAUSE] = self._applause(dspcore.log2q10_2(dt[dspfeat.D_IA_HI], dt[dspfeat.D_IA_LO]))
        exc = (((lv - 1024 + self.log_frame - (dt[dspfeat.D_VBG] >> 8)) * _DB_Q2) + 16384) >> 15
        x[X_VOICE_EXCESS] = 0 if exc < 0 else (255 if exc > 255 else exc)
        rate = (dt[dspfeat.D_ONSETS] * 10000 + interval_ms // 2) // interval_ms
        x[X_ONSET_RATE] = 255 if rate > 255 else rate
        x[X_ROUGH] = self._texture(dspfeat.D_ROUGH, dspfeat.D_NROUGH)

    def clap_log(self):
        """(total claps so far, last 16 onset positions in samples): for evaluation."""
        dt = self.dt
        n = dt[dspfeat.D_NCLAP]
        return n, [dt[dspfeat.D_CLAPLOG + i] * dspcore.SUB for i in range(16)]


def i2s32_to_16(src, dst, n):
    """INMP441-class 24-bit-in-32-bit-slot I2S samples to int16 (the top 16 bits)."""
    dspcore.i2s32_to_16(src, dst, n)
