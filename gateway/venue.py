"""The venue's configuration file (TOML): zones, bands, keys, thresholds, retention.

    venue = "club-x"
    [keys]
    venue_key_file = "venue.key"        # or venue_key_env = "CROWDPULSE_VENUE_KEY"
    [[zones]]
    name = "floor"
    weight = 1.0
    bands = ["B0001-B0400"]             # ids or ranges; or a fleet file (below)
    [[zones]]                           # optional: the music reference (docs/deploy.md)
    name = "booth"
    reference = true                    # its bands hear the programme, not the crowd
    bands = ["REF01"]
    [reference] line_in = "hw:1,0"      # or the gateway host's own line-in (ALSA device)
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
    [player]      mpd = "host:port" | deck = true, note     (docs/selector.md)
    [osc]         targets = ["host:port", ...]                (docs/osc.md)

Every problem is one line naming the key; the venue key itself never appears
in a message or a log.  The file is strict (gateway/strictconf.py): a key or
table this parser does not read is an error with a "did you mean", and a band
spec that looks like a range must be one.  A `token_file` that does not exist
yet is not an error: `crowdpulse gateway` creates it, `crowdpulse doctor`
offers to.  The band lists are read by gateway/venuebands.py, each key's type
and the error by gateway/venuefields.py; this module puts the file together.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdpulse.gateway import strictconf
from crowdpulse.gateway.venuebands import check_twice, read_fleet, single_bands
from crowdpulse.gateway.venuebands import expand as expand
from crowdpulse.gateway.venuefields import VenueConfigError as VenueConfigError
from crowdpulse.gateway.venuefields import get_field, parse_address, parse_when
from crowdpulse.keys import ENV_VAR, VenueKeyError, load_venue_key, parse_key
from crowdpulse.names import NAME_RE

LINE_IN_ID = "line-in"  # the band id the gateway host's line-in reports as


@dataclass(frozen=True)
class Zone:
    name: str
    weight: float
    reference: bool = False  # its bands hear the programme itself: no crowd, no score


@dataclass
class VenueConfig:
    venue: str
    zones: list[Zone]
    bands: list[tuple[str, str]]
    venue_key: bytes = field(repr=False)
    band_references: list[str] = field(default_factory=list)  # [[bands]] reference = true
    k_anonymity: int = 5
    age_out_s: float = 10.0
    tick_hz: float = 10.0
    recovery_threshold: float = 40.0
    db_path: str = "crowdpulse-gateway.db"
    retention_hours: float = 24.0
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    console_token: str | None = field(default=None, repr=False)
    console_token_file: str | None = None  # the full path; the file may not exist yet
    key_path: str | None = None  # the venue key file's full path, when the key comes from a file
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
    line_in: str | None = None  # the gateway host's line-in as a music reference

    player_mpd: tuple[str, int] | None = None  # [player] mpd
    player_deck: bool = False  # [player] deck: a simulated deck (the demo without MPD)
    player_note: str = ""  # [player] note: a line the console shows (the demo's short tracks)
    osc_targets: list[tuple[str, int]] = field(default_factory=list)

    @property
    def references(self) -> list[str]:
        """Bands that hear the programme itself: a reference zone's, and [[bands]]
        reference = true."""
        ref = {z.name for z in self.zones if z.reference}
        return [b for b, zone in self.bands if zone in ref or b in self.band_references]

    @property
    def crowd_zones(self) -> list[Zone]:
        return [z for z in self.zones if not z.reference]


def _key(raw: dict[str, Any], base: Path) -> tuple[bytes, str | None]:
    """(the venue key, the full path of its file or None)."""
    keys = raw.get("keys", {})
    if not isinstance(keys, dict):
        raise VenueConfigError("[keys] must be a table")
    if "venue_key" in keys:
        raise VenueConfigError(
            "[keys] must name a file or an environment variable, not hold the key"
        )
    file, env = keys.get("venue_key_file"), keys.get("venue_key_env")
    if file is not None and env is not None:
        raise VenueConfigError("[keys]: venue_key_file or venue_key_env, not both")
    try:
        if file is not None:
            path = (base / str(file)).resolve()
            if not path.exists():
                raise VenueConfigError(
                    f"keys.venue_key_file: {path} does not exist; make the venue key "
                    f"with `crowdpulse packet keygen {path}` (then provision every band "
                    "with it), or copy the venue's key there"
                )
            return load_venue_key(path), str(path)
        name = str(env or ENV_VAR)
        if name not in os.environ:
            raise VenueConfigError(f"no venue key: set keys.venue_key_file or ${name}")
        return parse_key(os.environ[name], f"${name}"), None
    except VenueKeyError as exc:
        raise VenueConfigError(str(exc)) from None


def _zones(raw: dict[str, Any]) -> tuple[list[Zone], list[tuple[str, str]]]:
    zones_raw = raw.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise VenueConfigError("at least one [[zones]] table is needed")
    zones, bands = [], []
    for i, z in enumerate(zones_raw):
        where = f"zones[{i}]"
        name = get_field(z, "name", str, None, where) if isinstance(z, dict) else None
        if name is None or not NAME_RE.fullmatch(name):
            raise VenueConfigError(f"{where}.name must be 1-32 of a-z 0-9 _ -")
        weight = float(get_field(z, "weight", (int, float), 1.0, where))
        if not 0 < weight <= 100:
            raise VenueConfigError(f"{where}.weight must be > 0")
        zones.append(Zone(name, weight, bool(get_field(z, "reference", bool, False, where))))
        for spec in get_field(z, "bands", list, [], where):
            bands += [(b, name) for b in expand(str(spec), where)]
    if len({z.name for z in zones}) != len(zones):
        raise VenueConfigError("two zones share a name")
    if all(z.reference for z in zones):
        raise VenueConfigError("every zone is a reference zone: at least one must hold the crowd")
    return zones, bands


def parse(raw: dict[str, Any], base: Path) -> VenueConfig:
    """The venue file's contents (a TOML document) checked strictly: see the module docstring."""
    table = strictconf.track(raw)
    try:
        cfg = _parse(table, base)
    except VenueConfigError:
        typo = strictconf.unknown(table, typos_only=True)  # the likely cause of what went wrong
        if typo:
            raise VenueConfigError(typo) from None
        raise
    problem = strictconf.unknown(table)
    if problem:
        raise VenueConfigError(problem)
    return cfg


