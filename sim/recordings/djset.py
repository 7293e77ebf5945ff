"""A DJ set of music alone: every bed of the set, whole, back to back.

The nights (nights.py) last a minute, too short for a band's baselines to
settle or for a track to change character.  The set plays the six music
sources whole (about 18 minutes), electronic and rock in turn, joined by 2 s
crossfades (sin² in, cos² out: their gains sum to one, so a fade between two
tracks at the same level keeps that level within 3 dB), with no crowd at all.
A DJ's tracks are not levelled, so each is scaled to `nights.MUSIC_DB` plus
its entry in `OFFSETS_DB` (a 3 dB step is common between tracks mastered
years apart; the largest step here, from -3 to +3, is 6 dB).  What it judges:
music alone, over minutes and across tracks, must stay music
(docs/recordings.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from crowdpulse.audio import RATE
from crowdpulse.sim.recordings import catalog, nights

ORDER = tuple(t for pair in zip(catalog.ELECTRONIC, catalog.ROCK, strict=True) for t in pair)
OFFSETS_DB = (0.0, 3.0, -2.0, 3.0, -3.0, 3.0)
# bands hearing the set: music alone needs no crowd of bands, and 12 keep the
# 18 minutes to about a minute and a half a mode (the nights use 30)
DEVICES = 12
CROSSFADE_S = 2.0


@dataclass(frozen=True)
class DjSet:
    audio: npt.NDArray[np.int16]
    starts_s: tuple[float, ...]  # where each track of ORDER starts (its crossfade in)

    @property
    def duration_s(self) -> int:
        return len(self.audio) // RATE

    def tracks(self) -> list[tuple[str, int, int]]:
        """(name, first second, end second) of each track, crossfades to the later one."""
        ends = [*self.starts_s[1:], len(self.audio) / RATE]
        return [
            (name, int(np.ceil(a)), int(b))
            for name, a, b in zip(ORDER, self.starts_s, ends, strict=True)
        ]


def mix(cache: Path) -> DjSet:
    fade = int(CROSSFADE_S * RATE)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade)) ** 2
    out = np.zeros(0)
    starts: list[float] = []
    for name, offset in zip(ORDER, OFFSETS_DB, strict=True):
        track = nights.at_music_level(nights.source_floats(cache, name), offset)
        if len(out) == 0:
            starts.append(0.0)
            out = track
            continue
        starts.append((len(out) - fade) / RATE)
        joined = out[-fade:] * ramp[::-1] + track[:fade] * ramp
        out = np.concatenate([out[:-fade], joined, track[fade:]])
    out = out * nights.peak_trim(out)
    return DjSet(nights.pcm(out), tuple(starts))


def write(dj: DjSet, path: Path) -> Path:
    soundfile.write(str(path), dj.audio, RATE, subtype="PCM_16")
    return path
