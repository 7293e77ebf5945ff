"""MQTT uplink: micropython-lib's umqtt.simple, with reconnects that back off.

The band publishes its reports (QoS 0: a late report is worth nothing) and
listens to the venue's retained config topic and its command topic.  While
the broker is away the band keeps listening and advertising over BLE, and
tries again after a jittered, doubling delay capped at 4 s, so thousands of
bands do not knock on the broker's door together and none of them spins.
"""

import json
import random
import time

from umqtt.simple import MQTTClient

_BASE_MS = 500
_CAP_MS = 4000
_KEEPALIVE_S = 30
_PING_MS = 10000


class Uplink:
    def __init__(self, cfg, on_message):
        host, port, user, password, tls = cfg.mqtt
        self.client = MQTTClient("band-" + cfg.band_id, host, port, user, password,
                                 keepalive=_KEEPALIVE_S, ssl=tls)
        self.client.set_callback(self._on_msg)
        root = "crowdpulse/v1/" + cfg.venue
        self.report_topic = (root + "/band/" + cfg.band_id + "/report").encode()
        self.config_topic = (root + "/config").encode()
        self.cmd_topic = (root + "/cmd").encode()
        self.on_message = on_message
        self.connected = False
        self.failures = 0
        self.next_try = time.ticks_ms()
        self.last_io = time.ticks_ms()
        self.sent = 0

    def _on_msg(self, topic, msg):
        try:
            data = json.loads(msg)
        except ValueError:
            print("crowdpulse: ignored a command that is not JSON")
            return
        if isinstance(data, dict):
            self.on_message(topic == self.config_topic, data)

    def _down(self, why):
        if self.connected:
            print("crowdpulse: mqtt offline:", why)
        self.connected = False
        try:
            self.client.sock.close()
        except (OSError, AttributeError):
            pass
        delay = _BASE_MS << (self.failures if self.failures < 4 else 4)
        delay = delay if delay < _CAP_MS else _CAP_MS
        self.failures += 1
        self.next_try = time.ticks_add(time.ticks_ms(), delay // 2 + random.getrandbits(16) % (delay // 2))

    def _connect(self):
        try:
            self.client.connect()
            self.client.subscribe(self.config_topic, 1)
            self.client.subscribe(self.cmd_topic, 0)
        except (OSError, IndexError, AssertionError) as exc:
            # IndexError/AssertionError: umqtt.simple reading a short or odd reply
            self._down(repr(exc))
            return
        self.connected = True
        self.failures = 0
        self.last_io = time.ticks_ms()
        print("crowdpulse: mqtt online")

    def service(self):
        """Reconnect when due, deliver incoming messages, keep the session alive."""
        now = time.ticks_ms()
        if not self.connected:
            if time.ticks_diff(now, self.next_try) >= 0:
                self._connect()
            return
        try:
            self.client.check_msg()
            if time.ticks_diff(now, self.last_io) > _PING_MS:
                self.client.ping()
                self.last_io = now
        except (OSError, IndexError, AssertionError) as exc:
            self._down(repr(exc))

    def publish(self, report):
        if not self.connected:
            return False
        try:
            self.client.publish(self.report_topic, report)
        except OSError as exc:
            self._down(repr(exc))
            return False
        self.last_io = time.ticks_ms()
        self.sent += 1
        return True