def _parse(raw: dict[str, Any], base: Path) -> VenueConfig:
    venue = raw.get("venue")
    if not isinstance(venue, str) or not NAME_RE.fullmatch(venue):
        raise VenueConfigError("venue must be 1-32 of a-z 0-9 _ -")
    zones, bands = _zones(raw)
    if "fleet_file" in raw:
        bands += read_fleet(base / str(raw["fleet_file"]), {z.name for z in zones})
    single, references = single_bands(raw.get("bands", []), {z.name for z in zones})
    bands += single
    if not bands:
        raise VenueConfigError("no bands: list them in zones[].bands or a fleet_file")
    check_twice(bands)
    s, st = raw.get("sentiment", {}), raw.get("storage", {})
    h, c, ha = raw.get("http", {}), raw.get("console", {}), raw.get("home_assistant", {})
    venue_key, key_file = _key(raw, base)
    cfg = VenueConfig(
        venue=venue,
        zones=zones,
        bands=bands,
        venue_key=venue_key,
        key_path=key_file,
        band_references=references,
        k_anonymity=int(get_field(s, "k_anonymity", int, 5, "sentiment")),
        age_out_s=float(get_field(s, "age_out_s", (int, float), 10.0, "sentiment")),
        tick_hz=float(get_field(s, "tick_hz", (int, float), 10.0, "sentiment")),
        recovery_threshold=float(
            get_field(s, "recovery_threshold", (int, float), 40.0, "sentiment")
        ),
        db_path=str(base / get_field(st, "path", str, "crowdpulse-gateway.db", "storage")),
        retention_hours=float(get_field(st, "retention_hours", (int, float), 24.0, "storage")),
        http_host=get_field(h, "host", str, "127.0.0.1", "http"),
        http_port=int(get_field(h, "port", int, 8080, "http")),
        view_requires_token=bool(get_field(c, "view_requires_token", bool, False, "console")),
        ha_discovery=bool(get_field(ha, "discovery", bool, False, "home_assistant")),
        ha_prefix=get_field(ha, "prefix", str, "homeassistant", "home_assistant"),
    )
    _selector(cfg, raw.get("selector", {}), raw.get("event", {}), base)
    _reference(cfg, raw.get("reference", {}))
    _player_osc(cfg, raw.get("player", {}), raw.get("osc", {}))
    _token(cfg, c, base)
    checks = [
        (1 <= cfg.k_anonymity <= 1000, "sentiment.k_anonymity must be 1-1000"),
        (1.0 <= cfg.tick_hz <= 50.0, "sentiment.tick_hz must be 1-50"),
        (1.0 <= cfg.age_out_s <= 600.0, "sentiment.age_out_s must be 1-600"),
        (0.0 < cfg.retention_hours <= 24 * 365, "storage.retention_hours must be > 0"),
        (1 <= cfg.http_port <= 65535, "http.port must be 1-65535"),
    ]
    for ok, msg in checks:
        if not ok:
            raise VenueConfigError(msg)
    return cfg


