"""Short stand-in audio for a track library: for the demo's player and the
MPD tests.

Each track becomes a FLAC file of a kick drum on every beat at the track's
tempo, `seconds` long, tagged (with mutagen) with the track's title, artist,
BPM, key, genre, energy and crowd-favourite flag, so that the library importer
reads back the same tracks (same ids) with the shortened duration, and MPD
serves the same folder.  CD format (44.1 kHz, 16-bit stereo): a kick and
silence compress to ~100 kB a track, and MPD handles its usual format best (with
8 kHz mono files it took seconds to drop a next song it had already decoded).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile
from mutagen.flac import FLAC

from crowdpulse.selector.library import Track

RATE = 44100


def _kick(rate: int) -> np.ndarray:
    t = np.arange(int(0.12 * rate)) / rate
    sweep = 2 * np.pi * (50 * t + 60 * (1 - np.exp(-t / 0.02)) * 0.02)
    return 0.6 * np.sin(sweep) * np.exp(-t / 0.05)


def beat(bpm: float, seconds: float, rate: int = RATE) -> np.ndarray:
    """A kick on every beat, int16."""
    out = np.zeros(int(seconds * rate))
    kick = _kick(rate)
    for start in np.arange(0, len(out), 60.0 / bpm * rate).astype(int).tolist():
        n = min(len(kick), len(out) - start)
        out[start : start + n] += kick[:n]
    return (np.clip(out, -1, 1) * 32767).astype(np.int16)


def file_name(t: Track) -> str:
    safe = re.sub(r"[^A-Za-z0-9 ._-]+", "", f"{t.artist} - {t.title}").strip() or t.id
    return f"{safe}.flac"


def write_folder(tracks: list[Track], folder: Path, seconds: float) -> list[Path]:
    """One tagged FLAC per track, min(track, seconds) long; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tracks:
        p = folder / file_name(t)
        mono = beat(t.bpm, min(t.duration_s, seconds))
        soundfile.write(p, np.stack([mono, mono], axis=1), RATE, format="FLAC")
        tags = FLAC(p)
        tags.update(
            {
                "title": t.title,
                "artist": t.artist,
                "bpm": f"{t.bpm:g}",
                "initialkey": t.key,
                "genre": t.genre,
                "energy": f"{t.energy:.2f}",
                "recovery": "yes" if t.recovery else "no",
            }
        )
        tags.save()
        paths.append(p)
    return paths
