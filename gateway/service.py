"""`crowdpulse gateway`: the Engine wired to MQTT, SQLite, HTTP and WebSocket.

Threads: paho's network thread ingests relay batches (numba releases the GIL);
a drain thread folds direct band reports in every 10 ms; a tick thread scores
at tick_hz, publishes retained sentiment, stores one row per zone per second
and hands the snapshot to the web server's event loop.  With a share group,
several workers split the broker's traffic ($share/<group>/...) and send each
other the reports they accepted, so every worker ends with the same state.
The threads' loops are in gateway/loops.py, and what tells why the broker
connection is not right in gateway/brokerwatch.py: both are mixins of Gateway.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from crowdpulse.gateway import (
    aggregate,
    brokerprobe,
    delivery,
    homeassistant,
    rejections,
    sentiment,
)
from crowdpulse.gateway.brokerwatch import BrokerWatch
from crowdpulse.gateway.engine import Engine, now_ms
from crowdpulse.gateway.errors import InputErrors, LogCounter
from crowdpulse.gateway.linein import LineIn
from crowdpulse.gateway.loops import Loops
from crowdpulse.gateway.osc import OscOut, Reactions
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.selection import Selection
from crowdpulse.gateway.store import Store
from crowdpulse.gateway.venue import LINE_IN_ID, VenueConfig
from crowdpulse.mqtt import BrokerURL, make_client, topic
from wristband import packet

log = logging.getLogger("crowdpulse.gateway")
MAX_RELAYS = 1024  # relays the health remembers; an open broker may carry junk relay ids


class Gateway(BrokerWatch, Loops):
    def __init__(
        self,
        cfg: VenueConfig,
        broker: BrokerURL,
        ca_file: str | None = None,
        share_group: str | None = None,
        worker: str = "1",
    ) -> None:
        self.cfg = cfg
        self.broker = broker
        self.share_group = share_group
        self.worker = worker
        model = sentiment.Model(
            k_anonymity=cfg.k_anonymity,
            age_out_ms=int(cfg.age_out_s * 1000),
            zone_weights={z.name: z.weight for z in cfg.zones},
        )
        registry = Registry(cfg.venue_key, cfg.bands, [z.name for z in cfg.zones], cfg.references)
        self.engine = Engine(cfg.venue, registry, model, cfg.tick_hz)
        self.store = Store(cfg.db_path, cfg.retention_hours)
        self.store.describe(cfg.venue, cfg.retention_hours, cfg.k_anonymity, cfg.threshold)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.connected = threading.Event()
        self.stop_event = threading.Event()
        self.tick_ms: list[float] = []
        self.merged = 0
        self._direct: list[tuple[bytes | bytearray, int]] = []
        self._direct_lock = threading.Lock()
        self._batches: list[tuple[bytes | bytearray, int, bytes]] = []
        self._batch_cv = threading.Condition()
        self._urgent = threading.Event()  # a reaction's onset arrived: score it now
        self._reacting = threading.Event()  # a reaction was detected: score it without the gap
        self._reaction_active = False
        self.client = make_client(broker, f"crowdpulse-gateway-{cfg.venue}-{worker}", ca_file)
        self.client.reconnect_delay_set(1, 4)
        self.client.will_set(
            self.t("gateway", worker, "status"), json.dumps({"state": "offline"}), 1, True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._sub_lock = threading.Lock()
        self._unacked: set[int] = set()
        self._threads: list[threading.Thread] = []
        self.relays: dict[str, dict[str, Any]] = {}
        self.relay_bands = delivery.RelayBands(len(registry))  # how many bands each relay hears
        # what /api/health and the console tell (gateway/health.py)
        self.ca_file = ca_file
        self.relay_batch_at: dict[str, float] = {}  # relay -> monotonic time of its last batch
        self.direct_at = 0.0  # monotonic time of the last report a band published itself
        self.accepted_at = 0.0  # monotonic time the accepted count last grew
        self._accepted = 0
        self.rejections = rejections.RejectionLog()
        self.broker_problem: brokerprobe.Check | None = None
        self._said_problem, self._said_at = "", 0.0
        self._diagnosing = threading.Lock()
        self._echo = threading.Event()  # our own status came back: the ACL lets us write and read
        self._status_payload = b""
        self.client.on_connect_fail = self._on_connect_fail
        self.errors = InputErrors()
        self.log_counts = LogCounter()
        logging.getLogger().addHandler(self.log_counts)  # everything the process logs
        self._tick_times: deque[tuple[float, float, float]] = (
            deque()
        )  # (monotonic s, ms, CPU ms), last minute
        self.selection = Selection(cfg, self._pub)
        self.listeners.append(self.selection.selector.on_sentiment)
        self.osc: OscOut | None = None
        if cfg.osc_targets:  # lights and visuals (docs/osc.md)
            self.osc = OscOut(
                cfg.venue,
                cfg.osc_targets,
                Reactions(registry.zone_of, [z.name for z in cfg.zones], cfg.k_anonymity),
            )
            self.listeners.append(self.osc.on_tick)
        # the retained band config is one message: the gateway owns all of it
        self.band_config: dict[str, Any] = {"event_over": True} if self.selection.event_over else {}
        self._config_checked = 0
        self.line_in: LineIn | None = None

    def _pub(self, parts: tuple[str, ...], payload: str, retain: bool) -> None:
        if parts == ("config",):
            self.set_band_config(json.loads(payload))
            return
        self.client.publish(self.t(*parts), payload, 1 if retain else 0, retain)

    def set_band_config(self, changes: dict[str, Any]) -> None:
        """Merge into the retained config every band follows (docs/protocol.md §5)."""
        merged = {**self.band_config, **changes}
        if merged != self.band_config:
            self.band_config = merged
            self.client.publish(self.t("config"), json.dumps(merged), 1, True)

    def _rate_control(self, at_ms: int) -> None:
        # every 5 s: cheap, and bands need no faster changes than that
        if at_ms - self._config_checked >= 5000:
            self._config_checked = at_ms
            self.set_band_config({"adv_interval_ms": self.engine.adv_interval_ms(at_ms)})

    def t(self, *parts: str) -> str:
        return topic(self.cfg.venue, *parts)

    def _sub(self, t: str) -> str:
        return f"$share/{self.share_group}/{t}" if self.share_group else t

    # -- MQTT -----------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        if rc.is_failure:
            self._problem(brokerprobe.refusal(rc, self.broker))
            return
        self._echo.clear()
        subs = [
            client.subscribe(
                [
                    (self._sub(self.t("relay", "+", "batch")), 0),
                    (self._sub(self.t("band", "+", "report")), 0),
                ]
            )[1],
            client.subscribe(
                [
                    (self.t("selector", "cmd"), 1),
                    (self.t("relay", "+", "status"), 1),
                    (self.t("gateway", self.worker, "status"), 1),
                ]
            )[1],
        ]
        if self.share_group:
            subs.append(client.subscribe(self.t("gateway", "accepted", "+"), 0)[1])
        with self._sub_lock:
            self._unacked = {mid for mid in subs if mid is not None}
        self._status_payload = json.dumps({"state": "online", "since": int(time.time())}).encode()
        client.publish(self.t("gateway", self.worker, "status"), self._status_payload, 1, True)
        threading.Thread(target=self._check_echo, daemon=True).start()
        if self.engine.last is not None:
            self._publish(self.engine.last)  # the retained state, again, after a broker restart
        self._publish_reaction()
        if self.band_config:
            client.publish(self.t("config"), json.dumps(self.band_config), 1, True)
        self._pub(("selector", "state"), json.dumps(self.selection.state()), True)
        if self.cfg.ha_discovery:
            self._discovery()
        self._problem(None)
        log.info("connected to %s", self.broker)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        # "connected" (the health check, the console) means the broker has
        # acknowledged every subscription: only then does nothing sent get lost
        with self._sub_lock:
            self._unacked.discard(mid)
            if not self._unacked:
                self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self._message(msg)
        except Exception as exc:  # whatever comes in, the network thread must live on
            self.errors.count("mqtt", "unhandled")
            log.error("message on %s not handled: %s", msg.topic, exc)

    def _message(self, msg: mqtt.MQTTMessage) -> None:
        # the raw topic bytes: decoding every topic to str costs more than the rest
        t: bytes = msg._topic  # noqa: SLF001
        if t.endswith(b"/report"):
            with self._direct_lock:
                self._direct.append((msg.payload, now_ms()))
            self.direct_at = time.monotonic()
            return
        parts = t.split(b"/")
        if len(parts) < 5:
            return
        if parts[3] == b"relay" and parts[-1] == b"batch":
            self._queue_batch(parts[4], msg.payload)
        elif parts[3] == b"selector" and parts[-1] == b"cmd":
            refused = self.selection.on_mqtt(msg)
            if refused:
                self.errors.count("mqtt", refused)
        elif parts[3] == b"relay" and parts[-1] == b"status":
            self._relay_status(parts[4].decode(errors="replace"), msg.payload)
        elif parts[3] == b"gateway" and parts[-1] == b"status":
            if bytes(msg.payload) == self._status_payload:
                self._echo.set()
        elif (
            parts[3] == b"gateway" and parts[4] == b"accepted" and parts[-1] != self.worker.encode()
        ):
            self._merge_accepted(bytes(msg.payload))

    def _queue_batch(self, relay_id: bytes, payload: bytes | bytearray) -> None:
        relay = relay_id.decode(errors="replace")
        # made-up relay ids must not grow the map without bound
        if relay in self.relay_batch_at or len(self.relay_batch_at) < MAX_RELAYS:
            self.relay_batch_at[relay] = time.monotonic()
        # decoding and checking happen on the ingest thread, mostly in
        # numba code that releases the GIL, while this thread keeps reading
        with self._batch_cv:
            self._batches.append((payload, now_ms(), relay_id))
            self._batch_cv.notify()

    def _merge_accepted(self, payload: bytes) -> None:
        """Another worker's accepted reports, merged into this one's state."""
        if len(payload) % aggregate.RECORD.itemsize != 0:
            self.errors.count("mqtt", "accepted_bad_size")
            return
        records = np.frombuffer(payload, aggregate.RECORD)
        merged, bad = self.engine.merge(records)
        self.merged += merged
        if bad:
            self.errors.count("mqtt", "accepted_bad_record")

    def _relay_status(self, relay: str, payload: bytes | bytearray) -> None:
        try:
            status = json.loads(payload)
        except ValueError:
            self.errors.count("mqtt", "status_not_json")
            return
        state = status.get("state") if isinstance(status, dict) else None
        if not isinstance(state, str) or len(state) > 32:
            self.errors.count("mqtt", "status_bad")
            return
        if relay not in self.relays and len(self.relays) >= MAX_RELAYS:
            self.errors.count("mqtt", "status_too_many_relays")  # a flood of made-up relay ids
            return
        self.relays[relay] = {"state": state}

    def _publish(self, snap: dict[str, Any]) -> None:
        self.client.publish(
            self.t("sentiment"),
            json.dumps({k: v for k, v in snap.items() if k != "zones"}),
            0,
            True,
        )
        for z in snap["zones"]:
            self.client.publish(
                self.t("sentiment", z["zone"]), json.dumps({**z, "t": snap["t"]}), 0, True
            )

    def _publish_reaction(self) -> None:
        self.client.publish(self.t("reaction"), json.dumps(self.engine.reaction_state()), 0, True)

    def _discovery(self) -> None:
        for zone in [None, *[z.name for z in self.cfg.crowd_zones]]:
            t, config = homeassistant.discovery(
                self.cfg.venue, zone, self.cfg.ha_prefix, self.t("gateway", self.worker, "status")
            )
            self.client.publish(t, config, 1, True)

    def _home_assistant(self, snap: dict[str, Any]) -> None:
        for zone, payload in homeassistant.states(snap):
            self.client.publish(homeassistant.state_topic(self.cfg.venue, zone), payload, 1, True)

    def _each_second(self, snap: dict[str, Any]) -> None:
        """Once a second: history, Home Assistant, and the health counters."""
        try:
            self.store.write(snap)
        except Exception as exc:  # a full disk must not stop the scores
            log.error("cannot store history: %s", exc)
        if self.cfg.ha_discovery:
            self._home_assistant(snap)
        c = self.engine.counters()
        now = time.monotonic()
        if c["accepted"] != self._accepted:
            self._accepted, self.accepted_at = c["accepted"], now
        self.rejections.update(c["rejected"], now)
        rejections.log_due(self.rejections, log, now)

    # -- threads (their loops: gateway/loops.py) ------------------------------------
    def start(self) -> Gateway:
        self.engine.warm()
        self.selection.start()
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        for fn in (self._ingest, self._drain, self._ticks):
            th = threading.Thread(target=fn, daemon=True)
            th.start()
            self._threads.append(th)
        if self.cfg.line_in is not None:
            self.line_in = LineIn(
                self.cfg.line_in,
                packet.band_key(self.cfg.venue_key, LINE_IN_ID),
                self._line_in_report,
            )
            self.line_in.start()
        return self

    def _line_in_report(self, report: bytes, arrival_ms: int) -> None:
        # the host's own reference band: straight to the drain, like a band's MQTT report
        with self._direct_lock:
            self._direct.append((report, arrival_ms))

    def stop(self) -> None:
        self.stop_event.set()
        self._urgent.set()
        if self.line_in is not None:
            self.line_in.stop()
        for th in self._threads:
            th.join(2)
        if self.connected.is_set():
            self.client.publish(
                self.t("gateway", self.worker, "status"), json.dumps({"state": "offline"}), 1, True
            ).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.selection.stop()
        self.store.close()
        logging.getLogger().removeHandler(self.log_counts)

    def metrics_state(self) -> dict[str, Any]:
        c = self.engine.counters()
        ticks = sorted(self.tick_ms)
        c["tick_p99_ms"] = ticks[int(0.99 * (len(ticks) - 1))] if ticks else 0.0
        c["tick_last_ms"] = self.tick_ms[-1] if self.tick_ms else 0.0
        last = list(self._tick_times)
        for key, col in (("tick_p99_1m_ms", 1), ("tick_cpu_p99_1m_ms", 2)):
            minute = sorted(row[col] for row in last)
            c[key] = minute[int(0.99 * (len(minute) - 1))] if minute else 0.0
        c["log"] = dict(self.log_counts.counts)
        c["connected"] = self.connected.is_set()
        return c


def registry_only(cfg: VenueConfig) -> Registry:
    return Registry(cfg.venue_key, cfg.bands, [z.name for z in cfg.zones], cfg.references)
