"""The venue's configuration file (TOML): zones, bands, keys, thresholds, retention.

    venue = "club-x"
    [keys]
    venue_key_file = "venue.key"        # or venue_key_env = "CROWDPULSE_VENUE_KEY"
    [[zones]]
    name = "floor"
    weight = 1.0
    bands = ["B0001-B0400"]             # ids or ranges; or a fleet file (below)
    fleet_file = "fleet.csv"            # band_id,zone[,transport]  (optional)
    [[bands]]                           # one band on its own (optional), e.g. the
    id = "REF"                          # music reference at the booth: it hears the
    zone = "floor"                      # programme alone (docs/deploy.md)
    reference = true
    [sentiment]   k_anonymity, age_out_s, tick_hz, recovery_threshold
    [storage]     path, retention_hours
    [http]        host, port
    [console]     token_file | token, view_requires_token
    [home_assistant] discovery, prefix

Every problem is one line naming the key; the venue key itself never appears
in a message or a log.
"""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdpulse.keys import ENV_VAR, VenueKeyError, load_venue_key, parse_key

_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
_BAND = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_RANGE = re.compile(r"^([A-Za-z._-]*)(\d+)-\1?(\d+)$")


class VenueConfigError(ValueError):
    """One line: what is wrong and where."""


@dataclass(frozen=True)
class Zone:
    name: str
    weight: float


@dataclass
class VenueConfig:
    venue: str
    zones: list[Zone]
    bands: list[tuple[str, str]]
    venue_key: bytes = field(repr=False)
    references: list[str] = field(default_factory=list)  # bands that hear the music reference
    k_anonymity: int = 5
    age_out_s: float = 10.0
    tick_hz: float = 10.0
    recovery_threshold: float = 40.0
    db_path: str = "crowdpulse-gateway.db"
    retention_hours: float = 24.0
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    console_token: str | None = field(default=None, repr=False)
    view_requires_token: bool = False
    ha_discovery: bool = False
    ha_prefix: str = "homeassistant"
    library: str | None = None  # None: the sample library
    selector_mode: str = "assist"
    threshold: float = 40.0
    dwell_s: float = 20.0
    cooldown_s: float = 300.0
    artist_separation_min: float = 60.0
    bpm_window: float = 0.06
    mixxx_db: str | None = None
    event_window: tuple[int, int] | None = None  # unix ms


def expand(spec: str, where: str) -> list[str]:
    """'B0001-B0400' -> B0001 ... B0400 (zero padding kept); a plain id -> [id]."""
    m = _RANGE.match(spec)
    if m:
        prefix, lo, hi = m.group(1), m.group(2), m.group(3)
        a, b = int(lo), int(hi)
        if b < a or b - a > 100_000:
            raise VenueConfigError(f"{where}: bad band range {spec!r}")
        return [f"{prefix}{i:0{len(lo)}d}" for i in range(a, b + 1)]
    if not _BAND.match(spec):
        raise VenueConfigError(f"{where}: {spec!r} is not a band id or range")
    return [spec]


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    v = table.get(key, default)
    if isinstance(v, bool) and kind is not bool:
        raise VenueConfigError(f"{where}.{key} must be {getattr(kind, '__name__', kind)}")
    if not isinstance(v, kind):
        raise VenueConfigError(f"{where}.{key} must be {getattr(kind, '__name__', 'a number')}")
    return v


def _key(raw: dict[str, Any], base: Path) -> bytes:
    keys = raw.get("keys", {})
    if not isinstance(keys, dict):
        raise VenueConfigError("[keys] must be a table")
    if "venue_key" in keys:
        raise VenueConfigError("[keys] must name a file or an environment variable, not hold the key")
    try:
        if "venue_key_file" in keys:
            return load_venue_key(base / str(keys["venue_key_file"]))
        env = str(keys.get("venue_key_env", ENV_VAR))
        import os

        if env not in os.environ:
            raise VenueConfigError(f"no venue key: set keys.venue_key_file or ${env}")
        return parse_key(os.environ[env], f"${env}")
    except VenueKeyError as exc:
        raise VenueConfigError(str(exc)) from None


