"""MQTT uplink: micropython-lib's umqtt.simple, with reconnects that back off.

The band publishes its reports (QoS 0: a late report is worth nothing) and
listens to the venue's retained config topic and its command topic.  While
the broker is away, or refuses the band's login, the band keeps listening and
advertising over BLE, and tries again after a jittered, doubling delay capped
at 4 s, so thousands of bands do not knock on the broker's door together and
none of them spins.  It never gives up: a password added to the broker later
(or a broker started late) brings the band up with no reflash.

Every failure is one console line (docs/firmware.md), which `crowdpulse flash`
and `crowdpulse monitor` read:

    crowdpulse: mqtt online
    crowdpulse: mqtt failed: refused rc=5 (not authorised); retry in 1843 ms
    crowdpulse: mqtt offline: OSError(-1,); retry in 412 ms
"""

import json
import random
import time

from umqtt.simple import MQTTClient, MQTTException

from wristband import packet

_BASE_MS = 500
_CAP_MS = 4000
_KEEPALIVE_S = 30
_PING_MS = 10000
# MQTT 3.1.1 CONNACK return codes: why a broker refused the login
_REFUSALS = ("", "protocol version", "client id rejected", "server unavailable",
             "bad user name or password", "not authorised")


def describe(exc):
    """(state, one-line reason) for an exception from umqtt.simple or the socket."""
    if isinstance(exc, MQTTException) and exc.args and isinstance(exc.args[0], int):
        rc = exc.args[0]
        if 0 < rc < len(_REFUSALS):
            return "refused", "refused rc=%d (%s)" % (rc, _REFUSALS[rc])
        return "down", "refused by the broker (code %d)" % rc
    return "down", repr(exc)


class Uplink:
    def __init__(self, cfg, on_message):
        host, port, user, password, tls = cfg.mqtt
        self.client = MQTTClient("band-" + cfg.band_id, host, port, user, password,
                                 keepalive=_KEEPALIVE_S, ssl=tls)
        self.client.set_callback(self._on_msg)
        root = packet.TOPIC_ROOT + "/" + cfg.venue
        self.report_topic = (root + "/band/" + cfg.band_id + "/report").encode()
        self.config_topic = (root + "/config").encode()
        self.cmd_topic = (root + "/cmd").encode()
        self.on_message = on_message
        self.connected = False
        self.state = "down"  # up, down (no broker, or lost), refused (the login)
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

    def _down(self, exc):
        state, why = describe(exc)
        was = self.connected
        self.connected = False
        self.state = state
        try:
            self.client.sock.close()
        except (OSError, AttributeError):
            pass
        delay = _BASE_MS << (self.failures if self.failures < 4 else 4)
        delay = delay if delay < _CAP_MS else _CAP_MS
        delay = delay // 2 + random.getrandbits(16) % (delay // 2)
        self.failures += 1
        self.next_try = time.ticks_add(time.ticks_ms(), delay)
        state = "offline" if was else "failed"
        print("crowdpulse: mqtt %s: %s; retry in %d ms" % (state, why, delay))

    def _connect(self):
        try:
            self.client.connect()
            self.client.subscribe(self.config_topic, 1)
            self.client.subscribe(self.cmd_topic, 0)
        except Exception as exc:  # noqa: BLE001 - any failure: one line, then a retry
            # MQTTException: a refused login; IndexError/AssertionError: a short
            # or odd reply; OSError: no route, no broker, a reset
            self._down(exc)
            return
        self.connected = True
        self.state = "up"
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
        except Exception as exc:  # noqa: BLE001 - the band must outlive its broker
            self._down(exc)

    def publish(self, report):
        if not self.connected:
            return False
        try:
            self.client.publish(self.report_topic, report)
        except Exception as exc:  # noqa: BLE001
            self._down(exc)
            return False
        self.last_io = time.ticks_ms()
        self.sent += 1
        return True
