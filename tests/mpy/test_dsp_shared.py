# DSP tests that run under MicroPython (the firmware modules themselves) and under
# CPython (the twin built from the same source).  MicroPython subset only.
import array
import math

try:
    import micropython  # noqa: F401

    from wristband import dsp  # it compiles the viper kernels (wristband.native)

    dspcore = dsp.dspcore
    Pipeline = dsp.Pipeline
except ImportError:  # CPython: the twin
    from crowdpulse.sim.bands import twin

    dspcore = twin.modules()["dspcore"]
    Pipeline = twin.modules()["dsp"].Pipeline

from wristband.schedule import Schedule


def _frame(freq, amp, start):
    fr = array.array("h", [0] * 160)
    for i in range(160):
        fr[i] = int(amp * math.sin(2 * math.pi * freq * (start + i) / 16000))
    return fr


def test_log2q10_error_bound_for_every_input():
    # docs/dsp.md: -1.61 < log2q10(v) - 1024 log2(v) <= 0.44 for every v in
    # [2, 2^31).  Below 2^16 every v is tried.  Above, log2q10 keeps the top 16
    # bits m = v >> k and returns exactly log2q10(m) + 1024 k, while 1024 log2(v)
    # lies in [1024 (log2 m + k), 1024 (log2 (m + 1) + k)): trying every m in
    # [2^15, 2^16) against both ends covers every v.
    scale = 1024 / math.log(2)
    lo = hi = 0.0
    for v in range(2, 65536):
        e = dspcore.log2q10(v) - scale * math.log(v)
        lo, hi = min(lo, e), max(hi, e)
    for m in range(32768, 65536):
        r = dspcore.log2q10(m)
        lo = min(lo, r - scale * math.log(m + 1))
        hi = max(hi, r - scale * math.log(m))
    assert -1.61 < lo < -1.59 and 0.43 < hi <= 0.44, (lo, hi)
    for k in (1, 8, 15):  # the shifts really are exact: log2q10(m << k) = log2q10(m) + 1024 k
        for m in (32768, 40000, 65535):
            assert dspcore.log2q10(m << k) == dspcore.log2q10(m) + 1024 * k
    assert dspcore.log2q10(0) == 0 and dspcore.log2q10(1) == 0


def test_log2q10_two_limbs():
    for hi, lo in ((0, 5000), (1, 0), (63, 0xFFFFFF), (64, 0), (5000, 123), (2**22, 7)):
        want = 1024 * math.log(hi * 2**24 + lo) / math.log(2)
        assert abs(dspcore.log2q10_2(hi, lo) - want) <= 1.5, (hi, lo)


def test_1khz_tone_at_94_db_spl_reads_94_db():
    p = Pipeline(-2600)
    amp = 32767 * 10 ** (-26 / 20)  # a -26 dBFS sine: 94 dB SPL on an INMP441
    codes = None
    for f in range(75):
        p.process(_frame(1000, amp, f * 160))
        if f % 25 == 24:
            codes = bytes(p.finish(250))
    assert codes[0] == 25
    assert codes[1] == 148  # (94 - 20) * 2
    assert abs(codes[2] - 148) <= 1  # the voice band, gain-corrected at 1 kHz
    assert codes[3] < 148 - 10 and codes[4] < 148 - 40  # above 1.5 kHz, below 200 Hz
    assert codes[5] < codes[3]  # the top band's tilt favours 4-8 kHz
    assert codes[6] >= 250  # a steady tone: all its energy holds still (tonal share)
    assert codes[9] == 0  # no claps heard, none felt


def test_silence_gives_zero_fields():
    p = Pipeline()
    zero = array.array("h", [0] * 160)
    for _ in range(30):
        p.process(zero)
    codes = bytes(p.finish(300))
    assert codes[0] == 30 and codes[1:8] == bytes(7)
    assert codes[8] == 255 and codes[9] == 0  # no IMU, no claps
    assert codes[10] == 0xF0  # battery unknown, no flags


def test_finish_resets_the_interval():
    p = Pipeline()
    for f in range(25):
        p.process(_frame(500, 8000, f * 160))
    p.finish(250)
    assert p.samples() == 0
    codes = bytes(p.finish(250))
    assert codes[1] == 0


def test_schedule_cuts_intervals_and_events():
    s = Schedule(250)
    due = [s.frame(False) for _ in range(50)]
    assert [d for d in due if d] == [250, 250]
    s = Schedule(250)
    s.frame(False)
    assert s.frame(True) == 0  # too little audio for a report yet
    for _ in range(2):
        s.frame(False)
    assert s.frame(True) == 50
    s.set_interval(5)
    assert s.interval == 10
    s.set_interval(99999)
    assert s.interval == 2550
