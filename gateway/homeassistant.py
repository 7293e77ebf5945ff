"""Home Assistant MQTT discovery: one sensor per zone and one for the venue.

Home Assistant gets its own retained topics, written at most once a second
(`crowdpulse/v1/<venue>/ha/venue`, `.../ha/zone/<zone>`), not the 10 Hz
sentiment topic: its recorder writes a state row for every change, and a score
that moves ten times a second would fill its database for nothing.  Each
sensor is a `measurement` (long-term statistics: mean, min, max per hour) of
one device, the venue's gateway.  The options are those of HA's MQTT sensor
(https://www.home-assistant.io/integrations/sensor.mqtt/); tests/test_home_assistant.py
checks them against that list.
"""

from __future__ import annotations

import json
from typing import Any

from crowdpulse import __version__
from crowdpulse.mqtt import topic

MIN_INTERVAL_MS = 1000


def state_topic(venue: str, zone: str | None) -> str:
    return topic(venue, "ha", "zone", zone) if zone else topic(venue, "ha", "venue")


def discovery(venue: str, zone: str | None, prefix: str, availability: str) -> tuple[str, str]:
    """(discovery topic, config payload) for one sensor."""
    uid = f"crowdpulse_{venue}_{zone or 'venue'}"
    config: dict[str, Any] = {
        "name": f"Crowd sentiment {zone}" if zone else "Crowd sentiment",
        "unique_id": uid,
        "object_id": uid,
        "state_topic": state_topic(venue, zone),
        # a zone hidden by k-anonymity has no score: null renders as None, which HA takes as unknown
        "value_template": "{{ value_json.score }}",
        "unit_of_measurement": "%",
        "state_class": "measurement",
        "suggested_display_precision": 0,
        "icon": "mdi:account-group",
        "availability_topic": availability,
        "availability_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [f"crowdpulse_{venue}"],
            "name": f"crowdpulse {venue}",
            "manufacturer": "crowdpulse",
            "model": "venue gateway",
            "sw_version": __version__,
        },
    }
    return f"{prefix}/sensor/{uid}/config", json.dumps(config)


def states(snap: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(zone or None for the venue, state payload) for one snapshot."""
    out: list[tuple[str | None, str]] = [
        (None, json.dumps({"score": snap["score"], "bands": snap["bands"]}))
    ]
    for z in snap["zones"]:
        out.append((z["zone"], json.dumps({"score": z["score"], "bands": z["bands"]})))
    return out
