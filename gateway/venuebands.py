"""The venue file's bands: ranges expanded, the fleet file and [[bands]] read, no band twice.

'B0001-B0400' becomes 400 ids with their zero padding; a spec that looks like
a range but is not one (a letter O for a zero) is an error with the likely
range.  A fleet file is CSV (band_id,zone[,transport]); [[bands]] tables name
one band each, optionally a reference.  gateway/venue.py puts the zones'
lists and these together (and re-exports `expand`); kept apart so it stays short.
"""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path
from typing import Any

from crowdpulse.gateway.venuefields import VenueConfigError, get_field
from crowdpulse.names import ID_RE

_RANGE = re.compile(r"^([A-Za-z._-]*)(\d+)-\1?(\d+)$")
# what someone writing a range writes: <prefix><digits>-<the prefix or a digit>...
_RANGE_LIKE = re.compile(r"^([A-Za-z._-]*)(\d+)-(.+)$")
_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})


def expand(spec: str, where: str) -> list[str]:
    """'B0001-B0400' -> B0001 ... B0400 (zero padding kept); a plain id -> [id].

    A spec that looks like a range must be one: 'B0001-B040O' (a letter O) is
    an error with the likely range, never one band with a strange id."""
    m = _RANGE.match(spec)
    if m:
        prefix, lo, hi = m.group(1), m.group(2), m.group(3)
        a, b = int(lo), int(hi)
        if b < a or b - a > 100_000:
            raise VenueConfigError(
                f"{where}: bad band range {spec!r} (the end must not be "
                "before the start, and at most 100,000 bands)"
            )
        if len(lo) != len(hi) and (lo.startswith("0") or hi.startswith("0")):
            raise VenueConfigError(
                f"{where}: band range {spec!r}: both ends need the same number of "
                f"digits ({prefix}{a:0{len(hi)}d}-{prefix}{hi}?)"
            )
        return [f"{prefix}{i:0{len(lo)}d}" for i in range(a, b + 1)]
    like = _RANGE_LIKE.match(spec)
    if like and (
        like.group(3)[:1].isdigit() or (like.group(1) and like.group(3).startswith(like.group(1)))
    ):
        fixed = f"{like.group(1)}{like.group(2)}-{like.group(3).translate(_LOOKALIKES)}"
        hint = f" (did you mean {fixed}?)" if fixed != spec and _RANGE.match(fixed) else ""
        raise VenueConfigError(
            f"{where}: {spec!r} is not a band range: both ends must be "
            f"{like.group(1) or ''}<digits>{hint}"
        )
    if not ID_RE.fullmatch(spec):
        raise VenueConfigError(f"{where}: {spec!r} is not a band id or range")
    return [spec]


def read_fleet(path: Path, zones: set[str]) -> list[tuple[str, str]]:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as exc:
        raise VenueConfigError(f"fleet_file {path}: {exc.strerror}") from None
    out = []
    for n, row in enumerate(rows, 1):
        if not row or row[0].strip().lower() in ("band_id", "") or row[0].startswith("#"):
            continue
        if len(row) < 2 or not ID_RE.fullmatch(row[0].strip()):
            raise VenueConfigError(f"fleet_file {path}, row {n}: need band_id,zone[,transport]")
        zone = row[1].strip()
        if zone not in zones:
            close = difflib.get_close_matches(zone, sorted(zones), n=1)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else f"the zones are {', '.join(sorted(zones))}"
            )
            raise VenueConfigError(
                f"fleet_file {path}, row {n}: no zone {zone!r} in the venue file; {hint}"
            )
        out.append((row[0].strip(), zone))
    return out


def single_bands(raw: Any, zones: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """[[bands]]: one band each (id, zone, optional reference = true)."""
    if not isinstance(raw, list):
        raise VenueConfigError("[[bands]] must be an array of tables")
    bands, refs = [], []
    for i, b in enumerate(raw):
        where = f"bands[{i}]"
        if not isinstance(b, dict):
            raise VenueConfigError(f"{where} must be a table")
        band, zone = get_field(b, "id", str, "", where), get_field(b, "zone", str, "", where)
        if not ID_RE.fullmatch(band) or zone not in zones:
            raise VenueConfigError(f"{where} needs id (a band id) and zone (a known zone)")
        bands.append((band, zone))
        if get_field(b, "reference", bool, False, where):
            refs.append(band)
    return bands, refs


def check_twice(bands: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for b, zone in bands:
        if b in seen:
            where = f"zones {seen[b]} and {zone}" if seen[b] != zone else f"zone {zone}"
            raise VenueConfigError(
                f"band {b} is listed twice ({where}); each band belongs to one zone"
            )
        seen[b] = zone
