"""The firmware under the real MicroPython and the twin agree to the bit; no allocation."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from crowdpulse import mpy
from crowdpulse.bench import dsp as bench_dsp
from crowdpulse.sim import bandfeatures as BF
from crowdpulse.sim import clapset as C
from crowdpulse.sim import signals as S
from crowdpulse.sim import twin


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    sweep = np.concatenate([S.tone(f, 0.5, -20) for f in (100, 1000, 4000, 7500)])
    return {
        "tones": S.to_int16(sweep),
        "pink": S.to_int16(S.pink_noise(3.0, rng, -30)),
        "claps_over_drums": C.clip(rng, dur=8.0).audio,
        "silence": np.zeros(16000, np.int16),
        "full_scale_clipping": S.to_int16(np.clip(4 * S.tone(60, 2.0, 0) + rng.normal(0, 0.3, 32000), -1, 1)),
        "applause": S.to_int16(S.crowd_applause(3.0, rng)),
        "extremes": np.tile(np.array([32767, -32768, -32768, 32767, 0, 1, -1, 32767], np.int16), 2000),
    }


@pytest.mark.micropython
@pytest.mark.parametrize("name", list(_signals()))
def test_twin_is_bit_identical_to_firmware_under_micropython(name: str) -> None:
    audio = _signals()[name]
    on_band = BF.on_micropython(audio)
    on_twin = list(BF.on_twin(audio))
    assert len(on_band) == len(on_twin) > 0
    for a, b in zip(on_band, on_twin, strict=True):
        assert (a.start_sample, a.codes) == (b.start_sample, b.codes)


@pytest.mark.micropython
def test_zero_allocation_per_frame_under_micropython() -> None:
    result = bench_dsp.micropython_cost(1200, repeats=1)
    assert result["alloc_bytes_per_frame"] == 0.0


@pytest.mark.micropython
def test_i2s_slot_conversion_matches_on_band_and_twin() -> None:
    rng = np.random.default_rng(3)
    slots = (rng.integers(-(2**23), 2**23, 500, dtype=np.int64) << 8).astype("<i4")
    want = (slots >> 16).astype(np.int16)
    assert np.array_equal(twin.i2s32_to_16(slots.tobytes()), want)
    script = (
        "import sys\nfrom wristband.dsp import i2s32_to_16\nimport array\n"
        "src = sys.stdin.buffer.read()\nn = len(src) // 4\ndst = array.array('h', [0] * n)\n"
        "i2s32_to_16(src, dst, n)\nprint(' '.join(str(v) for v in dst))\n"
    )

    proc = subprocess.run([mpy.find_micropython(), "-c", script], input=slots.tobytes(),
                          capture_output=True, env=mpy.env_with_path(), check=True, timeout=60)
    got = np.array([int(v) for v in re.findall(rb"-?\d+", proc.stdout)], dtype=np.int16)
    assert np.array_equal(got, want)


def test_twin_state_stays_in_32_bits_on_extreme_input() -> None:
    # The band's viper ints are 32-bit; the twin's are 64-bit.  Agreement on
    # the ESP32 needs every stored state to fit 32 bits even at full scale.
    audio = _signals()["extremes"]
    pipe = twin.pipeline()
    limit = 2**31
    for f in range(len(audio) // 160):
        pipe.process(audio[f * 160:(f + 1) * 160])
        for arr in (pipe.st, pipe.sb, pipe.dt):
            assert int(np.max(np.abs(arr))) < limit
        if f % 25 == 24:
            pipe.finish(250)
