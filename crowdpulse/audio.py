"""Reading recordings the way a band would hear them: 16 kHz, mono, int16.

soundfile (libsndfile) reads WAV in any common sample format; scipy resamples
with a polyphase filter.  Errors are `AudioError` with one readable line.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
from scipy import signal

RATE = 16000


class AudioError(ValueError):
    """A file that cannot be used as audio."""


@dataclass(frozen=True)
class Loaded:
    samples: npt.NDArray[np.int16]
    source_rate: int
    source_channels: int
    source_subtype: str

    @property
    def converted(self) -> bool:
        return (
            self.source_rate != RATE or self.source_channels != 1 or self.source_subtype != "PCM_16"
        )


def load(path: str | Path) -> Loaded:
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a folder, not a recording")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: file is empty")
    try:
        info = soundfile.info(str(p))
        data, rate = soundfile.read(str(p), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(
            f"{p}: not a readable audio file ({str(exc).splitlines()[0][:80]})"
        ) from None
    if data.shape[0] == 0:
        raise AudioError(f"{p}: contains no audio frames")
    mono = data.mean(axis=1)
    if rate != RATE:
        ratio = Fraction(RATE, int(rate)).limit_denominator(1000)
        mono = signal.resample_poly(mono, ratio.numerator, ratio.denominator)
    pcm = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    return Loaded(pcm, int(rate), int(info.channels), str(info.subtype))
