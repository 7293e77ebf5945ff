"""The BLE relay against a real Mosquitto, with a fake radio that speaks bleak's own types.

This machine has no Bluetooth adapter, so the scanner backend is swapped: the
fake radio takes the raw advertising bytes the firmware builds, parses them
with bumble's AdvertisingData (an independent BLE stack), and hands the relay
bleak's own `BLEDevice` and `AdvertisementData`, exactly as `BleakScanner`
would call a detection callback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDBusError, BleakError
from bumble.core import AdvertisingData

from crowdpulse.broker import Mosquitto
from crowdpulse.mqtt import BrokerURL, make_client, topic
from crowdpulse.relay.forwarder import Relay
from crowdpulse.relay.forwarding import (
    EVENT_GAP_S,
    DedupCache,
    Forwarder,
    Timing,
    encode_batches,
    parse_advert,
)
from crowdpulse.relay.uplink import Uplink
from wristband import packet

EXE = str(Path(sys.executable).parent / "crowdpulse")
TESTS = Path(__file__).resolve().parent
VENUE = "testvenue"
KEYS = [packet.band_key(bytes(range(32)), f"B{i:04d}") for i in range(1, 4)]
EPOCH = packet.epoch_of(time.time())


def report(band: int, seq: int) -> bytes:
    return bytes(packet.encode(KEYS[band], EPOCH, seq & 0xFFFF, 250, 80 + band, 90, claps=seq % 7))


def advert(band: int, seq: int) -> bytes:
    return bytes(packet.adv_payload(report(band, seq)))


def bleak_objects(
    raw: bytes, rssi: int = -60, address: str = "C0:FF:EE:00:00:01"
) -> tuple[BLEDevice, AdvertisementData]:
    """What bleak's BlueZ backend would hand a detection callback for these advert bytes."""
    ad = AdvertisingData.from_bytes(raw)
    mdata = {
        cid: bytes(data) for cid, data in ad.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    }
    name = ad.get(AdvertisingData.COMPLETE_LOCAL_NAME)
    device = BLEDevice(address, name, details={"path": "/org/bluez/hci0/dev_" + address})
    adv = AdvertisementData(
        local_name=name,
        manufacturer_data=mdata,
        service_data={},
        service_uuids=[],
        tx_power=ad.get(AdvertisingData.TX_POWER_LEVEL),
        rssi=rssi,
        platform_data=(raw,),
    )
    return device, adv


def wait_until(pred: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        time.sleep(0.01)


# -- the fake radio ------------------------------------------------------------


class FakeRadio:
    """The air around the relay.  Tests put raw adverts on it; the scanner the relay
    started last hears them, unless it failed to start or went deaf like BlueZ can."""

    def __init__(
        self, fail_starts: list[BaseException] | None = None, deaf_sessions: set[int] | None = None
    ) -> None:
        self.fail_starts = list(fail_starts or [])
        self.deaf_sessions = deaf_sessions or set()
        self.starts: list[float] = []  # monotonic time of every start() call
        self.active: FakeScanner | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def factory(self, callback: Callable[[BLEDevice, AdvertisementData], None]) -> FakeScanner:
        return FakeScanner(self, callback)

    def send_objects(self, device: BLEDevice, adv: AdvertisementData) -> None:
        scanner, loop = self.active, self.loop
        if scanner is not None and loop is not None:
            loop.call_soon_threadsafe(scanner.deliver, device, adv)

    def send(self, raw: bytes, rssi: int = -60, address: str = "C0:FF:EE:00:00:01") -> None:
        self.send_objects(*bleak_objects(raw, rssi, address))

    def go_deaf(self) -> None:
        if self.active is not None:
            self.active.deaf = True

    def listening(self) -> bool:
        return self.active is not None and not self.active.deaf


class FakeScanner:
    def __init__(
        self, radio: FakeRadio, callback: Callable[[BLEDevice, AdvertisementData], None]
    ) -> None:
        self.radio, self.callback, self.deaf = radio, callback, False

    async def start(self) -> None:
        radio = self.radio
        radio.loop = asyncio.get_running_loop()
        radio.starts.append(time.monotonic())
        if radio.fail_starts:
            raise radio.fail_starts.pop(0)
        self.deaf = len(radio.starts) - 1 in radio.deaf_sessions
        radio.active = self

    async def stop(self) -> None:
        if self.radio.active is self:
            self.radio.active = None

    def deliver(self, device: BLEDevice, adv: AdvertisementData) -> None:
        if self.radio.active is self and not self.deaf:
            self.callback(device, adv)


# -- the CLI's radio: tests/relay_on_air.py hands it to the command's run() ------------


class AirScanner:
    """Three bands in range, each repeating its report on every advertising event."""

    def __init__(self, callback: Callable[[BLEDevice, AdvertisementData], None]) -> None:
        self.callback = callback
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._air())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _air(self) -> None:
        seq = 0
        while True:
            for _repeat in range(3):
                for band in range(3):
                    self.callback(
                        *bleak_objects(
                            advert(band, seq), -40 - 10 * band, f"C0:FF:EE:00:00:0{band}"
                        )
                    )
                await asyncio.sleep(0.03)
            seq += 1


