"""docs/dsp.md's design figures, from the firmware itself: the dB and ms its
constants stand for, the realised poles, the arithmetic per sample, the voice
band's response and the time constants of its background (on the twin).

The measured figures (levels, claps, applause, cost) are asserted where they
are measured: test_dsp_levels.py, test_dsp_features.py, test_dsp_micropython.py.
"""

from __future__ import annotations

import ast
import math

import numpy as np

from crowdpulse.sim.bands import bandfeatures, twin
from crowdpulse.sim.world import signals

UNITS_PER_DB = 1024 / (10 * math.log10(2))  # log units: 1024 * log2(energy)


def _src(name: str) -> str:
    return (twin.firmware_dir() / f"{name}.py").read_text()


def _db(units: int) -> float:
    return units / UNITS_PER_DB


def test_one_db_is_340_17_log_units() -> None:
    assert round(UNITS_PER_DB, 2) == 340.17
    feat = twin.modules()["dspfeat"]
    for name, db in (
        ("_DB3", 3),
        ("_DB4_5", 4.5),
        ("_DB6", 6),
        ("_DB9", 9),
        ("_DB10", 10),
        ("_DB12", 12),
    ):
        assert abs(_db(getattr(feat, name)) - db) < 0.005, name


def test_clap_and_onset_timing_in_milliseconds() -> None:
    # 2 ms sub-blocks: peak within 6 ms, decay judged 20-30 ms after the rise,
    # onsets 50 ms apart at least, a new burst after 2 s without claps
    feat, core = twin.modules()["dspfeat"], twin.modules()["dspcore"]
    sub_ms = 1000 * core.SUB / 16000
    assert sub_ms == 2.0 and core.FRAME == 160 and core.NSUB * core.SUB == core.FRAME
    assert (feat._PEAK_WITHIN * sub_ms, feat._LATE_FROM * sub_ms, feat._DECIDE_AT * sub_ms) == (
        6,
        20,
        30,
    )
    assert feat._ONSET_REFRACTORY * sub_ms == 50 and feat._BURST_GAP * sub_ms == 2000
    # the mid-band background moves 1/256 of the way per sub-block: 0.5 s
    assert "dt[D_BG] = b + (((lm << 6) - b) >> 8)" in _src("dspfeat")
    assert abs(256 * sub_ms / 1000 - 0.5) < 0.02


def test_the_top_band_puts_a_7_khz_hihat_21_db_above_a_1_5_khz_clap() -> None:
    # the mid band's second difference: |1 - e^-jw|^2 per difference, twice
    def gain(f: float) -> float:
        return (2 - 2 * math.cos(2 * math.pi * f / 16000)) ** 2

    assert "w = u - th1 - th1 + th2" in _src("dspcore")
    assert round(10 * math.log10(gain(7000) / gain(1500))) == 21


def test_applause_ramps_in_db() -> None:
    dsp = twin.modules()["dsp"]
    want = {
        "_ROUGH_LO": 1.2,
        "_ROUGH_HI": 2.0,
        "_TILT_LO": -15,
        "_TILT_HI": -11,
        "_LOW_LO": -8,
        "_LOW_HI": -18,
    }
    for name, db in want.items():
        assert abs(_db(getattr(dsp, name)) - db) < 0.01, name
    assert abs(_db(dsp._VOICE_GAIN) - 3.5) < 0.01


def test_realised_a_weighting_poles() -> None:
    # each one-pole stage's alpha, a sum of powers of two, as written in the kernel
    core = _src("dspcore")
    for stage in (
        "d0 += t >> 7",
        "a1 += t >> 7",
        "a2 += (t >> 5) + (t >> 7) + (t >> 9)",
        "a3 += t >> 2",
    ):
        assert stage in core, stage

    def fc(alpha: float) -> float:
        return -16000 / (2 * math.pi) * math.log(1 - alpha)

    assert round(fc(2**-7), 2) == 19.97
    assert round(fc(2**-5 + 2**-7 + 2**-9), 2) == 106.65
    assert round(fc(2**-2), 1) == 732.6


