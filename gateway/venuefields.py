"""The venue file's typed reads, and the one error every venue-file problem raises.

`get_field` reads a key of a table as the type it must be (a bool is never a
number), `parse_when` a time, `parse_address` a "host:port"; each problem is a
VenueConfigError, one line naming the key.  gateway/venue.py reads every
table with these (and re-exports VenueConfigError); gateway/venuebands.py
reads the band lists with them.  Kept apart so venue.py stays short.
"""

from __future__ import annotations

from typing import Any


class VenueConfigError(ValueError):
    """One line: what is wrong and where."""


def get_field(
    table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str
) -> Any:
    v = table.get(key, default)
    if isinstance(v, bool) and kind is not bool:
        raise VenueConfigError(f"{where}.{key} must be {getattr(kind, '__name__', kind)}")
    if not isinstance(v, kind):
        raise VenueConfigError(f"{where}.{key} must be {getattr(kind, '__name__', 'a number')}")
    return v


def parse_when(v: Any, where: str) -> int:
    """UTC unix seconds, or an ISO 8601 time with a zone ("2026-11-24T22:00:00Z"), to ms."""
    import datetime as dt

    if isinstance(v, int) and not isinstance(v, bool):
        return v * 1000
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return int(v.timestamp() * 1000)
    if isinstance(v, str):
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise VenueConfigError(f"{where} is not an ISO 8601 time") from None
        if t.tzinfo is not None:
            return int(t.timestamp() * 1000)
    raise VenueConfigError(f"{where} must be unix seconds or an ISO time with a zone")


def parse_address(v: Any, where: str) -> tuple[str, int]:
    """ "host:port" (or "[v6]:port") -> (host, port)."""
    host, sep, port = v.rpartition(":") if isinstance(v, str) else ("", "", "")
    if not sep or not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise VenueConfigError(f'{where} must be "host:port", not {v!r}')
    return host.strip("[]"), int(port)