def _token(cfg: VenueConfig, c: dict[str, Any], base: Path) -> None:
    file, token = c.get("token_file"), c.get("token")
    if file is not None and token is not None:
        raise VenueConfigError("[console]: token_file or token, not both")
    if token is not None:
        cfg.console_token = str(get_field(c, "token", str, "", "console")) or None
    if file is None:
        return
    path = (base / str(get_field(c, "token_file", str, "", "console"))).resolve()
    cfg.console_token_file = str(path)
    try:
        cfg.console_token = path.read_text().strip() or None
    except FileNotFoundError:
        cfg.console_token = None  # made at start (gateway/tokenfile.py)
    except OSError as exc:
        raise VenueConfigError(f"console.token_file {path}: {exc.strerror}") from None
    if path.exists() and cfg.console_token is None:
        raise VenueConfigError(
            f"console.token_file {path} is empty: delete it (a new token is made) "
            "or put a token in it"
        )


def _selector(cfg: VenueConfig, s: dict[str, Any], e: dict[str, Any], base: Path) -> None:
    if "library" in s:
        cfg.library = str(base / str(get_field(s, "library", str, "", "selector")))
    if "mixxx_db" in s:
        cfg.mixxx_db = str(Path(str(get_field(s, "mixxx_db", str, "", "selector"))).expanduser())
    cfg.selector_mode = get_field(s, "mode", str, "assist", "selector")
    if cfg.selector_mode not in ("auto", "assist", "manual"):
        raise VenueConfigError("selector.mode must be auto, assist or manual")
    cfg.threshold = float(
        get_field(s, "recovery_threshold", (int, float), cfg.recovery_threshold, "selector")
    )
    cfg.dwell_s = float(get_field(s, "dwell_s", (int, float), 20.0, "selector"))
    cfg.cooldown_s = float(get_field(s, "cooldown_s", (int, float), 300.0, "selector"))
    cfg.artist_separation_min = float(
        get_field(s, "artist_separation_min", (int, float), 60.0, "selector")
    )
    cfg.bpm_window = (
        float(get_field(s, "bpm_window_percent", (int, float), 6.0, "selector")) / 100.0
    )
    if not (
        0 < cfg.threshold < 100
        and cfg.dwell_s >= 0
        and cfg.cooldown_s >= 0
        and 0 < cfg.bpm_window < 0.5
    ):
        raise VenueConfigError(
            "selector: recovery_threshold 0-100, dwell_s and cooldown_s >= 0, "
            "bpm_window_percent 0-50"
        )
    if "window" in e:
        w = e["window"]
        if not isinstance(w, list) or len(w) != 2:
            raise VenueConfigError("event.window must be [start, end]")
        start, end = parse_when(w[0], "event.window[0]"), parse_when(w[1], "event.window[1]")
        if end <= start:
            raise VenueConfigError("event.window must end after it starts")
        cfg.event_window = (start, end)


def _reference(cfg: VenueConfig, ref: Any) -> None:
    """[reference] line_in: the gateway host's line-in hears the programme (docs/reference.md)."""
    if not isinstance(ref, dict):
        raise VenueConfigError("[reference] must be a table")
    if "line_in" not in ref:
        return
    cfg.line_in = get_field(ref, "line_in", str, "", "reference")
    if any(b == LINE_IN_ID for b, _ in cfg.bands):
        raise VenueConfigError(
            f"band id {LINE_IN_ID!r} is the line-in reference's own; rename that band"
        )
    # the host's line-in reports as a reference band of its own, in a zone of its own
    cfg.zones.append(Zone(LINE_IN_ID, 1.0, True))
    cfg.bands.append((LINE_IN_ID, LINE_IN_ID))


def _player_osc(cfg: VenueConfig, p: dict[str, Any], o: dict[str, Any]) -> None:
    if not isinstance(p, dict) or not isinstance(o, dict):
        raise VenueConfigError("[player] and [osc] must be tables")
    if "mpd" in p:
        cfg.player_mpd = parse_address(p["mpd"], "player.mpd")
    cfg.player_deck = bool(get_field(p, "deck", bool, False, "player"))
    cfg.player_note = get_field(p, "note", str, "", "player")[:200]
    if sum([cfg.player_mpd is not None, cfg.player_deck, cfg.mixxx_db is not None]) > 1:
        raise VenueConfigError(
            "one player only: [player] mpd, [player] deck or [selector] mixxx_db"
        )
    targets = get_field(o, "targets", list, [], "osc")
    cfg.osc_targets = [parse_address(t, f"osc.targets[{i}]") for i, t in enumerate(targets)]


def load(path: str | Path) -> VenueConfig:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as exc:
        raise VenueConfigError(f"{p}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VenueConfigError(f"{p}: not valid TOML ({exc})") from None
    try:
        return parse(raw, p.resolve().parent)
    except VenueConfigError as exc:
        raise VenueConfigError(f"{p}: {exc}") from None
