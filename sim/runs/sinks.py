"""Where a simulated night goes: a gateway engine in this process, or MQTT."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt

from crowdpulse.gateway.engine import Engine
from crowdpulse.mqtt import BrokerURL, make_client, topic


class EngineSink:
    """Straight into a gateway Engine (as if over a perfect broker): for tests and
    the accuracy bench, which need simulated time rather than the wall clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.direct_buf: list[tuple[bytes, int]] = []

    def batch(self, relay: str, payload: bytes, now_ms: int) -> None:
        self.engine.ingest_batch(payload, at_ms=now_ms)

    def direct(self, band: str, report: bytes, now_ms: int) -> None:
        self.direct_buf.append((report, now_ms))

    def flush(self, now_ms: int) -> None:
        if self.direct_buf:
            self.engine.ingest_direct(
                [r for r, _ in self.direct_buf], [t for _, t in self.direct_buf], at_ms=now_ms
            )
            self.direct_buf = []


class MqttSink:
    """Relays' batches and WiFi bands' reports on a real broker; the venue's
    retained config comes back to the simulated bands, as to real ones, and
    (selector=True) the selector's state, to play what the DJ plays.
    on_command(data, kind) is called with kind "config" or "state"."""

    def __init__(
        self,
        url: BrokerURL,
        venue: str,
        on_command: Any,
        selector: bool = False,
        ca_file: str | None = None,
        relay_id: str | None = None,
    ) -> None:
        self.venue = venue
        self.selector = selector
        # with a venue's ACL a credential may publish only its own relay's batches:
        # then every simulated relay publishes as that one relay
        self.relay_id = relay_id
        self.client = make_client(url, f"crowdpulse-sim-{venue}", ca_file)
        self.client.max_queued_messages_set(0)
        self.on_command = on_command
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 4)
        self.client.connect_async(url.host, url.port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if not rc.is_failure:
            self.connected.set()
            subs = [(topic(self.venue, "config"), 1), (topic(self.venue, "cmd"), 0)]
            if self.selector:
                subs.append((topic(self.venue, "selector", "state"), 1))
            client.subscribe(subs)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(data, dict):
            kind = "state" if msg.topic.endswith("/state") else "config"
            with self.lock:
                self.on_command(data, kind)

    def batch(self, relay: str, payload: bytes, now_ms: int) -> None:
        self.client.publish(topic(self.venue, "relay", self.relay_id or relay, "batch"), payload)

    def direct(self, band: str, report: bytes, now_ms: int) -> None:
        self.client.publish(topic(self.venue, "band", band, "report"), report)

    def flush(self, now_ms: int) -> None:
        pass

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
