"""How the band's fixed-point filters were derived; re-run to reproduce them.

`python -m crowdpulse.dspdesign` prints the A-weighting correction FIR and the
error of the whole digital chain against the IEC 61672 A curve.  A test checks
that the constants in firmware/wristband/dspcore.py are what this produces.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

RATE = 16000
# Each one-pole stage is lp += (x - lp) * alpha with alpha a sum of powers of two,
# so the band needs no multiplier for it; alpha = 1 - exp(-2 pi fc / fs).
A_POLES = {
    "20.6 Hz": 2**-7,
    "20.6 Hz (2nd)": 2**-7,
    "107.7 Hz": 2**-5 + 2**-7 + 2**-9,
    "737.9 Hz": 2**-2,
}
FIT_BAND = (40.0, 7500.0)


def a_weight_db(f: np.ndarray) -> np.ndarray:
    f2 = np.square(f)
    ra = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    return np.asarray(20 * np.log10(ra) + 2.0)


def pole_hz(alpha: float) -> float:
    return -math.log(1 - alpha) * RATE / (2 * math.pi)


def highpass_response(alpha: float, w: np.ndarray) -> np.ndarray:
    """hp = x - lp with lp += alpha * (x - lp)."""
    return np.asarray(1 - alpha / (1 - (1 - alpha) * np.exp(-1j * w)))


def fir_response(taps: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.asarray(taps[0] + sum(2 * taps[k] * np.cos(k * w) for k in range(1, len(taps))))


def design(ntaps: int = 3) -> tuple[list[int], float]:
    """Q14 taps (centre, +-1, +-2) of the symmetric FIR that stands in for the
    12.2 kHz poles and trims the one-pole stages; and the worst error 50-6300 Hz."""
    f = np.geomspace(20, 7900, 3000)
    w = 2 * np.pi * f / RATE
    chain = np.ones_like(w, dtype=complex)
    for alpha in A_POLES.values():
        chain = chain * highpass_response(alpha, w)
    want = a_weight_db(f) - 20 * np.log10(np.abs(chain))
    sel = (f >= FIT_BAND[0]) & (f <= FIT_BAND[1])

    def err(p: np.ndarray) -> np.ndarray:
        return np.asarray(20 * np.log10(np.abs(fir_response(p, w[sel]))) - want[sel])

    taps = least_squares(err, np.r_[1.0, np.zeros(ntaps - 1)]).x
    q14 = [int(round(t * 16384)) for t in taps]
    total = 20 * np.log10(np.abs(chain * fir_response(np.array(q14) / 16384, w)))
    band = (f >= 50) & (f <= 6300)
    return q14, float(np.max(np.abs(total[band] - a_weight_db(f)[band])))


def main() -> None:
    for name, alpha in A_POLES.items():
        print(f"pole {name:14s} alpha={alpha:.6f} -> {pole_hz(alpha):7.2f} Hz")
    taps, worst = design()
    print(f"FIR taps (Q14): H0={taps[0]} H1={taps[1]} H2={taps[2]}")
    print(f"worst error against the A curve, 50 Hz - 6.3 kHz: {worst:.3f} dB")


if __name__ == "__main__":
    main()
