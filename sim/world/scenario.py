"""Scenarios: a venue, a crowd, a timeline of tracks and events, as TOML.

    name = "dip and recovery"
    duration_min = 10
    seed = 3
    [[zones]]
    name = "floor"
    share = 0.8                 # of the devices
    size_m = [30, 20]
    music_db = [86, 96]         # LAeq of the PA at the back and at the front
    relays = [[8, 10], [22, 10]]
    [[timeline]]                # one entry per track, played in order
    pick = "liked"              # liked | unloved | favourite | any | a track id or title
    drop_s = 60                 # optional: when the drop comes
    [[events]]
    at_min = 4
    kind = "relays_down"        # relays_down (share), relays_up, rogue (rate per s),
                                # arrive / leave (share), silence (seconds), dead_zone (zone),
                                # dj_plays (pick = "unloved" ...: the artist puts a track on)

Shipped scenarios live in sim/scenarios/*.toml and can be named without the path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

KINDS = (
    "relays_down",
    "relays_up",
    "rogue",
    "arrive",
    "leave",
    "silence",
    "dead_zone",
    "cheer",
    "clap",
    "dj_plays",
)
PICKS = ("liked", "unloved", "favourite", "any")


class ScenarioError(ValueError):
    """One line: what is wrong with the scenario file."""


@dataclass(frozen=True)
class Zone:
    name: str
    share: float
    size_m: tuple[float, float]
    music_db: tuple[float, float]
    relays: list[tuple[float, float]]


@dataclass(frozen=True)
class Event:
    at_s: float
    kind: str
    value: float = 0.0
    zone: str = ""
    pick: str = "unloved"  # dj_plays: which track the artist puts on (as a timeline pick)


@dataclass
class Scenario:
    name: str
    duration_s: float
    seed: int
    zones: list[Zone]
    timeline: list[dict[str, Any]]
    events: list[Event] = field(default_factory=list)
    absent_share: float = 0.0  # people not yet here at the start
    mqtt_share: float = 0.1  # bands that report over WiFi rather than BLE
    imu_share: float = 0.2
    start_mood: float = 0.15  # the crowd's engagement (0-1) when the night starts


def _zone(z: dict[str, Any], i: int) -> Zone:
    try:
        relays = [(float(x), float(y)) for x, y in z.get("relays", [])]
        zone = Zone(
            str(z["name"]),
            float(z.get("share", 1.0)),
            (float(z["size_m"][0]), float(z["size_m"][1])),
            (float(z["music_db"][0]), float(z["music_db"][1])),
            relays,
        )
    except (KeyError, TypeError, ValueError, IndexError):
        raise ScenarioError(
            f"zones[{i}] needs name, size_m = [w, h], music_db = [back, front], relays"
        ) from None
    if zone.share <= 0 or min(zone.size_m) <= 0:
        raise ScenarioError(f"zones[{i}]: share and size must be positive")
    return zone


def parse(raw: dict[str, Any], where: str = "scenario") -> Scenario:
    try:
        zones = [_zone(z, i) for i, z in enumerate(raw["zones"])]
        events = [
            Event(
                float(e["at_min"]) * 60,
                str(e["kind"]),
                float(e.get("value", 0.0)),
                str(e.get("zone", "")),
                str(e.get("pick", "unloved")),
            )
            for e in raw.get("events", [])
        ]
        timeline = list(raw.get("timeline", [{"pick": "liked"}] * 40))
        sc = Scenario(
            str(raw["name"]),
            float(raw["duration_min"]) * 60,
            int(raw.get("seed", 1)),
            zones,
            timeline,
            events,
            float(raw.get("absent_share", 0.0)),
            float(raw.get("mqtt_share", 0.1)),
            float(raw.get("imu_share", 0.2)),
            float(raw.get("start_mood", 0.15)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: missing or bad {exc}") from None
    for e in sc.events:
        if e.kind not in KINDS:
            raise ScenarioError(
                f"{where}: unknown event kind {e.kind!r}; known: {', '.join(KINDS)}"
            )
        if e.kind == "dead_zone" and e.zone not in {z.name for z in zones}:
            raise ScenarioError(f"{where}: dead_zone needs a zone of this scenario")
    if not zones or sc.duration_s <= 0:
        raise ScenarioError(f"{where}: needs zones and a positive duration_min")
    return sc


def shipped() -> list[str]:
    base = resources.files("crowdpulse.sim") / "scenarios"
    return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Scenario:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        text, where = p.read_text(), str(p)
    else:
        res = resources.files("crowdpulse.sim") / "scenarios" / f"{name_or_path}.toml"
        if not res.is_file():
            raise ScenarioError(
                f"no scenario {name_or_path!r}: give a .toml file or one of {', '.join(shipped())}"
            )
        text, where = res.read_text(), name_or_path
    try:
        return parse(tomllib.loads(text), where)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML ({exc})") from None
