"""What a track is, and what every library format derives the same way.

Track and ImportResult are the library's types; the readers (library_csv,
library_audio, library_rekordbox) build them and library.load returns them, so
they live here, below both, rather than in library.py (which imports the readers).
library.py re-exports everything public.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field

__all__ = ["ImportResult", "Track", "estimate_energy", "track_id"]


@dataclass(frozen=True)
class Track:
    id: str  # "rb-<TrackID>" from Rekordbox, else "t-" + 12 hex of sha1("artist|title")
    title: str
    artist: str
    bpm: float  # > 0 (typical 60-200)
    key: str  # Camelot: "1A".."12A" (minor), "1B".."12B" (major)
    energy: float  # 0..1
    genre: str
    duration_s: float  # > 0
    recovery: bool  # a crowd favourite: Adaptive Flow's prior for mood recovery
    source: str = ""  # file path, or where the track came from

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for the API."""
        return asdict(self)


@dataclass
class ImportResult:
    tracks: list[Track] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "lib.csv row 7: bpm 'fast' is not a number"


def track_id(artist: str, title: str) -> str:
    """The stable id of a track without a Rekordbox TrackID: "t-" + 12 hex digits."""
    text = f"{artist.strip().lower()}|{title.strip().lower()}"
    return "t-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


# --- energy -----------------------------------------------------------------

# Genre keyword -> (energy at the genre's usual tempo, that tempo). First match
# wins, so the specific names come before the general ones.
_GENRE_ENERGY: tuple[tuple[re.Pattern[str], float, float], ...] = tuple(
    (re.compile(pattern), base, tempo)
    for pattern, base, tempo in (
        (r"ambient|chill|downtempo|lounge|lo-?fi|ballad", 0.25, 90.0),
        (r"hard ?style|hardcore|gabber|hard ?dance", 0.85, 150.0),
        (r"drum ?(&|and|n|'n'|n') ?bass|\bdnb\b|\bd&b\b|jungle", 0.75, 174.0),
        (r"dubstep|riddim|bass music|\btrap\b", 0.75, 140.0),
        (r"trance|psy", 0.7, 138.0),
        (r"techno", 0.7, 130.0),
        (r"deep house|soulful|organic house", 0.5, 122.0),
        (r"tech house|big room|electro house|edm", 0.7, 126.0),
        (r"house|garage|\bukg\b", 0.6, 124.0),
        (r"disco|funk|boogie", 0.6, 118.0),
        (r"hip ?-?hop|rap|r ?& ?b|\brnb\b|grime|drill", 0.5, 95.0),
        (r"reggaeton|dancehall|afro|amapiano|latin", 0.6, 100.0),
        (r"pop|dance|rock", 0.55, 118.0),
    )
)


def estimate_energy(bpm: float, genre: str) -> float:
    """Energy 0..1 when no tag or column gives one.

    A known genre gives a base energy at its usual tempo, plus 0.01 for every
    BPM faster than that tempo (minus for slower), the tempo part limited to
    +-0.15. An unknown genre: 0.5 at 120 BPM, 0.005 per BPM. The result is
    clamped to 0.1..0.95 and rounded to 2 decimals.
    """
    g = genre.strip().lower()
    for pattern, base, tempo in _GENRE_ENERGY:
        if pattern.search(g):
            energy = base + max(-0.15, min(0.15, 0.01 * (bpm - tempo)))
            break
    else:
        energy = 0.5 + 0.005 * (bpm - 120.0)
    return round(max(0.1, min(0.95, energy)), 2)
