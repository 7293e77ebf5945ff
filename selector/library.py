"""The track library: import a DJ's tracks from the files they already have.

    result = load("~/Music/friday")          # a folder of tagged audio
    result = load("friday.m3u8")             # a Mixxx / Traktor / VLC playlist
    result = load("library.csv")             # a spreadsheet
    result = load("rekordbox.xml")           # Rekordbox: File > Export Collection in xml format
    result.tracks   # the tracks that made it, normalised (Camelot keys, energy 0..1)
    result.errors   # one line per file/row/track that did not, saying why

Nothing here raises on bad input: every problem is one line in ``errors`` naming
the file and the row or track. Formats, tags read and the energy and recovery
rules are in docs/library.md.

This module picks the reader for what it is given and is the one public entry:
each format's reader is in a module of its own (library_csv, library_audio,
library_rekordbox), what they share in library_fields, and the Track and
ImportResult types in track.py, below them all, so that nothing imports in a
circle. The public names are re-exported here.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from crowdpulse.selector.camelot import to_camelot
from crowdpulse.selector.library_audio import AUDIO_EXTENSIONS, load_folder, load_m3u
from crowdpulse.selector.library_csv import load_csv, parse_csv
from crowdpulse.selector.library_fields import BPM_RANGE
from crowdpulse.selector.library_rekordbox import load_rekordbox
from crowdpulse.selector.track import ImportResult, Track, estimate_energy, track_id

__all__ = [
    "AUDIO_EXTENSIONS",
    "BPM_RANGE",
    "ImportResult",
    "Track",
    "estimate_energy",
    "load",
    "sample_library",
    "to_camelot",
    "track_id",
]

SAMPLE_LIBRARY = "data/sample_library.csv"


# --- entry points --------------------------------------------------------------


def load(path: str | Path) -> ImportResult:
    """Import a library: a folder of audio, an .m3u/.m3u8 playlist, a .csv or a Rekordbox .xml."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_folder(p)
    if not p.exists():
        return ImportResult([], [f"{p}: no such file or folder"])
    suffix = p.suffix.lower()
    try:
        if suffix in (".m3u", ".m3u8"):
            return load_m3u(p)
        if suffix == ".csv":
            return load_csv(p)
        if suffix == ".xml":
            return load_rekordbox(p)
    except OSError as exc:
        return ImportResult([], [f"{p.name}: cannot read the file ({exc})"])
    return ImportResult(
        [],
        [
            f"{p.name}: not a track library (use a folder of audio files, an .m3u/.m3u8 playlist, "
            "a .csv or a Rekordbox .xml export)"
        ],
    )


@functools.cache
def _sample() -> tuple[Track, ...]:
    text = (
        resources.files("crowdpulse.selector").joinpath(SAMPLE_LIBRARY).read_text(encoding="utf-8")
    )
    result = parse_csv(text, "sample_library.csv", "sample_library.csv")
    if result.errors:  # the shipped file is tested; this only guards against a broken install
        raise RuntimeError("the sample library has errors: " + "; ".join(result.errors))
    return tuple(result.tracks)


def sample_library() -> list[Track]:
    """The shipped sample library: about 80 fictional tracks across six dance genres."""
    return list(_sample())
