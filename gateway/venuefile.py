"""Writing a venue file: the one place crowdpulse makes a venue TOML.

Simulated nights, the demo and the benches all describe their venue here and
get text that gateway/venue.py reads back (a test proves the round trip).
The TOML itself is tomli-w's, so a zone name or a path with a quote in it is
escaped as TOML wants, not as a format string would guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tomli_w


@dataclass
class Zone:
    name: str
    bands: list[str]  # ids or ranges ("S00001-S00400"), as gateway/venuebands.py expands them
    weight: float = 1.0


@dataclass
class VenueFile:
    """What a generated venue says; `text()` is the file."""

    venue: str
    key_file: str
    zones: list[Zone]
    http_port: int = 8080
    http_host: str = "127.0.0.1"
    reference_band: tuple[str, str] | None = None  # (band id, zone): the booth's reference
    selector_mode: str = "assist"
    library: str | None = None
    token: str | None = None
    token_file: str | None = None
    db_path: str | None = None
    player: dict[str, Any] = field(default_factory=dict)  # the [player] table, if any

    def text(self) -> str:
        doc: dict[str, Any] = {
            "venue": self.venue,
            "keys": {"venue_key_file": self.key_file},
            "zones": [{"name": z.name, "weight": z.weight, "bands": z.bands} for z in self.zones],
            "http": {"host": self.http_host, "port": self.http_port},
            "selector": {"mode": self.selector_mode},
        }
        if self.reference_band is not None:
            band, zone = self.reference_band
            doc["bands"] = [{"id": band, "zone": zone, "reference": True}]
        if self.library is not None:
            doc["selector"]["library"] = self.library
        console = {"token": self.token, "token_file": self.token_file}
        if any(v is not None for v in console.values()):
            doc["console"] = {k: v for k, v in console.items() if v is not None}
        if self.db_path is not None:
            doc["storage"] = {"path": self.db_path}
        if self.player:
            doc["player"] = self.player
        return tomli_w.dumps(doc)
