"""The tick's single-precision exp and dB conversions agree with double precision
to far better than a score's last published digit (0.1 point of 100)."""

from __future__ import annotations

import numpy as np

from crowdpulse.gateway import fastmath


def test_single_precision_agrees_with_double_over_the_ranges_the_tick_uses() -> None:
    db = np.linspace(-60.0, 60.0, 100_001)  # reference.residual clips level differences here
    assert fastmath.power_of_db(db).dtype == np.float64
    assert np.allclose(fastmath.power_of_db(db), 10 ** (db / 10), rtol=2e-5, atol=0)
    ratio = np.logspace(-3, 6, 100_001)  # the residual's floor (-30 dB) upwards
    assert np.allclose(fastmath.db_of_power(ratio), 10 * np.log10(ratio), rtol=0, atol=1e-4)
    x = np.linspace(-30.0, 30.0, 100_001)  # sentiment._logistic clips here
    assert np.allclose(fastmath.exp(x), np.exp(x), rtol=2e-5, atol=0)
