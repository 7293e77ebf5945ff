"""Musical keys in Camelot notation, from whatever a DJ tool or a tag wrote.

The Camelot wheel numbers the 12 major keys 1B..12B and the 12 minor keys
1A..12A so that neighbours on the wheel (same number, or one step round) mix
well. 8B is C major, 8A is A minor; one step clockwise is a fifth up.

    to_camelot("Am") == to_camelot("A minor") == to_camelot("1m") == "8A"
    to_camelot("Db") == to_camelot("C#maj") == to_camelot("D\u266d") == "3B"

Read forms (case-insensitive, spaces optional, unicode sharps and flats):

- standard: ``Am``, ``A min``, ``A minor``, ``C#m``, ``Db``, ``Dbmaj``, ``F#``,
  ``Gb major``, ``E flat minor``, ``F-sharp``; ``m``/``min``/``minor`` is minor,
  nothing or ``maj``/``major`` is major. This is also what Rekordbox writes to
  its XML ``Tonality`` and what Traktor, Serato and ID3 ``TKEY`` use (Rekordbox
  and Traktor are not alone in writing ``Abm``, so any spelling of a note works);
- Camelot: ``8A``, ``08a``, ``8 A``;
- Open Key (Traktor's other display): ``1m``..``12m`` (minor), ``1d``..``12d``
  (major); 1d is C major, 1m is A minor;
- combined forms such as Mixed In Key's ``8A - Am`` or ``Am/8A``, when the parts
  agree.

Anything else, including ID3's ``o`` (off key), is None.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CAMELOT_KEYS", "to_camelot", "to_open_key", "to_standard"]

# Every Camelot key, in wheel order: 1A, 1B, 2A, ... 12B.
CAMELOT_KEYS: tuple[str, ...] = tuple(f"{n}{m}" for n in range(1, 13) for m in "AB")

_NATURAL = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = {"": 0, "#": 1, "sharp": 1, "b": -1, "flat": -1}
_MINOR = {"m", "min", "minor"}
_MAJOR = {"", "maj", "major"}

# How DJs usually spell each Camelot key (sharps and flats as on the wheel).
_SPELLING = {
    "1A": "Abm",
    "1B": "B",
    "2A": "Ebm",
    "2B": "F#",
    "3A": "Bbm",
    "3B": "Db",
    "4A": "Fm",
    "4B": "Ab",
    "5A": "Cm",
    "5B": "Eb",
    "6A": "Gm",
    "6B": "Bb",
    "7A": "Dm",
    "7B": "F",
    "8A": "Am",
    "8B": "C",
    "9A": "Em",
    "9B": "G",
    "10A": "Bm",
    "10B": "D",
    "11A": "F#m",
    "11B": "A",
    "12A": "C#m",
    "12B": "E",
}

_STANDARD = re.compile(r"^([a-g])\s*(#|b|sharp|flat)?\s*(m|min|minor|maj|major)?$")
_CAMELOT = re.compile(r"^0?([1-9]|1[0-2])\s*([ab])$")
_OPEN_KEY = re.compile(r"^0?([1-9]|1[0-2])\s*([md])$")
_SEPARATORS = re.compile(r"[/|,;()\[\]-]+")


def _camelot_of(pitch: int, minor: bool) -> str:
    """Pitch class (C=0 .. B=11) and mode -> Camelot key.

    Major: C (0) is 8B and each fifth up (+7 semitones) is one more on the wheel.
    Minor: A (9) is 8A, and the same rule.
    """
    tonic = (pitch - 9) if minor else pitch
    number = (7 * tonic + 7) % 12 + 1
    return f"{number}{'A' if minor else 'B'}"


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u266f", "#").replace("\u266d", "b").replace("\u266e", "")
    text = text.strip().lower()
    text = re.sub(r"[-\s]+(sharp|flat)", r" \1", text)  # "F-sharp" -> "f sharp"
    text = re.sub(r"[-\s]*(major|minor|maj|min)\b\.?", r" \1", text)
    return re.sub(r"\s+", " ", text).strip()


def _parse_one(text: str) -> str | None:
    text = text.strip()
    m = _CAMELOT.match(text)
    if m:
        return f"{int(m.group(1))}{m.group(2).upper()}"
    m = _OPEN_KEY.match(text)
    if m:
        number = (int(m.group(1)) + 6) % 12 + 1  # 1d (C major) is 8B
        return f"{number}{'A' if m.group(2) == 'm' else 'B'}"
    m = _STANDARD.match(text)
    if m:
        root, accidental, mode = m.group(1), m.group(2) or "", m.group(3) or ""
        pitch = (_NATURAL[root] + _ACCIDENTAL[accidental]) % 12
        if mode in _MINOR:
            return _camelot_of(pitch, minor=True)
        if mode in _MAJOR:
            return _camelot_of(pitch, minor=False)
    return None


def to_camelot(key: str) -> str | None:
    """The Camelot key ("1A".."12B") for a key in any notation above, else None."""
    text = _normalise(key)
    if not text:
        return None
    found = _parse_one(text)
    if found is not None:
        return found
    # Combined forms: "8A - Am", "Am/8A", "8A (Am)", "1A Abm". Every part must
    # be a key and all must agree; otherwise the notation is not trusted.
    for parts in (_SEPARATORS.split(text), text.split(" ")):
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 2:
            continue
        keys = {_parse_one(p) for p in parts}
        if None not in keys and len(keys) == 1:
            return keys.pop()
    return None


def to_standard(camelot: str) -> str:
    """The usual standard spelling of a key: "8A" -> "Am", "3B" -> "Db"."""
    key = to_camelot(camelot)
    if key is None:
        raise ValueError(f"{camelot!r} is not a key")
    return _SPELLING[key]


def to_open_key(camelot: str) -> str:
    """Open Key notation of a key: "8A" -> "1m", "8B" -> "1d"."""
    key = to_camelot(camelot)
    if key is None:
        raise ValueError(f"{camelot!r} is not a key")
    number = (int(key[:-1]) - 8) % 12 + 1
    return f"{number}{'m' if key[-1] == 'A' else 'd'}"
