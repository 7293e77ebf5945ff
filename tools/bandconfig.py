"""A band's config.json (docs/firmware.md), with every secret derived from the venue key.

The band key and the command key are the protocol's (docs/protocol.md §2).  A
band's MQTT password, when not given, is derived the same way, so a re-flash
or a resumed provisioning run gives the same password, and the venue can list
them for Mosquitto without storing them anywhere else.  The result is checked
with the firmware's own parser (wristband.config) before it goes near a band.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crowdpulse.keys import VenueKeyError, load_venue_key
from wristband import boards, packet
from wristband import config as band_cfg

TRANSPORTS = ("ble", "mqtt", "both")
DEFAULT_WINDOW_S = 2 * 86400
WIFI_PASSWORD_ENV = "CROWDPULSE_WIFI_PASSWORD"
MQTT_PASSWORD_ENV = "CROWDPULSE_MQTT_PASSWORD"


class ConfigError(ValueError):
    """Settings that would give a band a config it cannot use (one line, no secrets)."""


@dataclass
class Settings:
    """What every band of a venue shares; the band id, zone and transport are per band."""

    venue: str = "demo"
    board: str = boards.DEFAULT
    window: tuple[int, int] | None = None
    interval_ms: int = 250
    status_every_s: int = 60
    wifi_ssid: str | None = None
    wifi_password: str = ""
    mqtt_host: str | None = None
    mqtt_port: int = 1883
    mqtt_tls: bool = False
    mqtt_user: str | None = None  # default: the band id
    mqtt_password: str | None = None  # default: derived from the venue key
    ntp: str | None = None


def mqtt_password(venue_key: bytes, band_id: str) -> str:
    """The band's MQTT password: HMAC-SHA256(venue key, label + band id), 32 hex digits."""
    msg = packet.MQTT_PASSWORD_LABEL + band_id.encode()
    return hmac.new(venue_key, msg, hashlib.sha256).hexdigest()[:32]


def parse_time(text: str) -> int:
    """UTC unix seconds from unix seconds or ISO 8601 (no zone: this machine's local time)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        raise ConfigError(f"{text!r} is neither unix seconds nor an ISO 8601 time") from None


def window(settings: Settings, now: float | None = None) -> tuple[int, int]:
    """The event window; by default today and tomorrow (UTC), the same all day long,
    so that flashing a band twice in a day writes the same config (and so nothing)."""
    if settings.window:
        return settings.window
    today = int(now if now is not None else time.time()) // 86400 * 86400
    return today, today + DEFAULT_WINDOW_S


def band_config(
    venue_key: bytes, band_id: str, zone: str, transport: str, settings: Settings
) -> dict[str, Any]:
    """The band's config.json as a dict; raises ConfigError when the band would reject it."""
    try:
        key = packet.band_key(venue_key, band_id)
        cmd_key = packet.command_key(venue_key)
    except packet.PacketError as exc:
        raise ConfigError(str(exc)) from None
    cfg: dict[str, Any] = {
        "version": 1,
        "venue": settings.venue,
        "zone": zone,
        "band_id": band_id,
        "key": key.hex(),
        "command_key": cmd_key.hex(),
        "transport": transport,
        "interval_ms": settings.interval_ms,
        "window": list(window(settings)),
        "board": settings.board,
        "status_every_s": settings.status_every_s,
    }
    if settings.wifi_ssid is not None:
        cfg["wifi"] = {"ssid": settings.wifi_ssid, "password": settings.wifi_password}
    if settings.mqtt_host:
        cfg["mqtt"] = {
            "host": settings.mqtt_host,
            "port": settings.mqtt_port,
            "user": settings.mqtt_user or band_id,
            "password": settings.mqtt_password or mqtt_password(venue_key, band_id),
            "tls": settings.mqtt_tls,
        }
    if settings.ntp:
        cfg["ntp"] = settings.ntp
    check(cfg)
    return cfg


def check(cfg: dict[str, Any]) -> None:
    """The firmware's own verdict on the config; its messages never quote a value."""
    parsed = band_cfg.parse(json.dumps(cfg))
    if parsed.errors:
        raise ConfigError("config error: " + "; ".join(parsed.errors))
    if parsed.warnings:
        raise ConfigError("config warning: " + "; ".join(parsed.warnings))


def to_json(cfg: dict[str, Any]) -> bytes:
    return (json.dumps(cfg, indent=1, sort_keys=True) + "\n").encode()


# -- what the operator gave, turned into settings -------------------------------------
def wifi(ssid: str | None, password: str | None, wifi_file: str | None) -> tuple[str | None, str]:
    """The band WLAN: a JSON file wins; the passphrase may come from the environment."""
    if not wifi_file:
        return ssid, password or os.environ.get(WIFI_PASSWORD_ENV, "")
    try:
        raw = json.loads(Path(wifi_file).read_text())
        return str(raw["ssid"]), str(raw.get("password", ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{wifi_file}: need JSON with ssid and password ({type(exc).__name__})"
        ) from None


def event_window(start: str, end: str) -> tuple[int, int]:
    """The bands' event window from two times (unix seconds or ISO 8601)."""
    span = (parse_time(start), parse_time(end))
    if span[0] >= span[1]:
        raise ConfigError("--window: START must be before END")
    return span


def mqtt_password_given(password: str | None) -> str | None:
    """An MQTT password given outright or in the environment; None: derive it per band."""
    return password or os.environ.get(MQTT_PASSWORD_ENV) or None


# -- the venue the bands are for ----------------------------------------------------
@dataclass
class Venue:
    """The venue name and key for the bands, and (from a venue file) their zones."""

    name: str
    key: bytes = field(repr=False)
    named: bool  # False: the demo default, nobody said which venue
    zones: dict[str, str] | None = None  # band id -> zone, from --config


def venue(config: str | None, name: str | None, key_file: str | None) -> Venue:
    """From the venue file `config`, or the name and the key file / $CROWDPULSE_VENUE_KEY."""
    if config:
        from crowdpulse.gateway.venue import VenueConfigError, load

        try:
            cfg = load(config)
        except VenueConfigError as exc:
            raise ConfigError(str(exc)) from None
        if name and name != cfg.venue:
            raise ConfigError(f"--venue {name} but {config} is venue {cfg.venue}; drop --venue")
        if key_file:
            raise ConfigError(
                f"--venue-key and --config: the key comes from {config}; drop --venue-key"
            )
        return Venue(cfg.venue, cfg.venue_key, True, dict(cfg.bands))
    try:
        key = load_venue_key(key_file)
    except VenueKeyError as exc:
        raise ConfigError(str(exc)) from None
    return Venue(name or "demo", key, name is not None)


def zone_of(v: Venue, band_id: str, zone: str | None, source: str = "--config") -> str:
    """The band's zone: as given, checked against the venue file when there is one."""
    if v.zones is None:
        if not zone:
            raise ConfigError("--zone is needed (or --config with the venue file)")
        return zone
    known = v.zones.get(band_id)
    if known is None:
        raise ConfigError(
            f"{band_id} is not a band of venue {v.name} ({source}): the gateway would "
            "refuse its reports; add it to a zone's bands or the fleet_file"
        )
    if zone and zone != known:
        raise ConfigError(f"{band_id} is in zone {known} in {source}, not {zone}")
    return known
