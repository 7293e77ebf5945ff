"""Home Assistant discovery: the payload uses only HA's documented MQTT sensor
options, and HA's own topic is retained and written at most once a second.

DOCUMENTED is HA's option list for the MQTT sensor, with the types it states,
from https://www.home-assistant.io/integrations/sensor.mqtt/ (the page's
configuration table, source/_integrations/sensor.mqtt.markdown in
home-assistant/home-assistant.io).  value_template is rendered with Jinja2,
HA's template engine.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
from gateway_helpers import VENUE, Bands, GatewayProc, band_ids, publisher, send_batch, write_venue

from crowdpulse.broker import Mosquitto
from crowdpulse.gateway import homeassistant
from crowdpulse.mqtt import BrokerURL, make_client, topic

STR, INT, BOOL, MAP, LIST, TEMPLATE = str, int, bool, dict, list, "template"
DOCUMENTED: dict[str, Any] = {
    "availability": LIST,
    "availability_mode": STR,
    "availability_template": TEMPLATE,
    "availability_topic": STR,
    "device": MAP,
    "device_class": STR,
    "enabled_by_default": BOOL,
    "encoding": STR,
    "entity_category": STR,
    "entity_picture": STR,
    "expire_after": INT,
    "force_update": BOOL,
    "icon": STR,
    "json_attributes_template": TEMPLATE,
    "json_attributes_topic": STR,
    "last_reset_value_template": TEMPLATE,
    "name": STR,
    "object_id": STR,
    "options": LIST,
    "payload_available": STR,
    "payload_not_available": STR,
    "platform": STR,
    "suggested_display_precision": INT,
    "qos": INT,
    "state_class": STR,
    "state_topic": STR,
    "unique_id": STR,
    "unit_of_measurement": STR,
    "value_template": TEMPLATE,
}
DEVICE: dict[str, Any] = {
    "configuration_url": STR,
    "connections": LIST,
    "hw_version": STR,
    "identifiers": (STR, LIST),
    "manufacturer": STR,
    "model": STR,
    "model_id": STR,
    "name": STR,
    "serial_number": STR,
    "suggested_area": STR,
    "sw_version": STR,
    "via_device": STR,
}
STATE_CLASSES = ("measurement", "total", "total_increasing")  # developers.home-assistant.io sensor


def _typed(value: Any, kind: Any) -> bool:
    if kind == TEMPLATE:
        return isinstance(value, str) and "{{" in value
    if kind is INT:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _render(template: str, payload: str) -> str:
    return (
        jinja2.Environment()
        .from_string(template)
        .render(value_json=json.loads(payload), value=payload)
    )


@pytest.mark.parametrize("zone", [None, "floor"])
def test_discovery_uses_only_documented_sensor_options(zone: str | None) -> None:
    t, raw = homeassistant.discovery(
        "club-x", zone, "homeassistant", topic("club-x", "gateway", "1", "status")
    )
    cfg = json.loads(raw)
    assert t == f"homeassistant/sensor/crowdpulse_club-x_{zone or 'venue'}/config"
    assert set(cfg) <= set(DOCUMENTED), set(cfg) - set(DOCUMENTED)
    assert all(_typed(v, DOCUMENTED[k]) for k, v in cfg.items()), cfg
    assert set(cfg["device"]) <= set(DEVICE) and all(
        _typed(v, DEVICE[k]) for k, v in cfg["device"].items()
    )
    # the documented rules: a device needs a unique_id and an identifier; options
    # excludes state_class
    assert cfg["unique_id"] and cfg["device"]["identifiers"]
    assert cfg["state_class"] == "measurement" and cfg["state_class"] in STATE_CLASSES
    assert "options" not in cfg and "last_reset_value_template" not in cfg
    assert "availability" not in cfg or "availability_topic" not in cfg
    # HA's own topic, not the 10 Hz sentiment topic; no attributes that change with every update
    assert cfg["state_topic"] == homeassistant.state_topic("club-x", zone)
    assert "/sentiment" not in cfg["state_topic"] and "json_attributes_topic" not in cfg
    assert not cfg.get("force_update", False)
    # the template gives the score, and "None" (HA's unknown) for a zone hidden by k-anonymity
    assert _render(cfg["value_template"], '{"score": 61.5, "bands": 9}') == "61.5"
    assert _render(cfg["value_template"], '{"score": null, "bands": 2}') == "None"
    assert (
        _render(cfg["availability_template"], '{"state": "online", "since": 1}')
        == cfg["payload_available"]
    )


def test_home_assistant_topics_are_retained_and_at_most_once_a_second(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = write_venue(
        tmp_path, extra="[home_assistant]\ndiscovery = true\n[sentiment]\nk_anonymity = 1\n"
    )
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    arrivals: list[tuple[float, str, bytes]] = []
    lock = threading.Lock()

    def on_message(_c: object, _u: object, m: Any) -> None:
        with lock:
            arrivals.append((time.monotonic(), m.topic, bytes(m.payload)))

    watcher = make_client(BrokerURL.parse(mosquitto.url))
    watcher.on_message = on_message
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.subscribe([(topic(VENUE, "ha", "#"), 1), ("homeassistant/sensor/#", 1)])
    watcher.loop_start()
    pub = publisher(mosquitto.url)
    bands = Bands(cfg, band_ids(1, 10))
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5.0:
            now = int(time.time() * 1000)
            send_batch(pub, bands.reports(now), now)
            time.sleep(0.25)
        t1 = time.monotonic()
        watcher.loop_stop()
        late: list[Any] = []
        checker = make_client(BrokerURL.parse(mosquitto.url))
        checker.on_message = lambda c, u, m: late.append(m)
        checker.connect("127.0.0.1", mosquitto.port)
        checker.subscribe(topic(VENUE, "ha", "zone", "floor"))
        checker.loop_start()
        deadline = time.monotonic() + 5
        while not late and time.monotonic() < deadline:
            time.sleep(0.05)
        checker.loop_stop()
    finally:
        pub.loop_stop()
        gw.stop()
    floor = [(t, p) for t, tp, p in arrivals if tp == homeassistant.state_topic(VENUE, "floor")]
    window = [p for t, p in floor if t0 <= t <= t1]
    # written at most once a second (a slower machine only writes fewer)
    assert 1 <= len(window) <= (t1 - t0) / (homeassistant.MIN_INTERVAL_MS / 1000) + 1, len(window)
    assert any(json.loads(p)["score"] is not None for p in window)
    assert late and late[0].retain  # a Home Assistant that starts later gets the last value
    configs = {tp for _, tp, _ in arrivals if tp.startswith("homeassistant/")}
    assert configs == {
        f"homeassistant/sensor/crowdpulse_{VENUE}_{z}/config" for z in ("venue", "floor", "bar")
    }
