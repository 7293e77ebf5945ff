"""Reading a library from audio files: a folder of them, or an .m3u/.m3u8 playlist.

Both end in the same thing, one tagged audio file read with mutagen and turned
into a Track (docs/library.md, "Folders and playlists of audio files").
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import mutagen

from crowdpulse.selector.audiotags import Tags, key_from_comments, read_tags, title_from_name
from crowdpulse.selector.library_fields import (
    RECOVERY_TEXT,
    TRUE_TEXT,
    Checker,
    Collector,
    camelot_key,
    energy_from_comments,
    energy_value,
    file_url_to_path,
    make_track,
    parse_bpm,
    read_text,
)
from crowdpulse.selector.track import ImportResult

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


def _open_audio(path: Path, label: str, out: Collector) -> tuple[Tags, float] | None:
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
    energy = energy_value(tags.energy) if tags.energy else None
    return energy if energy is not None else energy_from_comments(tags.comments)


def _load_audio(path: Path, label: str, out: Collector) -> None:
    opened = _open_audio(path, label, out)
    if opened is None:
        return
    tags, length = opened
    check = Checker()
    bpm = check.analysed(parse_bpm, tags.bpm, "no BPM tag")
    key = check.analysed(camelot_key, tags.key or key_from_comments(tags.comments), "no key tag")
    if not length > 0:
        check.problems.append("no audio length")
    if check.problems or bpm is None or key is None:
        untagged = "no BPM tag" in check.problems or "no key tag" in check.problems
        out.error(label, "; ".join(check.problems) + (_ANALYSE_TAGS if untagged else ""))
        return
    name_artist, name_title = title_from_name(path)
    recovery = (
        tags.recovery.lower() in TRUE_TEXT
        or any(RECOVERY_TEXT.search(c) for c in tags.comments)
        or tags.rating >= 255
    )
    out.add(
        label,
        make_track(
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


def load_folder(folder: Path) -> ImportResult:
    out = Collector()
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


def load_m3u(playlist: Path) -> ImportResult:
    out = Collector()
    entries = 0
    for number, line in enumerate(read_text(playlist).splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):  # #EXTM3U, #EXTINF and comments
            continue
        entries += 1
        label = f"{playlist.name} line {number} ({entry})"
        if entry.lower().startswith("file:"):
            target = Path(file_url_to_path(entry))
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
