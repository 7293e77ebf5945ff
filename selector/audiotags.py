"""What the tags of one audio file say, whatever the tag format.

ID3 (MP3, and WAV / AIFF with an ID3 chunk), Vorbis comments (FLAC, Ogg
Vorbis / Opus) and MP4 atoms (M4A / MP4) all end up in one ``Tags``, as text:
``selector.library_audio`` parses and checks the values, so its error lines can say
what a tag held. Which tags are read is in docs/library.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mutagen._vorbis import VComment
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

__all__ = ["Tags", "key_from_comments", "read_tags", "title_from_name"]


@dataclass
class Tags:
    """What the tags of one file say, whatever the tag format."""

    title: str = ""
    artist: str = ""
    bpm: str = ""
    key: str = ""
    genre: str = ""
    energy: str = ""
    recovery: str = ""
    comments: list[str] = field(default_factory=list)
    rating: int = 0  # ID3 POPM, 0..255

    def put(self, name: str, value: str) -> None:
        """Store a value under a custom tag name (TXXX, Vorbis, MP4 free-form)."""
        slot = _CUSTOM.get(re.sub(r"[\s_-]", "", name.lower()))
        if slot == "comments":
            self.comments.append(value)
        elif slot is not None and not getattr(self, slot) and value.strip():
            setattr(self, slot, value.strip())


_CUSTOM = {
    "title": "title",
    "artist": "artist",
    "bpm": "bpm",
    "tempo": "bpm",
    "initialkey": "key",
    "key": "key",
    "genre": "genre",
    "energy": "energy",
    "energylevel": "energy",
    "recovery": "recovery",
    "comment": "comments",
    "description": "comments",
}
_ID3_TEXT = {"TIT2": "title", "TPE1": "artist", "TBPM": "bpm", "TKEY": "key"}
_MP4_TEXT = {"\xa9nam": "title", "\xa9ART": "artist", "\xa9gen": "genre", "\xa9cmt": "comment"}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _read_id3(tags: ID3, out: Tags) -> None:
    for frame_id, slot in _ID3_TEXT.items():
        for frame in tags.getall(frame_id):
            out.put(slot, _text(frame.text[0]) if frame.text else "")
    for frame in tags.getall("TCON"):
        if frame.genres and not out.genre:
            out.genre = _text(frame.genres[0])
    for frame in tags.getall("COMM"):
        if not _text(frame.desc).startswith("iTun"):  # iTunNORM, iTunSMPB: iTunes' numbers
            out.comments.extend(_text(t) for t in frame.text)
    for frame in tags.getall("TXXX"):
        out.put(_text(frame.desc), _text(frame.text[0]) if frame.text else "")
    for frame in tags.getall("POPM"):
        out.rating = max(out.rating, int(frame.rating))


def _read_mp4(tags: MP4Tags, out: Tags) -> None:
    for atom, values in tags.items():
        name = _text(atom)
        for value in values if isinstance(values, list) else [values]:
            if name in _MP4_TEXT:
                out.put(_MP4_TEXT[name], _text(value))
            elif name == "tmpo":
                out.put("bpm", _text(value))
            elif name.startswith("----:"):  # free-form "----:com.apple.iTunes:initialkey"
                out.put(name.rsplit(":", 1)[-1], _text(value))


def read_tags(tags: Any) -> Tags:
    """The tags of a mutagen file (its ``.tags``, None for an untagged file)."""
    out = Tags()
    if isinstance(tags, ID3):  # MP3, and WAV / AIFF with an ID3 chunk
        _read_id3(tags, out)
    elif isinstance(tags, VComment):  # FLAC, Ogg Vorbis / Opus
        for name, value in tags:
            out.put(_text(name), _text(value))
    elif isinstance(tags, MP4Tags):  # M4A / MP4
        _read_mp4(tags, out)
    return out


_COMMENT_KEY = re.compile(
    r"^\s*(0?[1-9]|1[0-2])([AB])\b", re.IGNORECASE
)  # Mixed In Key: "8A - Energy 7"


def key_from_comments(comments: Iterable[str]) -> str:
    """The key Mixed In Key writes at the start of a comment ("8A - Energy 7"), else ""."""
    for comment in comments:
        m = _COMMENT_KEY.match(comment)
        if m:
            return m.group(1) + m.group(2)
    return ""


def title_from_name(path: Path) -> tuple[str, str]:
    """("Artist", "Title") from "Artist - Title.mp3", for files without those tags."""
    artist, sep, title = path.stem.partition(" - ")
    return (
        (artist.strip(), title.strip())
        if sep and artist.strip() and title.strip()
        else ("", path.stem)
    )
