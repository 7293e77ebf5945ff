"""The firmware under the real MicroPython and the twin agree to the bit; no allocation."""

from __future__ import annotations

import re
import subprocess

import dsp_signals
import numpy as np
import pytest

from crowdpulse import mpy
from crowdpulse.bench import dsp as bench_dsp
from crowdpulse.sim.bands import bandfeatures, twin


def _signals() -> dict[str, np.ndarray]:
    return dsp_signals.signals()


@pytest.mark.micropython
@pytest.mark.parametrize("name", list(_signals()))
def test_twin_is_bit_identical_to_firmware_under_micropython(name: str) -> None:
    audio = _signals()[name]
    on_band = bandfeatures.on_micropython(audio)
    on_twin = list(bandfeatures.on_twin(audio))
    assert len(on_band) == len(on_twin) > 0
    for a, b in zip(on_band, on_twin, strict=True):
        assert (a.start_sample, a.codes) == (b.start_sample, b.codes)


@pytest.mark.micropython
def test_exact_allocation_of_the_audio_path_and_the_report_path_under_micropython() -> None:
    # gc.mem_alloc() with the collector paused, over 1200 frames each: the audio
    # path allocates nothing at all; the report path (finish, sign, advert) the
    # same bytes for every report, within docs/dsp.md's 4 KB budget
    result = bench_dsp.allocation(1200)
    assert result["alloc_frame_path_bytes"] == 0, result
    reports, total = result["reports"], result["alloc_report_path_bytes"]
    assert reports == 1200 // 25
    assert total % reports == 0 and 0 < total // reports <= 4096, result


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

    proc = subprocess.run(
        [mpy.find_micropython(), "-c", script],
        input=slots.tobytes(),
        capture_output=True,
        env=mpy.env_with_path(),
        check=True,
        timeout=60,
    )
    got = np.array([int(v) for v in re.findall(rb"-?\d+", proc.stdout)], dtype=np.int16)
    assert np.array_equal(got, want)