# -- MQTT and relay helpers ---------------------------------------------------


class Listener:
    """A subscriber to everything one relay publishes, with arrival times."""

    def __init__(self, url: str, relay_id: str = "r1") -> None:
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = make_client(BrokerURL.parse(url))
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic(VENUE, "relay", relay_id, "#"), 1)
        self.client.connect(BrokerURL.parse(url).host, BrokerURL.parse(url).port)
        self.client.loop_start()
        assert subscribed.wait(10), "listener could not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((time.time(), msg.topic, bytes(msg.payload), bool(msg.retain)))

    def batches(self) -> list[tuple[float, list[tuple[bytes, int, int]]]]:
        with self.lock:
            return [
                (t, packet.decode_batch(p))
                for t, tp, p, _ in self.messages
                if tp.endswith("/batch")
            ]

    def records(self) -> list[tuple[bytes, int, int]]:
        return [rec for _, recs in self.batches() for rec in recs]

    def statuses(self) -> list[tuple[dict[str, Any], bool]]:
        with self.lock:
            return [(json.loads(p), r) for _, tp, p, r in self.messages if tp.endswith("/status")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(url: str, relay_id: str = "r1") -> dict[str, Any] | None:
    """What a newcomer to the broker learns about the relay (the retained status)."""
    listener = Listener(url, relay_id)
    time.sleep(0.3)
    statuses = [s for s, retained in listener.statuses() if retained]
    listener.close()
    return statuses[-1] if statuses else None


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


def make_relay(url: str, radio: FakeRadio, log: Log | None = None, **timing: Any) -> Relay:
    log = log or Log()
    broker = BrokerURL.parse(url)
    uplink = Uplink(broker, VENUE, "r1", log, retry_max_s=1)
    timing = {"backoff_min_s": 0.05, "backoff_max_s": 1.0, "silence_s": 10.0, **timing}
    return Relay(
        broker, VENUE, "r1", scanner=radio.factory, timing=Timing(**timing), log=log, uplink=uplink
    )


@contextmanager
def running(relay: Relay) -> Iterator[Relay]:
    errors: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(relay.run())
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.request_stop()
        thread.join(15)
    assert not thread.is_alive(), "the relay did not stop"
    if errors:
        raise errors[0]


def connected(relay: Relay) -> Callable[[], bool]:
    return lambda: relay.uplink.connected


# -- parsing, dedup, batch encoding ---------------------------------------------


def test_firmware_adverts_parsed_by_bumble_give_the_report_and_its_dedup_key() -> None:
    raw = advert(1, 4321)
    _, adv = bleak_objects(raw)
    got = parse_advert(adv.manufacturer_data)
    r = packet.decode(report(1, 4321))
    assert got == (report(1, 4321), (r.onair, r.seq))  # the seq on air: counter + epoch offset


def test_dedup_cache_is_bounded_and_forgets_after_its_ttl() -> None:
    now = [0.0]
    cache = DedupCache(ttl_s=5.0, max_entries=1000, clock=lambda: now[0])
    assert not cache.seen((1, 7)) and cache.seen((1, 7)) and not cache.seen((1, 8))
    for i in range(50_000):
        cache.seen((i, 0))
    assert len(cache) == 1000
    now[0] = 4.9
    assert cache.seen((49_999, 0))
    now[0] = 5.1
    assert not cache.seen((49_999, 0))  # expired: heard again as new
    assert len(cache) == 1


def test_batches_split_where_one_batch_cannot_hold_the_records() -> None:
    t0 = 1_800_000_000_000
    records = [(report(0, i), -50, t0 + i) for i in range(packet.BATCH_MAX + 10)]
    records.append((report(0, 1), -51, t0 + 200_000))  # a 2-minute stall: past the uint16 offset
    records.append((report(0, 2), -52, t0 + 199_000))  # the wall clock stepped back
    batches = encode_batches(records)
    assert len(batches) == 4
    assert [rec for b in batches for rec in packet.decode_batch(b)] == records
    assert encode_batches([]) == []


def test_the_forwarding_policy_waits_for_the_cadence_unless_an_onset_is_pending() -> None:
    now = [100.0]
    fwd = Forwarder(Timing(flush_s=0.05), clock=lambda: now[0])
    data = {packet.COMPANY_ID: report(0, 1)}
    assert fwd.hear(data, -200, 1) is False  # a plain report: no hurry
    assert fwd.hear(data, -60, 2) is False and fwd.stats.duplicates == 1
    now[0] += 0.049
    assert not fwd.due()
    now[0] += 0.002
    assert fwd.due()
    batches = fwd.take()
    assert [packet.decode_batch(b) for b in batches] == [[(report(0, 1), -128, 1)]]
    assert fwd.take() == [] and not fwd.due()  # the cadence restarts from the take
    onset = bytes(packet.encode(KEYS[1], EPOCH, 9, 250, 90, 95, flags=packet.FLAG_EVENT))
    now[0] += 0.001
    assert fwd.hear({packet.COMPANY_ID: onset}, -50, 3) is True
    taken_at = now[0] - 0.001
    assert not fwd.due() and fwd.early_at() == pytest.approx(taken_at + EVENT_GAP_S)
    now[0] += EVENT_GAP_S
    assert fwd.due() and len(fwd.take()) == 1 and not fwd.onset_waiting
    assert fwd.hear({0x004C: b"\x02\x15"}, -50, 4) is False and fwd.stats.ignored == 1
    assert fwd.hear({packet.COMPANY_ID: b"junk"}, -50, 4) is False and fwd.stats.malformed == 1


# -- end to end through Mosquitto -------------------------------------------------


def test_firmware_adverts_reach_the_broker_as_batches_with_rssi(mosquitto: Mosquitto) -> None:
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(make_relay(mosquitto.url, radio)) as relay:
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        before = time.time_ns() // 1_000_000
        for band, rssi in ((0, -41), (1, -67), (2, -90)):
            radio.send(advert(band, 100 + band), rssi, f"C0:FF:EE:00:00:0{band}")
        wait_until(lambda: len(listener.records()) >= 3, what="3 records")
        after = time.time_ns() // 1_000_000
    listener.close()
    got = listener.records()
    assert sorted((r, rssi) for r, rssi, _ in got) == sorted(
        [(report(0, 100), -41), (report(1, 101), -67), (report(2, 102), -90)]
    )
    key_of = {packet.decode(report(b, 0)).onair: KEYS[b] for b in range(3)}
    for rep, _, arrival in got:
        assert before <= arrival <= after
        assert packet.verify(rep, key_of[packet.decode(rep).onair])  # the band's bytes, untouched
    assert relay.stats.forwarded == 3 and relay.stats.batches >= 1


def test_batches_carry_every_report_once_and_leave_only_when_not_empty(
    mosquitto: Mosquitto,
) -> None:
    # counts, not timings (the cadence's timing is the latency bench's business)
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(make_relay(mosquitto.url, radio)) as relay:
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        for seq in range(300):  # a band every 5 ms
            radio.send(advert(seq % 3, seq))
            time.sleep(0.005)
        wait_until(lambda: len(listener.records()) == 300, what="every report")
        n_batches = len(listener.batches())
        time.sleep(0.5)  # nothing on the air: nothing may be published
        assert len(listener.batches()) == n_batches
    listener.close()
    batches = listener.batches()
    assert all(recs for _, recs in batches)
    sent = [report(seq % 3, seq) for seq in range(300)]
    assert [r for _, recs in batches for r, _, _ in recs] == sent  # each once, in the order heard
    assert relay.stats.batches == len(batches)


def test_reports_wait_for_the_flush_and_go_out_together(mosquitto: Mosquitto) -> None:
    # with a cadence that never comes round in this test, 30 reports wait; an
    # onset then takes all of them out in one batch: batching is by count,
    # whatever the machine's speed
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(make_relay(mosquitto.url, radio, flush_s=3600.0)) as relay:
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        time.sleep(0.3)  # past the cadence's first flush
        for seq in range(30):
            radio.send(advert(seq % 3, seq))
        wait_until(lambda: relay.stats.forwarded >= 30, what="30 reports heard")
        assert listener.batches() == []
        onset = packet.encode(KEYS[1], EPOCH, 700, 250, 90, 95, flags=packet.FLAG_EVENT)
        radio.send(bytes(packet.adv_payload(onset)))
        wait_until(lambda: len(listener.records()) == 31, what="the onset's batch")
        time.sleep(0.3)
    listener.close()
    batches = listener.batches()
    assert len(batches) == 1
    assert [r for r, _, _ in batches[0][1]] == [report(seq % 3, seq) for seq in range(30)] + [onset]


def test_a_reaction_onset_goes_out_at_once_not_at_the_next_flush(mosquitto: Mosquitto) -> None:
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(
        make_relay(mosquitto.url, radio, flush_s=6.0)
    ) as relay:  # a slow cadence, to see it
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        time.sleep(0.3)  # past the cadence's first flush
        radio.send(advert(0, 1))  # an ordinary report waits for the next flush
        onset = packet.encode(KEYS[1], EPOCH, 7, 250, 90, 95, flags=packet.FLAG_EVENT)
        radio.send(bytes(packet.adv_payload(onset)))
        wait_until(lambda: len(listener.records()) >= 2, what="the onset's batch", timeout=4.0)
        # the early batch takes what was pending too: nothing waits behind an onset
        assert sorted(packet.decode(r[0]).seq for r in listener.records()) == sorted(
            packet.decode(r).seq for r in (report(0, 1), onset)
        )
    listener.close()


def test_repeated_reports_are_dropped_and_a_new_seq_is_forwarded(mosquitto: Mosquitto) -> None:
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(make_relay(mosquitto.url, radio)) as relay:
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        for i in range(5):  # band 0 repeats seq 7 on every advertising event
            radio.send(advert(0, 7), -50 - i)
        for _ in range(3):
            radio.send(advert(0, 8))
        for _ in range(2):  # another band may well be at seq 7 too
            radio.send(advert(1, 7), address="C0:FF:EE:00:00:02")
        wait_until(lambda: relay.stats.heard == 10, what="10 adverts")
        wait_until(lambda: len(listener.records()) >= 3, what="3 records")
        time.sleep(0.2)
    listener.close()
    assert sorted(r for r, _, _ in listener.records()) == sorted(
        [report(0, 7), report(0, 8), report(1, 7)]
    )
    assert (relay.stats.forwarded, relay.stats.duplicates) == (3, 7)
    assert [rssi for r, rssi, _ in listener.records() if r == report(0, 7)] == [-50]


def _junk() -> list[bytes]:
    flags = bytes([2, 1, 6])

    def mfr(company: int, data: bytes) -> bytes:
        return flags + bytes([3 + len(data), 0xFF]) + struct.pack("<H", company) + data

    good = report(0, 1)
    no_interval = bytearray(good)  # every v2 flag bit has a meaning; a zero interval has none
    no_interval[{name: at for name, at, _code in packet.FIELDS}["interval"]] = 0
    beacon = packet.encode_beacon(packet.command_key(bytes(range(32))), 1_800_000_000, 500, 1, 3)
    return [
        mfr(0x004C, bytes([2, 0x15]) + bytes(21)),  # an iBeacon: ignored
        flags + bytes([5, 0x09]) + b"band",  # a name, no manufacturer data: ignored
        bytes(packet.adv_payload(beacon)),  # another relay's command beacon: ignored
        mfr(packet.COMPANY_ID, good[:10]),  # ours, truncated: malformed
        mfr(
            packet.COMPANY_ID, bytes([packet.VERSION + 1]) + good[1:]
        ),  # another version: malformed
        mfr(packet.COMPANY_ID, bytes(no_interval)),  # a zero interval: malformed
    ]


def test_foreign_and_junk_adverts_are_ignored_and_counted(mosquitto: Mosquitto) -> None:
    radio, listener = FakeRadio(), Listener(mosquitto.url)
    with running(make_relay(mosquitto.url, radio)) as relay:
        wait_until(radio.listening, what="scanning")
        wait_until(connected(relay), what="MQTT")
        for raw in _junk():
            radio.send(raw)
        device, adv = bleak_objects(advert(0, 1))  # a backend handing over a wrong type
        junk: Any = {packet.COMPANY_ID: None}
        radio.send_objects(device, adv._replace(manufacturer_data=junk))
        radio.send(advert(2, 9))
        wait_until(lambda: relay.stats.heard == 8, what="8 adverts")
        wait_until(lambda: len(listener.records()) >= 1, what="the one good report")
        time.sleep(0.2)
    listener.close()
    assert [r for r, _, _ in listener.records()] == [report(2, 9)]
    s = relay.stats
    assert (s.ignored, s.malformed, s.forwarded) == (3, 4, 1)


# -- keeping the scanner alive ----------------------------------------------------


def test_bluez_errors_restart_the_scanner_with_growing_backoff(mosquitto: Mosquitto) -> None:
    errors: list[BaseException] = [
        BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"]),
        BleakError("org.bluez.Error.InProgress: discovery already in progress"),
        BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"]),
        BleakError("adapter 'hci0' not found"),  # unplugged: fatal only at the very first start
    ]
    radio, log, listener = FakeRadio(fail_starts=errors), Log(), Listener(mosquitto.url)
    relay = make_relay(mosquitto.url, radio, log, backoff_min_s=0.1, backoff_max_s=10.0)
    with running(relay):
        wait_until(radio.listening, what="scanning after 4 failures")
        radio.send(advert(0, 1))
        wait_until(lambda: len(listener.records()) == 1, what="a report after the restarts")
    listener.close()
    gaps = [b - a for a, b in zip(radio.starts, radio.starts[1:], strict=False)]
    assert len(radio.starts) == 5 and relay.stats.restarts == 4
    for n, gap in enumerate(gaps):  # jittered in [d/2, d] around d = 0.1 s * 2^n
        assert 0.1 * 2**n / 2 - 0.01 <= gap <= 0.1 * 2**n + 1.0, gaps
    assert log.count("restarting the scanner") == 4
    assert log.count("InProgress") == 2 and log.count("not found") == 1
    assert not any("Traceback" in line or "\n" in line for line in log.lines)


def test_a_scanner_gone_silent_is_restarted_with_backoff(mosquitto: Mosquitto) -> None:
    radio, log, listener = FakeRadio(deaf_sessions={1, 2}), Log(), Listener(mosquitto.url)
    relay = make_relay(mosquitto.url, radio, log, silence_s=0.3, backoff_min_s=0.2)
    stop = threading.Event()

    def band() -> None:  # keeps advertising throughout, as real bands do
        seq = 0
        while not stop.is_set():
            radio.send(advert(0, seq))
            seq += 1
            time.sleep(0.02)

    sender = threading.Thread(target=band, daemon=True)
    with running(relay):
        sender.start()
        wait_until(lambda: len(listener.records()) >= 5, what="reports before BlueZ stalls")
        radio.go_deaf()  # BlueZ stops reporting, without an error
        wait_until(lambda: len(radio.starts) == 4 and radio.listening(), what="4th scanner")
        restarted = time.time() * 1000
        wait_until(
            lambda: any(a > restarted for _, _, a in listener.records()),
            what="reports after the restart",
        )
        stop.set()
    sender.join()
    listener.close()
    assert relay.stats.restarts == 3 and log.count("no advert for 0.3 s") == 3
    # Silence (0.3 s) then backoff: reset after a scanner that heard bands, doubling
    # after the deaf ones.  A restart without backoff would take 0.3 s each time.
    gaps = [b - a for a, b in zip(radio.starts[1:], radio.starts[2:], strict=False)]
    assert gaps[0] >= 0.3 + 0.2 - 0.01 and gaps[1] >= 0.3 + 0.4 - 0.01, gaps


# -- status, last will, broker outages -----------------------------------------------


def test_status_is_retained_online_and_offline_after_a_clean_stop(mosquitto: Mosquitto) -> None:
    radio = FakeRadio()
    t0 = int(time.time())
    with running(make_relay(mosquitto.url, radio)) as relay:
        wait_until(connected(relay), what="MQTT")
        wait_until(lambda: retained_status(mosquitto.url) is not None, what="status")
        online = retained_status(mosquitto.url)
    assert online is not None and online["state"] == "online" and online["relay"] == "r1"
    assert t0 <= online["since"] <= time.time()
    offline = retained_status(mosquitto.url)
    assert offline is not None and offline["state"] == "offline"
    assert offline["reason"] == "shutdown"


def test_a_stale_offline_status_is_corrected_while_running(mosquitto: Mosquitto) -> None:
    radio, log = FakeRadio(), Log()
    with running(make_relay(mosquitto.url, radio, log)) as relay:
        wait_until(connected(relay), what="MQTT")
        wait_until(lambda: retained_status(mosquitto.url) is not None, what="status")
        # What the broker does when an old connection of this relay times out late.
        stale = json.dumps({"state": "offline", "relay": "r1", "since": 0, "reason": "lost"})
        pub = make_client(BrokerURL.parse(mosquitto.url))
        pub.connect("127.0.0.1", mosquitto.port)
        pub.loop_start()
        pub.publish(
            topic(VENUE, "relay", "r1", "status"), stale, qos=1, retain=True
        ).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        wait_until(
            lambda: (retained_status(mosquitto.url) or {}).get("state") == "online",
            what="online again",
        )
    assert log.count("publishing online again") == 1


def test_broker_down_at_start_then_up_lets_batches_flow(mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    radio, log = FakeRadio(), Log()
    with running(make_relay(mosquitto.url, radio, log)) as relay:
        wait_until(radio.listening, what="scanning without a broker")
        radio.send(advert(0, 1))
        wait_until(lambda: relay.stats.batches_dropped >= 1, what="a dropped batch")
        time.sleep(2.5)  # several reconnect attempts
        assert log.count("unreachable") == 1, log.lines
        mosquitto.start()
        wait_until(connected(relay), timeout=15, what="reconnect")
        listener = Listener(mosquitto.url)
        radio.send(advert(0, 2))
        wait_until(lambda: len(listener.records()) >= 1, what="a batch after the broker came")
        assert (retained_status(mosquitto.url) or {}).get("state") == "online"
    listener.close()
    assert [r for r, _, _ in listener.records()] == [report(0, 2)]
    assert relay.stats.batches_dropped >= 1


def test_broker_restart_mid_run_republishes_status_and_batches_resume(mosquitto: Mosquitto) -> None:
    radio, log = FakeRadio(), Log()
    with running(make_relay(mosquitto.url, radio, log)) as relay:
        wait_until(connected(relay), what="MQTT")
        wait_until(radio.listening, what="scanning")
        mosquitto.stop()  # no persistence: the broker forgets the retained status
        wait_until(lambda: not relay.uplink.connected, what="the relay to notice")
        radio.send(advert(1, 1))
        wait_until(lambda: relay.stats.batches_dropped >= 1, what="a dropped batch")
        mosquitto.start()
        wait_until(connected(relay), timeout=15, what="reconnect")
        wait_until(
            lambda: (retained_status(mosquitto.url) or {}).get("state") == "online",
            what="the status republished",
        )
        listener = Listener(mosquitto.url)
        radio.send(advert(1, 2))
        wait_until(lambda: len(listener.records()) >= 1, what="batches again")
    listener.close()
    assert log.count("lost the broker") == 1 and log.count("reconnected") == 1


def test_batches_are_dropped_not_queued_when_the_broker_stops_reading(mosquitto: Mosquitto) -> None:
    log = Log()
    uplink = Uplink(BrokerURL.parse(mosquitto.url), VENUE, "r1", log, max_unsent=20)
    uplink.start()
    wait_until(lambda: uplink.connected, what="MQTT")
    pid = mosquitto._proc.pid if mosquitto._proc else 0  # Mosquitto has no pause() of its own
    os.kill(pid, signal.SIGSTOP)  # alive but not reading: the socket fills up
    try:
        payload = bytes(200_000)
        results = [uplink.send(payload) for _ in range(500)]  # 100 MB if nothing were dropped
        assert not all(results) and uplink.unsent <= 20
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: uplink.unsent == 0, what="the backlog to drain")
    assert uplink.send(payload)
    uplink.close()


# -- the real command ------------------------------------------------------------


def _cli(url: str, broker_from_env: bool = False) -> subprocess.Popen[str]:
    """`crowdpulse relay` in its own process, the fake radio injected through its API."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    args = ["--venue", VENUE, "--relay-id", "r1", "--status-every", "1"]
    if broker_from_env:  # how a systemd unit keeps the password out of `ps`
        env["CROWDPULSE_BROKER"] = url
    else:
        args += ["--broker", url]
    return subprocess.Popen(
        [sys.executable, str(TESTS / "relay_on_air.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_relay_killed_is_marked_offline_by_its_last_will(mosquitto: Mosquitto) -> None:
    listener = Listener(mosquitto.url)
    proc = _cli(mosquitto.url)
    try:
        wait_until(lambda: len(listener.records()) >= 6, timeout=30, what="batches from the CLI")
        assert [s["state"] for s, _ in listener.statuses()] == ["online"]
        proc.kill()
        proc.wait(10)
        wait_until(lambda: len(listener.statuses()) == 2, what="the last will")
    finally:
        proc.kill()
        proc.communicate()
        listener.close()
    will = listener.statuses()[-1][0]
    assert will["state"] == "offline" and will["reason"] == "lost" and will["relay"] == "r1"
    assert (retained_status(mosquitto.url) or {}).get("state") == "offline"
    rssi = {packet.decode(r).onair: rssi for r, rssi, _ in listener.records()}
    assert sorted(rssi.values()) == [-60, -50, -40]
    reps = [r for r, _, _ in listener.records()]
    assert len(reps) == len(set(reps))  # every band repeats each report 3 times on air


def test_cli_relay_sigterm_publishes_offline_and_exits_0(mosquitto: Mosquitto) -> None:
    listener = Listener(mosquitto.url)
    proc = _cli(mosquitto.url, broker_from_env=True)
    try:
        wait_until(lambda: len(listener.records()) >= 3, timeout=30, what="batches from the CLI")
        time.sleep(1.2)  # one periodic status line
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        listener.close()
    assert proc.returncode == 0, err
    assert [s["state"] for s, _ in listener.statuses()] == ["online", "offline"]
    assert listener.statuses()[-1][0]["reason"] == "shutdown"
    assert "Traceback" not in err
    assert "heard" in err and "duplicates" in err and "scanner restarts 0" in err


def test_cli_expected_failures_are_one_line_and_exit_2(mosquitto: Mosquitto) -> None:
    cases = [
        ["--broker", "http://nope", "--venue", VENUE],
        ["--broker", mosquitto.url, "--venue", "Not/A/Venue"],
    ]
    if sys.platform.startswith("linux"):  # the real bleak backend: no BlueZ, or no hci99
        cases.append(["--broker", mosquitto.url, "--venue", VENUE, "--adapter", "hci99"])
    for args in cases:
        out = subprocess.run([EXE, "relay", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr
    help_text = subprocess.run([EXE, "relay", "--help"], capture_output=True, text=True).stdout
    assert "--adapter" in help_text and "fake" not in help_text
