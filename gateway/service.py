"""`crowdpulse gateway`: the Engine wired to MQTT, SQLite, HTTP and WebSocket.

Threads: paho's network thread ingests relay batches (numba releases the GIL);
a drain thread folds direct band reports in every 10 ms; a tick thread scores
at tick_hz, publishes retained sentiment, stores one row per zone per second
and hands the snapshot to the web server's event loop.  With a share group,
several workers split the broker's traffic ($share/<group>/...) and send each
other the reports they accepted, so every worker ends with the same state.
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
import numpy.typing as npt
import paho.mqtt.client as mqtt

from crowdpulse.gateway import (
    aggregate,
    brokerprobe,
    delivery,
    homeassistant,
    rejections,
    sentiment,
)
from crowdpulse.gateway.engine import Engine, now_ms
from crowdpulse.gateway.errors import InputErrors, LogCounter
from crowdpulse.gateway.linein import LineIn
from crowdpulse.gateway.osc import OscOut, Reactions
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.selection import Selection
from crowdpulse.gateway.store import Store
from crowdpulse.gateway.venue import LINE_IN_ID, VenueConfig
from crowdpulse.mqtt import BrokerURL, make_client, topic
from wristband import packet

log = logging.getLogger("crowdpulse.gateway")
URGENT_GAP_S = 0.02  # onset ticks: at most 50 a second, whatever the crowd does
MAX_RELAYS = 1024  # relays the health remembers; an open broker may carry junk relay ids


class Gateway:
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
    def _problem(self, check: brokerprobe.Check | None) -> None:
        """Record why the broker connection is not right, and log it (once per change,
        or once a minute while it lasts)."""
        self.broker_problem = check
        if check is None:
            self._said_problem = ""
            return
        line = check.what + (f"; fix: {check.fix}" if check.fix else "")
        now = time.monotonic()
        if line != self._said_problem or now - self._said_at >= 60:
            self._said_problem, self._said_at = line, now
            log.warning("%s", line)

    def _on_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        # paho says only that it failed: find out why, in the background, one probe at a time
        if self._diagnosing.acquire(blocking=False):
            threading.Thread(target=self._diagnose, daemon=True).start()

    def _diagnose(self) -> None:
        try:
            res, _ = brokerprobe.probe(self.broker, self.ca_file, self.cfg.venue, acl=False)
            if not self.connected.is_set() and res.problem is not None:
                self._problem(res.problem)
            self.stop_event.wait(10)  # at most one probe every 10 s while the broker is away
        finally:
            self._diagnosing.release()

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

    def _check_echo(self) -> None:
        """The gateway's own status must come back to it; if not, the ACL is wrong."""
        if (
            self._echo.wait(brokerprobe.TIMEOUT_S)
            or self.stop_event.is_set()
            or not self.connected.is_set()
        ):
            return
        user = self.broker.username or "(anonymous)"
        self._problem(
            brokerprobe.Check(
                "fail",
                f"the ACL does not let {user} write and read "
                f"{self.t('gateway', self.worker, 'status')}",
                f"render the ACL for venue {self.cfg.venue} with gateway user {user} "
                "(crowdpulse deploy acl), "
                "install it, systemctl reload mosquitto",
            )
        )

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, _rc: object, _p: object) -> None:
        # "connected" (the health check, the console) means the broker has
        # acknowledged every subscription: only then does nothing sent get lost
        with self._sub_lock:
            self._unacked.discard(mid)
            if not self._unacked:
                self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: Any, _p: object) -> None:
        self.connected.clear()
        if self.stop_event.is_set():
            return
        if self.broker_problem is None:
            self._problem(
                brokerprobe.Check(
                    "fail",
                    f"broker connection lost ({rc}); reconnecting",
                    "crowdpulse doctor tells why if it does not come back",
                )
            )
        self._on_connect_fail(_c, _u)

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

    # -- threads ------------------------------------------------------------------
    def _ingest(self) -> None:
        while not self.stop_event.is_set():
            with self._batch_cv:
                while not self._batches and not self.stop_event.is_set():
                    self._batch_cv.wait(0.2)
                work, self._batches = self._batches, []
            for payload, at, relay in work:
                rec = self.engine.ingest_batch(payload, at)
                self.relay_bands.add(relay.decode(errors="replace")[:64], rec["band"], at)
                self._onset(rec)
                if self.share_group and len(rec):
                    self.client.publish(
                        self.t("gateway", "accepted", self.worker), rec.tobytes(), 0
                    )

    def _drain(self) -> None:
        while not self.stop_event.wait(0.01):
            with self._direct_lock:
                batch, self._direct = self._direct, []
            if batch:
                rec = self.engine.ingest_direct([b for b, _ in batch], [t for _, t in batch])
                self._onset(rec)
                if self.share_group and len(rec):
                    self.client.publish(
                        self.t("gateway", "accepted", self.worker), rec.tobytes(), 0
                    )

    def _onset(self, rec: npt.NDArray[np.void]) -> None:
        # bands flag the report that starts a reaction (a clap burst, a cheer
        # swell) and send it at once; waiting for the next tick would add up
        # to a whole tick period to the crowd-to-score latency
        flagged = len(rec) > 0 and bool((rec["flags"] & packet.FLAG_EVENT).any())
        if flagged and self.osc is not None:
            self.osc.reactions.add(rec[~self.engine.registry.is_reference[rec["band"]]])
        if self.engine.take_reaction():
            # the fast path (gateway/reaction.py): out on its own topic now, and a tick at once
            self._publish_reaction()
            self._reacting.set()
            self._urgent.set()
        elif flagged:
            self._urgent.set()

    def _wait_tick(self, due: float, last: float) -> None:
        """Until the next periodic tick, or sooner for an onset (never closer than URGENT_GAP_S)."""
        while not self.stop_event.is_set():
            left = due - time.monotonic()
            if left <= 0:
                return
            if self._urgent.wait(left):
                self._urgent.clear()
                if not self._reacting.wait(max(0.0, last + URGENT_GAP_S - time.monotonic())):
                    return
                self._reacting.clear()
                return

    def _ticks(self) -> None:
        period = 1.0 / self.cfg.tick_hz
        last_store = 0
        while not self.stop_event.is_set():
            start, cpu = time.perf_counter(), time.thread_time()
            snap = self.engine.tick()
            snap["relays"] = delivery.relay_rows(self.relays, self.relay_bands.counts(snap["t"]))
            took = 1000 * (time.perf_counter() - start)
            self.tick_ms = (self.tick_ms + [took])[-1000:]
            # the tick's own CPU time beside its wall time: on a shared machine
            # the wall time also counts the time the thread waited for a core
            self._tick_times.append((time.monotonic(), took, 1000 * (time.thread_time() - cpu)))
            while self._tick_times and self._tick_times[0][0] < time.monotonic() - 60.0:
                self._tick_times.popleft()
            self._publish(snap)
            if snap["reaction"]["active"] != self._reaction_active:  # a reaction ended (or began)
                self._reaction_active = snap["reaction"]["active"]
                self._publish_reaction()
            self._rate_control(snap["t"])
            if snap["t"] - last_store >= homeassistant.MIN_INTERVAL_MS:
                last_store = snap["t"]
                self._each_second(snap)
            for fn in list(self.listeners):
                fn(snap)
            last = time.monotonic()
            self._wait_tick(last + period - (time.perf_counter() - start), last)

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