def test_per_sample_arithmetic_is_three_multiplies_and_five_squares() -> None:
    tree = ast.parse(_src("dspcore"))
    fn = next(
        f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "filter_frame"
    )
    mults = [
        ast.unparse(n)
        for n in ast.walk(fn)
        if isinstance(n, ast.BinOp)
        and isinstance(n.op, ast.Mult)
        and not ast.unparse(n).startswith("3 * k")
    ]  # sub-block indexing, not per sample
    squares = [m for m in mults if m.split(" * ")[0] == m.split(" * ")[1]]
    assert len(mults) == 8 and len(squares) == 5, mults


def _voice_db(freq: float) -> float:
    reports = [
        bandfeatures.decoded(iv)
        for iv in bandfeatures.on_twin(signals.to_int16(signals.tone(freq, 1.5, -26.0)))
    ]
    return float(reports[-2]["voice_db"])  # type: ignore[arg-type]


def test_voice_band_response_relative_to_1_khz() -> None:
    # docs/dsp.md; the report's 0.5 dB steps, so exact to within a quarter dB
    ref = _voice_db(1000)
    assert ref == 94.0  # gain-corrected: a 1 kHz tone reads as in LAeq
    for freq, want in ((100, -19.0), (300, -5.0), (3400, -4.0), (7500, -11.5)):
        assert abs(_voice_db(freq) - ref - want) <= 0.25, freq


def _voice_track(levels: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(background, 320 ms level) in log units, per 10 ms frame, for a 1 kHz
    tone at each (seconds, dBFS) in turn."""
    x = signals.to_int16(np.concatenate([signals.tone(1000, secs, dbfs) for secs, dbfs in levels]))
    feat = twin.modules()["dspfeat"]
    pipe = twin.pipeline()
    bg, vs = [], []
    for f in range(len(x) // 160):
        pipe.process(x[f * 160 : (f + 1) * 160])
        bg.append(int(pipe.dt[feat.D_VBG]) / 256)
        vs.append(int(pipe.dt[feat.D_VS]))
        if f % 25 == 24:
            pipe.finish(250)
    return np.array(bg), np.array(vs)


def _tau_s(track: np.ndarray, step_frame: int) -> float:
    """Seconds after the step for the track to cover 1 - 1/e of its way."""
    old, new = track[step_frame - 1], track[-1]
    frac = (track[step_frame:] - old) / (new - old)
    return (int(np.argmax(frac >= 1 - math.exp(-1))) + 1) * 0.01


def test_voice_background_rises_in_20_s_and_falls_in_10_s() -> None:
    # past its 20 s warm-up; time constants within 3 % of 2^11 and 2^10 frames
    bg, vs = _voice_track([(30.0, -40.0), (90.0, -28.0)])
    assert abs(_tau_s(bg, 3000) - 20.48) <= 0.03 * 20.48, _tau_s(bg, 3000)
    assert abs(_tau_s(vs, 3000) - 0.32) <= 0.05, _tau_s(vs, 3000)  # the 320 ms smoothed level
    bg, _ = _voice_track([(30.0, -28.0), (60.0, -40.0)])
    assert abs(_tau_s(bg, 3000) - 10.24) <= 0.03 * 10.24, _tau_s(bg, 3000)


def test_log_table_fast_weighting_and_cheer_trigger_constants() -> None:
    core, feat = twin.modules()["dspcore"], twin.modules()["dspfeat"]
    assert len(core._LOG_TAB) == 33  # 1024 log2(1 + i/32), i = 0..32
    assert [int(v) for v in core._LOG_TAB] == [
        round(1024 * math.log2(1 + i / 32)) for i in range(33)
    ]
    a = 1 - math.exp(-10 / 125)  # F time weighting over 10 ms frames
    assert round((1 - a) * 2**15) == feat._F_KEEP and abs(feat._F_GAIN - a / 160 * 2**25) < 1
    # the cheer trigger: 1 s (100 frames) below 3 dB arms it, 6 dB above fires it
    src = _src("dspfeat")
    assert (
        "if quiet < 100:" in src
        and "exc < _DB3" in src
        and "exc >= _DB6 and dt[D_VARMED] != 0" in src
    )
