"""The DSP's test signals: what the parity test (twin vs the real MicroPython)
and the 32-bit proof (tests/test_dsp_32bit.py) both run on.

Ordinary sound (tones, pink noise, claps over drum music, applause, silence)
and the worst cases for the fixed-point ranges: full-scale clipping,
alternating full-scale extremes, full-scale squares from 20 Hz to Nyquist,
full-scale steps and full-scale white noise.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from crowdpulse.sim.world import clapset
from crowdpulse.sim.world import signals as sim_signals

RATE = 16000


def _square(freq: float, dur: float) -> np.ndarray:
    n = int(dur * RATE)
    half = max(1, int(RATE / freq / 2))
    return np.where((np.arange(n) // half) % 2 == 0, 32767, -32768).astype(np.int16)


def _steps(dur: float) -> np.ndarray:
    # full scale held for 0.3 s, then the opposite extreme: the DC blocker's worst case
    n = int(dur * RATE)
    return np.where((np.arange(n) // int(0.3 * RATE)) % 2 == 0, 32767, -32768).astype(np.int16)


@cache
def signals() -> dict[str, np.ndarray]:
    """name -> int16 samples at 16 kHz (built once per process; do not modify)."""
    rng = np.random.default_rng(42)
    sweep = np.concatenate([sim_signals.tone(f, 0.5, -20) for f in (100, 1000, 4000, 7500)])
    return {
        "tones": sim_signals.to_int16(sweep),
        "pink": sim_signals.to_int16(sim_signals.pink_noise(3.0, rng, -30)),
        "claps_over_drums": clapset.clip(rng, dur=8.0).audio,
        "silence": np.zeros(16000, np.int16),
        "full_scale_clipping": sim_signals.to_int16(
            np.clip(4 * sim_signals.tone(60, 2.0, 0) + rng.normal(0, 0.3, 32000), -1, 1)
        ),
        "applause": sim_signals.to_int16(sim_signals.crowd_applause(3.0, rng)),
        "extremes": np.tile(
            np.array([32767, -32768, -32768, 32767, 0, 1, -1, 32767], np.int16), 2000
        ),
        "square_20hz": _square(20, 2.0),
        "square_1khz": _square(1000, 1.0),
        "square_nyquist": _square(8000, 1.0),
        "full_scale_steps": _steps(3.0),
        "full_scale_white": rng.integers(-32768, 32768, 2 * RATE).astype(np.int16),
    }
