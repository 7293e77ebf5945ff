"""What the library readers share: field parsing and checking, and collecting results.

Every format (CSV, tagged audio, Rekordbox XML) checks the same fields the same
way and words its error lines alike, so the parsers, the checker that keeps
every problem of a row, and the collector of tracks and error lines live here,
once, for library_csv, library_audio and library_rekordbox.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from crowdpulse.selector.camelot import to_camelot
from crowdpulse.selector.track import ImportResult, Track, estimate_energy, track_id

BPM_RANGE = (30.0, 300.0)  # a BPM outside this is a typo or a broken analysis


def parse_decimal(text: str) -> float:
    """A finite number, with a decimal point or (as Excel writes it in many locales) a comma.

    Raises ValueError otherwise; the callers word their own error.
    """
    value = float(text.strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


_ENERGY_TEXT = re.compile(r"\benergy(?:\s*level)?\s*[:=]?\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE)


def energy_value(text: str) -> float | None:
    """A tag's energy number: "7" (Mixed In Key's 1-10) -> 0.7, "0.7" -> 0.7.

    A number with a decimal point up to 1 is already 0..1; any other number from
    0 to 10 is on the 1-10 scale and divided by 10. Else None.
    """
    text = text.strip().replace(",", ".")
    try:
        value = parse_decimal(text)
    except ValueError:
        return None
    if value < 0:
        return None
    if "." in text and value <= 1:
        return value
    return value / 10 if value <= 10 else None


def energy_from_comments(comments: Iterable[str]) -> float | None:
    """ "Energy 7" (Mixed In Key's comment), "energy: 0.8", "EnergyLevel=6"."""
    for comment in comments:
        m = _ENERGY_TEXT.search(comment)
        if m:
            value = energy_value(m.group(1))
            if value is not None:
                return value
    return None


RECOVERY_TEXT = re.compile(r"\brecovery\b", re.IGNORECASE)
TRUE_TEXT = {"true", "yes", "y", "1"}
FALSE_TEXT = {"false", "no", "n", "0", ""}

# --- field parsers: each returns the value or raises BadFieldError with the message ---


class BadFieldError(ValueError):
    """One problem with one field, worded for the error line."""


def parse_number(name: str, text: str) -> float:
    try:
        return parse_decimal(text)
    except ValueError:
        raise BadFieldError(f"{name} {text.strip()!r} is not a number") from None


def parse_bpm(text: str) -> float:
    if not text.strip():
        raise BadFieldError("no bpm")
    value = parse_number("bpm", text)
    lo, hi = BPM_RANGE
    if not lo <= value <= hi:
        raise BadFieldError(f"bpm {text.strip()!r} is outside {lo:g}-{hi:g}")
    return value


def camelot_key(text: str) -> str:
    if not text.strip():
        raise BadFieldError("no key")
    key = to_camelot(text)
    if key is None:
        raise BadFieldError(
            f"key {text.strip()!r} is not a key notation (use e.g. 8A, Am, A minor, 1m)"
        )
    return key


def parse_duration(text: str) -> float:
    s = text.strip()
    if not s:
        raise BadFieldError("no duration")
    m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d{1,2}(?:[.,]\d+)?)", s)  # m:ss or h:mm:ss
    if m:
        hours, minutes, seconds = (
            int(m.group(1) or 0),
            int(m.group(2)),
            parse_decimal(m.group(3)),
        )
        if seconds >= 60 or (m.group(1) and minutes >= 60):
            raise BadFieldError(f"duration {s!r} is not seconds or m:ss")
        value = hours * 3600 + minutes * 60 + seconds
    else:
        try:
            value = parse_decimal(s)
        except ValueError:
            raise BadFieldError(f"duration {s!r} is not seconds or m:ss") from None
    if value <= 0:
        raise BadFieldError(f"duration {s!r} is not more than 0")
    return value


def parse_recovery(text: str) -> bool:
    s = text.strip().lower()
    if s in TRUE_TEXT:
        return True
    if s in FALSE_TEXT:
        return False
    raise BadFieldError(f"recovery {text.strip()!r} is not true/false/yes/no/1/0")


_T = TypeVar("_T")


class Checker:
    """Runs field parsers and keeps every problem, so one line can name them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, parse: Callable[[str], _T], text: str) -> _T | None:
        try:
            return parse(text)
        except BadFieldError as exc:
            self.problems.append(str(exc))
            return None

    def require(self, value: str, what: str) -> str:
        if not value.strip():
            self.problems.append(f"no {what}")
        return value.strip()

    def analysed(
        self,
        parse: Callable[[str], _T],
        text: str,
        missing: str,
        unset: Callable[[str], bool] = lambda text: not text.strip(),
    ) -> _T | None:
        """A value the DJ software writes when it analyses a track (BPM, key).

        When it is unset the problem is ``missing``, which says to analyse the
        track, rather than the parser's "not a number".
        """
        if unset(text):
            self.problems.append(missing)
            return None
        return self(parse, text)


class Collector:
    """Gathers tracks and error lines; a second track with the same id is an error."""

    def __init__(self) -> None:
        self.result = ImportResult()
        self._seen: dict[str, str] = {}

    def add(self, label: str, track: Track) -> None:
        first = self._seen.get(track.id)
        if first is not None:
            self.result.errors.append(f"{label}: the same track as {first} (kept the first)")
            return
        self._seen[track.id] = label
        self.result.tracks.append(track)

    def error(self, label: str, problem: str) -> None:
        self.result.errors.append(f"{label}: {problem}")


def make_track(
    *,
    title: str,
    artist: str,
    bpm: float,
    key: str,
    energy: float | None,
    genre: str,
    duration_s: float,
    recovery: bool,
    source: str,
    rekordbox_id: str = "",
) -> Track:
    """A Track, with what every format derives the same way: the id from artist and
    title (unless Rekordbox gave its TrackID), the energy from tempo and genre when
    no tag or column gave one."""
    return Track(
        id=f"rb-{rekordbox_id}" if rekordbox_id else track_id(artist, title),
        title=title,
        artist=artist,
        bpm=bpm,
        key=key,
        energy=energy if energy is not None else estimate_energy(bpm, genre),
        genre=genre,
        duration_s=duration_s,
        recovery=recovery,
        source=source,
    )


# --- reading files: text and file URLs ----------------------------------------


def read_text(path: Path) -> str:
    """UTF-8 (with or without a BOM), else Windows-1252 as old Excel writes it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def file_url_to_path(url: str) -> str:
    """file://localhost/Users/dj/a%20b.mp3 -> /Users/dj/a b.mp3 (also file:///C:/...)."""
    path = url2pathname(unquote(urlparse(url).path))
    if re.match(r"^/[A-Za-z]:[/\\]", path):  # a Windows drive: keep "C:/..."
        path = path[1:]
    return path
