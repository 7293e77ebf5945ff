"""What one virtual band hears: a WAV file, or one of the synthetic scenes.

`crowdpulse sim band` and `crowdpulse sim serial-band` take `--wav FILE` or
`--signal NAME`; both read their audio here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crowdpulse.audio import load
from crowdpulse.sim.world import signals

NAMES = ("music", "claps", "applause", "cheer", "tone", "pink", "silence")
SECONDS = 20  # looped by the band, so a scene need not be long


def _scenes(rng: np.random.Generator) -> dict[str, Callable[[], np.ndarray]]:
    return {
        "music": lambda: signals.drum_music(SECONDS, rng),
        "claps": lambda: (
            signals.drum_music(SECONDS, rng, dbfs=-26)
            + signals.clap_track(
                signals.seconds(SECONDS),
                [signals.seconds(t) for t in np.arange(2, SECONDS - 1, 0.5)],
                rng,
                signals.room_ir(rng, 0.8, 20),
                [6.0] * 34,
                10 ** (-26 / 10) / 2,
            )
        ),
        "applause": lambda: signals.crowd_applause(SECONDS, rng),
        "cheer": lambda: signals.crowd_cheer(SECONDS, rng),
        "tone": lambda: signals.tone(1000, SECONDS, -26),
        "pink": lambda: signals.pink_noise(SECONDS, rng, -30),
        "silence": lambda: np.zeros(signals.seconds(SECONDS)),
    }


def band_audio(wav: str | None, scene: str) -> np.ndarray:
    """int16 samples at the band's rate: the WAV file when given (an unreadable
    one raises crowdpulse.audio.AudioError, one line), else the named scene."""
    if wav:
        return load(wav).samples
    if scene not in NAMES:
        raise ValueError(f"unknown scene {scene!r}; one of {', '.join(NAMES)}")
    rng = np.random.default_rng(1)
    return signals.to_int16(np.clip(_scenes(rng)[scene](), -1, 1))
