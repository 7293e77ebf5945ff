"""The Mosquitto fixture is a real broker, usable and restartable on its port."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, BrokerURLError, make_client, topic


def _roundtrip(url: BrokerURL, payload: bytes) -> bytes:
    got: list[bytes] = []
    ready, done = threading.Event(), threading.Event()
    sub = make_client(url)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: (got.append(m.payload), done.set())
    sub.connect(url.host, url.port)
    sub.subscribe(topic("t", "x"), qos=1)
    sub.loop_start()
    assert ready.wait(5)
    pub = make_client(url)
    pub.connect(url.host, url.port)
    pub.loop_start()
    pub.publish(topic("t", "x"), payload, qos=1).wait_for_publish(5)
    assert done.wait(5)
    for c in (sub, pub):
        c.loop_stop()
        c.disconnect()
    return got[0]


def test_publish_subscribe_through_real_mosquitto(mosquitto: Mosquitto) -> None:
    assert _roundtrip(BrokerURL.parse(mosquitto.url), b"\x01\x02") == b"\x01\x02"


def test_broker_restarts_on_the_same_port(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    mosquitto.stop()
    assert not mosquitto.running
    with pytest.raises(OSError):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.connect("127.0.0.1", port)
    mosquitto.start()
    assert mosquitto.port == port
    assert _roundtrip(BrokerURL.parse(mosquitto.url), b"again") == b"again"


@pytest.mark.parametrize(
    "url,host,port,tls,user",
    [
        ("mqtt://localhost", "localhost", 1883, False, None),
        ("mqtts://gw:secret@venue.local:8884", "venue.local", 8884, True, "gw"),
        ("127.0.0.1:1999", "127.0.0.1", 1999, False, None),
    ],
)
def test_broker_urls(url: str, host: str, port: int, tls: bool, user: str | None) -> None:
    parsed = BrokerURL.parse(url)
    assert (parsed.host, parsed.port, parsed.tls, parsed.username) == (host, port, tls, user)
    assert "secret" not in str(parsed)


@pytest.mark.parametrize("url", ["http://x", "mqtt://", "mqtt://h:notaport"])
def test_bad_broker_urls(url: str) -> None:
    with pytest.raises(BrokerURLError):
        BrokerURL.parse(url)
