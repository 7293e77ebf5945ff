"""The relay's MQTT side: a retained status with a last will, and batches that never pile up.

paho's network thread connects and reconnects by itself (a dead broker at start
is just a first connection that keeps failing).  Batches are real-time data, so
while the broker is away, or while it is too slow to take them, they are dropped
rather than queued: a report that arrives seconds late is worth nothing.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from crowdpulse import __version__
from crowdpulse.mqtt import BrokerURL, make_client, topic

Log = Callable[[str], None]


class Uplink:
    def __init__(
        self,
        broker: BrokerURL,
        venue: str,
        relay_id: str,
        log: Log,
        adapter: str | None = None,
        keepalive_s: int = 15,
        retry_max_s: int = 30,
        max_unsent: int = 100,
        ca_file: str | None = None,
    ) -> None:
        self.broker = broker
        self.batch_topic = topic(venue, "relay", relay_id, "batch")
        self.status_topic = topic(venue, "relay", relay_id, "status")
        self._about = {
            "relay": relay_id,
            "venue": venue,
            "adapter": adapter,
            "version": __version__,
        }
        self._log = log
        self._keepalive = keepalive_s
        self._max_unsent = max_unsent
        self._unsent: deque[mqtt.MQTTMessageInfo] = deque()
        self._lock = threading.Lock()
        self.connected = False
        self._closing = False
        self._ever_connected = False
        self._outage_logged = False
        self.started_s = int(time.time())
        self._client = make_client(broker, ca_file=ca_file)
        # The broker publishes this if the relay vanishes without a word (killed,
        # power cut, network gone).  It cannot know when that will be, so its
        # `since` is when this relay process started.
        self._client.will_set(
            self.status_topic, self._status("offline", self.started_s, "lost"), qos=1, retain=True
        )
        self._client.reconnect_delay_set(1, max(1, retry_max_s))
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def _status(self, state: str, since: int, reason: str | None = None) -> bytes:
        status: dict[str, Any] = {"state": state, **self._about, "since": since}
        if reason:
            status["reason"] = reason
        return json.dumps(status).encode()

    def start(self) -> None:
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=self._keepalive)
        self._client.loop_start()

    def send(self, payload: bytes) -> bool:
        """Publish one batch at QoS 0; False (dropped) when it cannot go out now."""
        if not self.connected:
            return False
        with self._lock:
            while self._unsent and self._unsent[0].is_published():
                self._unsent.popleft()
            if len(self._unsent) >= self._max_unsent:
                return False  # the socket is not draining: the broker or the link is stuck
            info = self._client.publish(self.batch_topic, payload, qos=0)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            self._unsent.append(info)
        return True

    @property
    def unsent(self) -> int:
        with self._lock:
            return sum(1 for info in self._unsent if not info.is_published())

    def close(self, reason: str = "shutdown", timeout_s: float = 3.0) -> None:
        self._closing = True
        if self.connected:
            info = self._client.publish(
                self.status_topic,
                self._status("offline", int(time.time()), reason),
                qos=1,
                retain=True,
            )
            # the connection may go at the last moment; the will says offline instead
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
            if not info.is_published():
                self._log("could not publish the offline status; the broker's last will will")
        self._client.disconnect()
        self._client.loop_stop()

    # paho callbacks: these run on paho's network thread.

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            self._outage(f"broker {self.broker} refused the relay: {reason}")
            return
        self.connected = True
        self._outage_logged = False
        self._log(f"MQTT {'reconnected' if self._ever_connected else 'connected'} to {self.broker}")
        self._ever_connected = True
        # Watch our own status so a stale last will (an old connection of this
        # relay that the broker gives up on late) cannot leave us marked offline.
        client.subscribe(self.status_topic, qos=1)
        client.publish(
            self.status_topic, self._status("online", int(time.time())), qos=1, retain=True
        )

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._outage(f"broker {self.broker} unreachable; retrying, batches are dropped meanwhile")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        was = self.connected
        self.connected = False
        if was and not self._closing:
            self._outage(
                f"lost the broker {self.broker} ({reason}); reconnecting, "
                "batches are dropped meanwhile"
            )

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # A retained delivery is the state before this connection, which our own
        # online publish (queued right behind the subscribe) overwrites anyway.
        if msg.retain or self._closing or not self.connected:
            return
        try:
            state = json.loads(msg.payload).get("state")
        except (ValueError, AttributeError):
            state = None
        if state != "online":
            self._log("someone marked this relay offline while it runs; publishing online again")
            client.publish(
                self.status_topic, self._status("online", int(time.time())), qos=1, retain=True
            )

    def _outage(self, line: str) -> None:
        if not self._outage_logged:  # one line per outage, not one per retry
            self._outage_logged = True
            self._log(line)