def _fleet(path: Path, zones: set[str]) -> list[tuple[str, str]]:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as exc:
        raise VenueConfigError(f"fleet_file {path}: {exc.strerror}") from None
    out = []
    for n, row in enumerate(rows, 1):
        if not row or row[0].strip().lower() in ("band_id", "") or row[0].startswith("#"):
            continue
        if len(row) < 2 or not _BAND.match(row[0].strip()) or row[1].strip() not in zones:
            raise VenueConfigError(f"fleet_file {path}, row {n}: need band_id,zone with a known zone")
        out.append((row[0].strip(), row[1].strip()))
    return out


def _zones(raw: dict[str, Any]) -> tuple[list[Zone], list[tuple[str, str]]]:
    zones_raw = raw.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise VenueConfigError("at least one [[zones]] table is needed")
    zones, bands = [], []
    for i, z in enumerate(zones_raw):
        where = f"zones[{i}]"
        name = _get(z, "name", str, None, where) if isinstance(z, dict) else None
        if name is None or not _NAME.match(name):
            raise VenueConfigError(f"{where}.name must be 1-32 of a-z 0-9 _ -")
        weight = float(_get(z, "weight", (int, float), 1.0, where))
        if not 0 < weight <= 100:
            raise VenueConfigError(f"{where}.weight must be > 0")
        zones.append(Zone(name, weight))
        for spec in _get(z, "bands", list, [], where):
            bands += [(b, name) for b in expand(str(spec), where)]
    if len({z.name for z in zones}) != len(zones):
        raise VenueConfigError("two zones share a name")
    return zones, bands


