"""Reading a library from Rekordbox: its collection exported as XML.

Rekordbox's attributes, its unanalysed markers and its TrackIDs are its own,
so its reader is apart from the other formats (docs/library.md, "Rekordbox XML").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from crowdpulse.selector.library_fields import (
    RECOVERY_TEXT,
    Checker,
    Collector,
    camelot_key,
    energy_from_comments,
    file_url_to_path,
    make_track,
    parse_bpm,
    parse_decimal,
    parse_duration,
)
from crowdpulse.selector.track import ImportResult


def load_rekordbox(path: Path) -> ImportResult:
    out = Collector()
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
        check = Checker()
        check.require(title, "title (Name)")
        check.require(artist, "artist (Artist)")
        bpm = check.analysed(
            parse_bpm, a.get("AverageBpm", ""), "no BPM (analyse the track in Rekordbox)", _unset
        )
        key = check.analysed(
            camelot_key, a.get("Tonality", ""), "no key (analyse the track in Rekordbox)"
        )
        duration = check(parse_duration, a.get("TotalTime", ""))
        if check.problems or bpm is None or key is None or duration is None:
            out.error(label, "; ".join(check.problems))
            continue
        comments = a.get("Comments", "")
        rating = a.get("Rating", "0").strip()
        location = a.get("Location", "").strip()
        out.add(
            label,
            make_track(
                title=title,
                artist=artist,
                bpm=bpm,
                key=key,
                energy=energy_from_comments([comments]),
                genre=a.get("Genre", "").strip(),
                duration_s=duration,
                recovery=rating == "255" or bool(RECOVERY_TEXT.search(comments)),
                source=file_url_to_path(location)
                if location.lower().startswith("file:")
                else location or str(path),
                rekordbox_id=rb_id,
            ),
        )
    return out.result


def _unset(text: str) -> bool:
    """Rekordbox writes AverageBpm="0.00" for a track it has not analysed."""
    try:
        return parse_decimal(text) == 0
    except ValueError:
        return not text.strip()  # empty is unset; other text is for the parser to name
