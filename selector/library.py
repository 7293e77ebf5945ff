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
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import mutagen

from crowdpulse.selector.audiotags import Tags, key_from_comments, read_tags, title_from_name
from crowdpulse.selector.camelot import to_camelot

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

AUDIO_EXTENSIONS = (
    ".mp3",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".m4a",
    ".mp4",
    ".wav",
    ".aif",
    ".aiff",
)
BPM_RANGE = (30.0, 300.0)  # a BPM outside this is a typo or a broken analysis
SAMPLE_LIBRARY = "data/sample_library.csv"


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


def _decimal(text: str) -> float:
    """A finite number, with a decimal point or (as Excel writes it in many locales) a comma.

    Raises ValueError otherwise; the callers word their own error.
    """
    value = float(text.strip().replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


_ENERGY_TEXT = re.compile(r"\benergy(?:\s*level)?\s*[:=]?\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE)


def _energy_value(text: str) -> float | None:
    """A tag's energy number: "7" (Mixed In Key's 1-10) -> 0.7, "0.7" -> 0.7.

    A number with a decimal point up to 1 is already 0..1; any other number from
    0 to 10 is on the 1-10 scale and divided by 10. Else None.
    """
    text = text.strip().replace(",", ".")
    try:
        value = _decimal(text)
    except ValueError:
        return None
    if value < 0:
        return None
    if "." in text and value <= 1:
        return value
    return value / 10 if value <= 10 else None


def _energy_from_comments(comments: Iterable[str]) -> float | None:
    """ "Energy 7" (Mixed In Key's comment), "energy: 0.8", "EnergyLevel=6"."""
    for comment in comments:
        m = _ENERGY_TEXT.search(comment)
        if m:
            value = _energy_value(m.group(1))
            if value is not None:
                return value
    return None


_RECOVERY_TEXT = re.compile(r"\brecovery\b", re.IGNORECASE)
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}

# --- field parsers: each returns the value or raises _BadFieldError with the message ---


class _BadFieldError(ValueError):
    """One problem with one field, worded for the error line."""


def _number(name: str, text: str) -> float:
    try:
        return _decimal(text)
    except ValueError:
        raise _BadFieldError(f"{name} {text.strip()!r} is not a number") from None


def _bpm(text: str) -> float:
    if not text.strip():
        raise _BadFieldError("no bpm")
    value = _number("bpm", text)
    lo, hi = BPM_RANGE
    if not lo <= value <= hi:
        raise _BadFieldError(f"bpm {text.strip()!r} is outside {lo:g}-{hi:g}")
    return value


def _key(text: str) -> str:
    if not text.strip():
        raise _BadFieldError("no key")
    key = to_camelot(text)
    if key is None:
        raise _BadFieldError(
            f"key {text.strip()!r} is not a key notation (use e.g. 8A, Am, A minor, 1m)"
        )
    return key


def _duration(text: str) -> float:
    s = text.strip()
    if not s:
        raise _BadFieldError("no duration")
    m = re.fullmatch(r"(?:(\d+):)?(\d+):(\d{1,2}(?:[.,]\d+)?)", s)  # m:ss or h:mm:ss
    if m:
        hours, minutes, seconds = (
            int(m.group(1) or 0),
            int(m.group(2)),
            _decimal(m.group(3)),
        )
        if seconds >= 60 or (m.group(1) and minutes >= 60):
            raise _BadFieldError(f"duration {s!r} is not seconds or m:ss")
        value = hours * 3600 + minutes * 60 + seconds
    else:
        try:
            value = _decimal(s)
        except ValueError:
            raise _BadFieldError(f"duration {s!r} is not seconds or m:ss") from None
    if value <= 0:
        raise _BadFieldError(f"duration {s!r} is not more than 0")
    return value


def _recovery(text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise _BadFieldError(f"recovery {text.strip()!r} is not true/false/yes/no/1/0")


_T = TypeVar("_T")


class _Checker:
    """Runs field parsers and keeps every problem, so one line can name them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, parse: Callable[[str], _T], text: str) -> _T | None:
        try:
            return parse(text)
        except _BadFieldError as exc:
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


class _Collector:
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


def _track(
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


# --- CSV --------------------------------------------------------------------

_COLUMNS = {
    "title": ("title", "name", "track", "track title"),
    "artist": ("artist", "artists"),
    "bpm": ("bpm", "tempo"),
    "key": ("key", "camelot", "initial key", "tonality"),
    "energy": ("energy", "energy level"),
    "genre": ("genre",),
    "duration": ("duration", "duration_s", "length", "time"),
    "recovery": ("recovery", "crowd favourite", "favourite", "favorite"),
}
_REQUIRED = ("title", "artist", "bpm", "key", "duration")


def _read_text(path: Path) -> str:
    """UTF-8 (with or without a BOM), else Windows-1252 as old Excel writes it."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _csv_columns(header: list[str]) -> dict[str, int]:
    """Each known column's index: the first header cell that is one of its names."""
    index: dict[str, int] = {}
    for canonical, aliases in _COLUMNS.items():
        for i, h in enumerate(header):
            if h in aliases:
                index[canonical] = i
                break
    return index


class _Sheet:
    """A CSV file's data rows, read by column name (a short row reads as empty)."""

    def __init__(self, rows: list[list[str]], index: dict[str, int]) -> None:
        self.rows = rows
        self.index = index

    def cell(self, row: list[str], column: str) -> str:
        i = self.index.get(column)
        return row[i] if i is not None and i < len(row) else ""

    def ten_scale(self) -> bool:
        """Energy: the whole column is 0-1, unless a value above 1 (up to 10) says it
        is Mixed In Key's 1-10 scale."""
        for row in self.rows:
            try:
                value = _decimal(self.cell(row, "energy"))
            except ValueError:
                continue
            if 1 < value <= 10:
                return True
        return False


def _energy(ten_scale: bool, text: str) -> float:
    value = _number("energy", text)
    if ten_scale:
        if not 1 <= value <= 10:
            raise _BadFieldError(
                f"energy {text.strip()!r} is outside 1-10 (this file's energy column is 1-10)"
            )
        return value / 10
    if not 0 <= value <= 1:
        raise _BadFieldError(f"energy {text.strip()!r} is outside 0-1 and 1-10")
    return value


def _csv_row(
    sheet: _Sheet,
    row: list[str],
    energy: Callable[[str], float],
    label: str,
    source: str,
    out: _Collector,
) -> None:
    """One data row: its track, or one error line naming every problem it has."""
    check = _Checker()
    title = check.require(sheet.cell(row, "title"), "title")
    artist = check.require(sheet.cell(row, "artist"), "artist")
    bpm = check(_bpm, sheet.cell(row, "bpm"))
    key = check(_key, sheet.cell(row, "key"))
    duration = check(_duration, sheet.cell(row, "duration"))
    energy_text = sheet.cell(row, "energy")
    level = check(energy, energy_text) if energy_text.strip() else None
    recovery = check(_recovery, sheet.cell(row, "recovery"))
    genre = sheet.cell(row, "genre").strip()
    if check.problems or bpm is None or key is None or duration is None or recovery is None:
        out.error(label, "; ".join(check.problems))
        return
    out.add(
        label,
        _track(
            title=title,
            artist=artist,
            bpm=bpm,
            key=key,
            energy=level,
            genre=genre,
            duration_s=duration,
            recovery=recovery,
            source=source,
        ),
    )


def _parse_csv(text: str, name: str, source: str) -> ImportResult:
    out = _Collector()
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        out.error(name, "empty file (expected a header row: title,artist,bpm,key,duration,...)")
        return out.result
    header_line = lines[0]
    delimiter = max(",;\t", key=header_line.count)  # Excel in many locales writes ';'
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [h.strip().lower() for h in rows[0]]
    sheet = _Sheet(rows[1:], _csv_columns(header))
    missing = [c for c in _REQUIRED if c not in sheet.index]
    if missing:
        out.error(
            name,
            f"missing column(s) {', '.join(missing)} (the header row has: {', '.join(header)})",
        )
        return out.result
    energy = functools.partial(_energy, sheet.ten_scale())
    for number, row in enumerate(sheet.rows, start=2):  # row numbers as a spreadsheet shows them
        if any(c.strip() for c in row):
            _csv_row(sheet, row, energy, f"{name} row {number}", source, out)
    return out.result


def _load_csv(path: Path) -> ImportResult:
    return _parse_csv(_read_text(path), path.name, str(path))


# --- audio files: folders and playlists --------------------------------------


def _open_audio(path: Path, label: str, out: _Collector) -> tuple[Tags, float] | None:
    """The file's tags and its length in seconds, or None with the error line added."""
    try:
        audio = mutagen.File(path)
        if audio is None:
            out.error(label, "not an audio file that mutagen can read")
            return None
        return read_tags(audio.tags), float(getattr(audio.info, "length", 0.0) or 0.0)
    except Exception as exc:  # noqa: BLE001 - a damaged file is one error line, never the end of an import
        out.error(label, f"cannot read the file ({type(exc).__name__}: {exc})")
        return None


_ANALYSE_TAGS = " (analyse the track in your DJ software and let it write the tags)"


def _tag_energy(tags: Tags) -> float | None:
    """An energy tag, else an energy in the comments (Mixed In Key), else None."""
    energy = _energy_value(tags.energy) if tags.energy else None
    return energy if energy is not None else _energy_from_comments(tags.comments)


def _load_audio(path: Path, label: str, out: _Collector) -> None:
    opened = _open_audio(path, label, out)
    if opened is None:
        return
    tags, length = opened
    check = _Checker()
    bpm = check.analysed(_bpm, tags.bpm, "no BPM tag")
    key = check.analysed(_key, tags.key or key_from_comments(tags.comments), "no key tag")
    if not length > 0:
        check.problems.append("no audio length")
    if check.problems or bpm is None or key is None:
        untagged = "no BPM tag" in check.problems or "no key tag" in check.problems
        out.error(label, "; ".join(check.problems) + (_ANALYSE_TAGS if untagged else ""))
        return
    name_artist, name_title = title_from_name(path)
    recovery = (
        tags.recovery.lower() in _TRUE
        or any(_RECOVERY_TEXT.search(c) for c in tags.comments)
        or tags.rating >= 255
    )
    out.add(
        label,
        _track(
            title=tags.title or name_title,
            artist=tags.artist or name_artist or "Unknown artist",
            bpm=bpm,
            key=key,
            energy=_tag_energy(tags),
            genre=tags.genre,
            duration_s=length,
            recovery=recovery,
            source=os.path.abspath(path),
        ),
    )


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _load_folder(folder: Path) -> ImportResult:
    out = _Collector()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and _is_audio(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        out.error(
            folder.name or str(folder),
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in the folder",
        )
    for p in files:
        _load_audio(p, f"{folder.name}/{p.relative_to(folder).as_posix()}", out)
    return out.result


def _file_url_to_path(url: str) -> str:
    """file://localhost/Users/dj/a%20b.mp3 -> /Users/dj/a b.mp3 (also file:///C:/...)."""
    path = url2pathname(unquote(urlparse(url).path))
    if re.match(r"^/[A-Za-z]:[/\\]", path):  # a Windows drive: keep "C:/..."
        path = path[1:]
    return path


def _load_m3u(playlist: Path) -> ImportResult:
    out = _Collector()
    entries = 0
    for number, line in enumerate(_read_text(playlist).splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):  # #EXTM3U, #EXTINF and comments
            continue
        entries += 1
        label = f"{playlist.name} line {number} ({entry})"
        if entry.lower().startswith("file:"):
            target = Path(_file_url_to_path(entry))
        elif re.match(r"^[a-z][a-z0-9+.-]+://", entry, re.IGNORECASE):
            out.error(label, "not a local file")
            continue
        else:
            target = Path(entry)
        if not target.is_absolute():
            target = playlist.parent / target
        if not target.exists() and "\\" in entry:  # written on Windows
            target = playlist.parent / Path(entry.replace("\\", "/"))
        if not target.is_file():
            out.error(label, "file not found")
        elif not _is_audio(target):
            out.error(label, f"not a supported audio file ({', '.join(AUDIO_EXTENSIONS)})")
        else:
            _load_audio(target, label, out)
    if entries == 0:
        out.error(playlist.name, "the playlist lists no files")
    return out.result


# --- Rekordbox XML -----------------------------------------------------------


def _load_rekordbox(path: Path) -> ImportResult:
    out = _Collector()
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        out.error(path.name, f"not valid XML ({exc})")
        return out.result
    if root.tag != "DJ_PLAYLISTS":
        out.error(
            path.name,
            f"not a Rekordbox collection export (the root element is <{root.tag}>, "
            "expected <DJ_PLAYLISTS>)",
        )
        return out.result
    collection = root.find("COLLECTION")
    elements = collection.findall("TRACK") if collection is not None else []
    if not elements:
        out.error(path.name, "the COLLECTION has no TRACK elements")
    for number, el in enumerate(elements, start=1):
        a = el.attrib
        rb_id = a.get("TrackID", "").strip()
        title, artist = a.get("Name", "").strip(), a.get("Artist", "").strip()
        label = f"{path.name} track {rb_id or '#' + str(number)}"
        if title or artist:
            label += f" ({artist} - {title})"
        check = _Checker()
        check.require(title, "title (Name)")
        check.require(artist, "artist (Artist)")
        bpm = check.analysed(
            _bpm, a.get("AverageBpm", ""), "no BPM (analyse the track in Rekordbox)", _unset
        )
        key = check.analysed(_key, a.get("Tonality", ""), "no key (analyse the track in Rekordbox)")
        duration = check(_duration, a.get("TotalTime", ""))
        if check.problems or bpm is None or key is None or duration is None:
            out.error(label, "; ".join(check.problems))
            continue
        comments = a.get("Comments", "")
        rating = a.get("Rating", "0").strip()
        location = a.get("Location", "").strip()
        out.add(
            label,
            _track(
                title=title,
                artist=artist,
                bpm=bpm,
                key=key,
                energy=_energy_from_comments([comments]),
                genre=a.get("Genre", "").strip(),
                duration_s=duration,
                recovery=rating == "255" or bool(_RECOVERY_TEXT.search(comments)),
                source=_file_url_to_path(location)
                if location.lower().startswith("file:")
                else location or str(path),
                rekordbox_id=rb_id,
            ),
        )
    return out.result


def _unset(text: str) -> bool:
    """Rekordbox writes AverageBpm="0.00" for a track it has not analysed."""
    try:
        return _decimal(text) == 0
    except ValueError:
        return not text.strip()  # empty is unset; other text is for the parser to name


# --- entry points --------------------------------------------------------------


def load(path: str | Path) -> ImportResult:
    """Import a library: a folder of audio, an .m3u/.m3u8 playlist, a .csv or a Rekordbox .xml."""
    p = Path(path).expanduser()
    if p.is_dir():
        return _load_folder(p)
    if not p.exists():
        return ImportResult([], [f"{p}: no such file or folder"])
    suffix = p.suffix.lower()
    try:
        if suffix in (".m3u", ".m3u8"):
            return _load_m3u(p)
        if suffix == ".csv":
            return _load_csv(p)
        if suffix == ".xml":
            return _load_rekordbox(p)
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
    result = _parse_csv(text, "sample_library.csv", "sample_library.csv")
    if result.errors:  # the shipped file is tested; this only guards against a broken install
        raise RuntimeError("the sample library has errors: " + "; ".join(result.errors))
    return tuple(result.tracks)


def sample_library() -> list[Track]:
    """The shipped sample library: about 80 fictional tracks across six dance genres."""
    return list(_sample())
