"""docs/asyncapi.yaml against a real gateway on a real Mosquitto.

The gateway runs with a share group and Home Assistant discovery, so that
every topic it can use is in play; a recorder subscribed to everything (MQTT 5,
retain-as-published) sees what it publishes, and Mosquitto's own log (log_type
subscribe) says what it subscribes to.  Every published topic must be a
`send` channel of the document, with the documented retained flag and a
payload that validates against the message's schema; every subscription a
`receive` channel with its QoS; and every `receive` channel must be one the
gateway really subscribes to.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from gateway_helpers import VENUE, Bands, GatewayProc, band_ids, publisher, send_batch, write_venue
from paho.mqtt.subscribeoptions import SubscribeOptions

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import topic

DOC = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml").read_text())
WORKER = "w1"
CLIENT_ID = f"crowdpulse-gateway-{VENUE}-{WORKER}"


def _resolve(node: Any) -> Any:
    """The document with its local $refs followed (schemas and messages)."""
    if isinstance(node, dict):
        if set(node) == {"$ref"} and node["$ref"].startswith("#/"):
            target: Any = DOC
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return _resolve(target)
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def _pattern(address: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(address)) + "$")


CHANNELS = {name: (_pattern(ch["address"]), ch) for name, ch in DOC["channels"].items()}


def _operations(action: str) -> dict[str, dict[str, Any]]:
    """channel name -> the operation of that action on it."""
    out = {}
    for op in DOC["operations"].values():
        if op["action"] == action:
            out[op["channel"]["$ref"].rsplit("/", 1)[-1]] = op
    return out


def _channel_of(name: str) -> str:
    hits = [c for c, (pat, _) in CHANNELS.items() if pat.match(name)]
    assert len(hits) == 1, f"{name}: {hits or 'no channel'} in docs/asyncapi.yaml"
    return hits[0]


def test_the_document_is_asyncapi_3_and_every_schema_is_valid() -> None:
    assert DOC["asyncapi"].startswith("3.0")
    for name, op in DOC["operations"].items():
        assert op["action"] in ("send", "receive"), name
        assert op["channel"]["$ref"].rsplit("/", 1)[-1] in DOC["channels"], name
        assert isinstance(op["bindings"]["mqtt"]["retain"], bool), name
    for name, ch in DOC["channels"].items():
        for message in _resolve(ch["messages"]).values():
            jsonschema.Draft202012Validator.check_schema(message["payload"])
        for param in re.findall(r"\{(\w+)\}", ch["address"]):
            assert param in ch["parameters"], (name, param)


class Recorder:
    """Every message on the broker: (topic, retain as published, payload)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.seen: list[tuple[str, bool, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", broker.port)
        opts = SubscribeOptions(qos=1, retainAsPublished=True)
        self.client.subscribe([("#", opts), ("homeassistant/#", opts)])
        self.client.loop_start()

    def _on(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.seen.append((msg.topic, bool(msg.retain), bytes(msg.payload)))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Mosquitto, Recorder, GatewayProc]]:
    # (crowdpulse.broker adds `user root` when run as root, so the log can be written)
    broker = Mosquitto(extra_config="log_type subscribe\n").start()
    recorder = Recorder(broker)
    cfg = write_venue(tmp_path, extra="[home_assistant]\ndiscovery = true\n")
    gw = GatewayProc(broker.url, cfg, "--share-group", "g", "--worker", WORKER).wait_ready(
        timeout=120
    )
    try:
        yield broker, recorder, gw
    finally:
        gw.stop()
        recorder.close()
        broker.close()


def _drive(broker: Mosquitto, gw: GatewayProc) -> set[str]:
    """Traffic on every topic the gateway listens to, and actions that make it
    publish on every topic it can; returns the topics published here."""
    pub = publisher(broker.url)
    bands = Bands(gw.cfg, band_ids(1, 20))
    direct = Bands(gw.cfg, band_ids(21, 21))
    for _ in range(8):
        now = int(time.time() * 1000)
        send_batch(pub, bands.reports(now), now)
        pub.publish(
            topic(VENUE, "band", "B0021", "report"), direct.reports(now)[0]
        ).wait_for_publish(5)
        time.sleep(0.25)
    pub.publish(
        topic(VENUE, "relay", "r1", "status"), json.dumps({"state": "online"}), 1, True
    ).wait_for_publish(5)
    pub.publish(
        topic(VENUE, "selector", "cmd"), json.dumps({"action": "skip"}), 1
    ).wait_for_publish(5)
    req = urllib.request.Request(
        f"http://127.0.0.1:{gw.port}/api/selector/action",
        method="POST",
        data=json.dumps({"action": "event_over"}).encode(),
        headers={"Authorization": "Bearer test-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    time.sleep(1.5)
    pub.loop_stop()
    return {
        topic(VENUE, "relay", "r1", "batch"),
        topic(VENUE, "band", "B0021", "report"),
        topic(VENUE, "relay", "r1", "status"),
        topic(VENUE, "selector", "cmd"),
    }


def test_every_topic_the_gateway_uses_is_documented(
    live: tuple[Mosquitto, Recorder, GatewayProc],
) -> None:
    broker, recorder, gw = live
    ours = _drive(broker, gw)
    sends = _operations("send")
    with recorder.lock:
        seen = list(recorder.seen)
    published = [(t, r, p) for t, r, p in seen if t not in ours]
    used = set()
    for name, retained, payload in published:
        channel = _channel_of(name)
        assert channel in sends, (
            f"{name}: the gateway publishes on {channel}, which has no send operation"
        )
        op = sends[channel]
        assert retained == op["bindings"]["mqtt"]["retain"], f"{name}: retained={retained}"
        message = next(iter(_resolve(DOC["channels"][channel]["messages"]).values()))
        if message.get("contentType", DOC["defaultContentType"]) == "application/json":
            jsonschema.validate(json.loads(payload), message["payload"])
        used.add(channel)
    # the walk above made the gateway use every send channel
    assert used == set(sends), f"never seen: {set(sends) - used}"

    receives = _operations("receive")
    log = broker.log_path.read_text()
    filters = {
        (m.group(2), int(m.group(1)))
        for m in re.finditer(rf"{re.escape(CLIENT_ID)} (\d) (\S+)", log)
    }
    assert filters, "Mosquitto logged no subscription of the gateway"
    subscribed = set()
    for flt, qos in filters:
        name = re.sub(r"^\$share/[^/]+/", "", flt)
        channel = _channel_of(name)
        assert channel in receives, f"{flt}: subscribed, but {channel} has no receive operation"
        assert qos == receives[channel]["bindings"]["mqtt"]["qos"], flt
        subscribed.add(channel)
    assert subscribed == set(receives), (
        f"documented but not subscribed: {set(receives) - subscribed}"
    )
