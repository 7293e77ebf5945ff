"""The wrist's accelerometer, for the bands that have one: dancing and claps.

A band with an IMU reads one accelerometer sample per 10 ms audio frame and
keeps two numbers per report (firmware/wristband/motion.py): its movement
intensity, the mean of | |a| - 1 g |, and the impacts it felt (a jump of more
than 1.5 g between two samples).  Twin mode synthesises those samples and
runs them through the firmware's own `Motion`, band by band:

- dancing: the wrist swings on the beat, along gravity, with the amplitude
  that gives the wearer's movement intensity (sim/world/crowd.py, in g);
- a clap: the hands meet and the wrist takes a jolt, sideways, in the one
  sample that catches it (strength from the acoustic model, sim/world/acoustics.py),
  at the very instant the microphone hears the clap (sim/world/scene.py).

Fast mode draws the same two fields from the actions with a constant measured
on this (sim/bands/fastcal.py: what one jolt adds to the mean).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from crowdpulse.sim.world.acoustics import Floor
from wristband import packet
from wristband.motion import Motion

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
PER_G = 4096  # the MPU6886 at +-8 g (firmware/wristband/hal/esp32.py)
SAMPLES_PER_S = 100  # one per audio frame
SAMPLE_OF_AUDIO = 160  # audio samples per accelerometer sample


@cache
def _swing_table() -> tuple[F64, F64]:
    """Mean | |1 + A sin| - 1 | over a cycle, for amplitudes A from 0 to 4 g."""
    amp = np.linspace(0.0, 4.0, 401)
    s = np.sin(np.linspace(0.0, 2 * np.pi, 720, endpoint=False))
    return np.abs(np.abs(1.0 + amp[:, None] * s[None, :]) - 1.0).mean(axis=1), amp


def swing_amplitude(motion_g: F64) -> F64:
    """The beat-locked swing (g, along gravity) whose movement intensity is motion_g."""
    mean_dev, amp = _swing_table()
    return np.asarray(np.interp(motion_g, mean_dev, amp))


class ImuTwin:
    """Accelerometer samples for each band with an IMU, through its own firmware `Motion`."""

    def __init__(
        self, has_imu: npt.NDArray[np.bool_], floor: Floor, rng: np.random.Generator
    ) -> None:
        self.floor = floor
        self.motion = {int(b): Motion(PER_G) for b in np.flatnonzero(has_imu)}
        self.phase = rng.uniform(0.0, 2 * np.pi, len(has_imu))
        self.sample = np.zeros(len(has_imu), np.int64)  # accelerometer samples read so far

    def codes(
        self, idx: I64, frames: I64, motion_g: F64, bpm: float, claps_at: I64, strength: F64
    ) -> tuple[I64, I64]:
        """(motion code, impacts) per band in idx over its next frames[j] samples;
        claps_at[j] are its wearer's claps (audio samples from the interval's start,
        -1 after the last) and strength[j] their 0-1 strengths.  Bands without an IMU
        get (MOTION_ABSENT, 0)."""
        n = len(idx)
        motion = np.full(n, packet.MOTION_ABSENT, np.int64)
        impacts = np.zeros(n, np.int64)
        swing = swing_amplitude(motion_g)
        w = 2 * np.pi * bpm / 60.0 / SAMPLES_PER_S
        lo, span = (
            self.floor.clap_jolt_g - self.floor.clap_jolt_spread_g,
            2 * self.floor.clap_jolt_spread_g,
        )
        for j in range(n):
            b = int(idx[j])
            m = self.motion.get(b)
            f = int(frames[j])
            if m is not None:
                t = self.sample[b] + np.arange(f)
                z = np.round(PER_G * (1.0 + swing[j] * np.sin(w * t + self.phase[b]))).astype(
                    np.int64
                )
                x = np.zeros(f, np.int64)
                hit = claps_at[j][claps_at[j] >= 0] // SAMPLE_OF_AUDIO
                ok = hit < f
                x[hit[ok]] = np.round(PER_G * (lo + span * strength[j][: len(hit)][ok])).astype(
                    np.int64
                )
                for k in range(f):
                    m.sample(int(x[k]), 0, int(z[k]))
                motion[j], impacts[j] = m.finish()
            self.sample[b] += f
        return motion, impacts
