"""Reading a library from a spreadsheet: a CSV file, as Excel and the DJ tools write it.

The column names, the delimiter, the energy scale and the per-row error lines
are CSV matters, kept apart from the other formats (docs/library.md, "CSV").
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable
from pathlib import Path

from crowdpulse.selector.library_fields import (
    BadFieldError,
    Checker,
    Collector,
    camelot_key,
    make_track,
    parse_bpm,
    parse_decimal,
    parse_duration,
    parse_number,
    parse_recovery,
    read_text,
)
from crowdpulse.selector.track import ImportResult

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
                value = parse_decimal(self.cell(row, "energy"))
            except ValueError:
                continue
            if 1 < value <= 10:
                return True
        return False


def _energy(ten_scale: bool, text: str) -> float:
    value = parse_number("energy", text)
    if ten_scale:
        if not 1 <= value <= 10:
            raise BadFieldError(
                f"energy {text.strip()!r} is outside 1-10 (this file's energy column is 1-10)"
            )
        return value / 10
    if not 0 <= value <= 1:
        raise BadFieldError(f"energy {text.strip()!r} is outside 0-1 and 1-10")
    return value


def _csv_row(
    sheet: _Sheet,
    row: list[str],
    energy: Callable[[str], float],
    label: str,
    source: str,
    out: Collector,
) -> None:
    """One data row: its track, or one error line naming every problem it has."""
    check = Checker()
    title = check.require(sheet.cell(row, "title"), "title")
    artist = check.require(sheet.cell(row, "artist"), "artist")
    bpm = check(parse_bpm, sheet.cell(row, "bpm"))
    key = check(camelot_key, sheet.cell(row, "key"))
    duration = check(parse_duration, sheet.cell(row, "duration"))
    energy_text = sheet.cell(row, "energy")
    level = check(energy, energy_text) if energy_text.strip() else None
    recovery = check(parse_recovery, sheet.cell(row, "recovery"))
    genre = sheet.cell(row, "genre").strip()
    if check.problems or bpm is None or key is None or duration is None or recovery is None:
        out.error(label, "; ".join(check.problems))
        return
    out.add(
        label,
        make_track(
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


def parse_csv(text: str, name: str, source: str) -> ImportResult:
    out = Collector()
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


def load_csv(path: Path) -> ImportResult:
    return parse_csv(read_text(path), path.name, str(path))