def _single_bands(raw: Any, zones: set[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """[[bands]]: one band each (id, zone, optional reference = true)."""
    if not isinstance(raw, list):
        raise VenueConfigError("[[bands]] must be an array of tables")
    bands, refs = [], []
    for i, b in enumerate(raw):
        where = f"bands[{i}]"
        if not isinstance(b, dict):
            raise VenueConfigError(f"{where} must be a table")
        band, zone = _get(b, "id", str, "", where), _get(b, "zone", str, "", where)
        if not _BAND.match(band) or zone not in zones:
            raise VenueConfigError(f"{where} needs id (a band id) and zone (a known zone)")
        bands.append((band, zone))
        if _get(b, "reference", bool, False, where):
            refs.append(band)
    return bands, refs


def parse(raw: dict[str, Any], base: Path) -> VenueConfig:
    venue = raw.get("venue")
    if not isinstance(venue, str) or not _NAME.match(venue):
        raise VenueConfigError("venue must be 1-32 of a-z 0-9 _ -")
    zones, bands = _zones(raw)
    if "fleet_file" in raw:
        bands += _fleet(base / str(raw["fleet_file"]), {z.name for z in zones})
    single, references = _single_bands(raw.get("bands", []), {z.name for z in zones})
    bands += single
    if not bands:
        raise VenueConfigError("no bands: list them in zones[].bands or a fleet_file")
    if len({b for b, _ in bands}) != len(bands):
        raise VenueConfigError("a band id is listed twice")
    s, st = raw.get("sentiment", {}), raw.get("storage", {})
    h, c, ha = raw.get("http", {}), raw.get("console", {}), raw.get("home_assistant", {})
    cfg = VenueConfig(
        venue=venue, zones=zones, bands=bands, venue_key=_key(raw, base), references=references,
        k_anonymity=int(_get(s, "k_anonymity", int, 5, "sentiment")),
        age_out_s=float(_get(s, "age_out_s", (int, float), 10.0, "sentiment")),
        tick_hz=float(_get(s, "tick_hz", (int, float), 10.0, "sentiment")),
        recovery_threshold=float(_get(s, "recovery_threshold", (int, float), 40.0, "sentiment")),
        db_path=str(base / _get(st, "path", str, "crowdpulse-gateway.db", "storage")),
        retention_hours=float(_get(st, "retention_hours", (int, float), 24.0, "storage")),
        http_host=_get(h, "host", str, "127.0.0.1", "http"),
        http_port=int(_get(h, "port", int, 8080, "http")),
        view_requires_token=bool(_get(c, "view_requires_token", bool, False, "console")),
        ha_discovery=bool(_get(ha, "discovery", bool, False, "home_assistant")),
        ha_prefix=_get(ha, "prefix", str, "homeassistant", "home_assistant"),
    )
    _selector(cfg, raw.get("selector", {}), raw.get("event", {}), base)
    if "token_file" in c:
        try:
            cfg.console_token = (base / str(c["token_file"])).read_text().strip() or None
        except OSError as exc:
            raise VenueConfigError(f"console.token_file: {exc.strerror}") from None
    elif "token" in c:
        cfg.console_token = str(_get(c, "token", str, "", "console")) or None
    checks = [(1 <= cfg.k_anonymity <= 1000, "sentiment.k_anonymity must be 1-1000"),
              (1.0 <= cfg.tick_hz <= 50.0, "sentiment.tick_hz must be 1-50"),
              (1.0 <= cfg.age_out_s <= 600.0, "sentiment.age_out_s must be 1-600"),
              (0.0 < cfg.retention_hours <= 24 * 365, "storage.retention_hours must be > 0"),
              (1 <= cfg.http_port <= 65535, "http.port must be 1-65535")]
    for ok, msg in checks:
        if not ok:
            raise VenueConfigError(msg)
    return cfg


def _when(v: Any, where: str) -> int:
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


def _selector(cfg: VenueConfig, s: dict[str, Any], e: dict[str, Any], base: Path) -> None:
    if "library" in s:
        cfg.library = str(base / str(_get(s, "library", str, "", "selector")))
    if "mixxx_db" in s:
        cfg.mixxx_db = str(Path(str(_get(s, "mixxx_db", str, "", "selector"))).expanduser())
    cfg.selector_mode = _get(s, "mode", str, "assist", "selector")
    if cfg.selector_mode not in ("auto", "assist", "manual"):
        raise VenueConfigError("selector.mode must be auto, assist or manual")
    cfg.threshold = float(_get(s, "recovery_threshold", (int, float), cfg.recovery_threshold, "selector"))
    cfg.dwell_s = float(_get(s, "dwell_s", (int, float), 20.0, "selector"))
    cfg.cooldown_s = float(_get(s, "cooldown_s", (int, float), 300.0, "selector"))
    cfg.artist_separation_min = float(_get(s, "artist_separation_min", (int, float), 60.0, "selector"))
    cfg.bpm_window = float(_get(s, "bpm_window_percent", (int, float), 6.0, "selector")) / 100.0
    if not (0 < cfg.threshold < 100 and cfg.dwell_s >= 0 and cfg.cooldown_s >= 0 and 0 < cfg.bpm_window < 0.5):
        raise VenueConfigError("selector: recovery_threshold 0-100, dwell_s and cooldown_s >= 0, "
                               "bpm_window_percent 0-50")
    if "window" in e:
        w = e["window"]
        if not isinstance(w, list) or len(w) != 2:
            raise VenueConfigError("event.window must be [start, end]")
        start, end = _when(w[0], "event.window[0]"), _when(w[1], "event.window[1]")
        if end <= start:
            raise VenueConfigError("event.window must end after it starts")
        cfg.event_window = (start, end)


def load(path: str | Path) -> VenueConfig:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as exc:
        raise VenueConfigError(f"{p}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VenueConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse(raw, p.resolve().parent)
