"""`crowdpulse doctor`'s ears: a few seconds of the venue's traffic, checked as
the gateway checks it.

Every relay batch and band report heard is run through a gateway Engine with
the venue's own bands and key (nothing is stored; nothing per band is kept
after the check).  The result is one line each for: the relays heard (and
their retained status), the bands heard per zone, the reports rejected by
reason with the likely cause, and reports published for another venue name.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from crowdpulse.gateway import rejections
from crowdpulse.gateway.brokerprobe import Check
from crowdpulse.gateway.engine import Engine, now_ms
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.venue import VenueConfig
from crowdpulse.mqtt import TOPIC_ROOT


class Listener:
    def __init__(self, cfg: VenueConfig) -> None:
        self.cfg = cfg
        self.registry = Registry(cfg.venue_key, cfg.bands, [z.name for z in cfg.zones])
        self.engine = Engine(cfg.venue, self.registry)
        self.lock = threading.Lock()
        self.bands_seen: set[int] = set()
        self.batches: collections.Counter[str] = collections.Counter()
        self.status: dict[str, str] = {}
        self.direct = 0
        self.other_venues: collections.Counter[str] = collections.Counter()
        self._last: tuple[str, bytes] = ("", b"")

    def on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 5 or "/".join(parts[:2]) != TOPIC_ROOT:
            return
        venue, kind, who, what = parts[2], parts[3], parts[4], parts[-1]
        if (kind, what) not in (("band", "report"), ("relay", "batch"), ("relay", "status")):
            return
        with self.lock:
            # MQTT 5: a message matching both the venue's `#` and the other-venue
            # wildcards comes twice, back to back; count it once
            seen = (msg.topic, bytes(msg.payload))
            if seen == self._last:
                return
            self._last = seen
            if venue != self.cfg.venue:
                if what != "status":
                    self.other_venues[venue] += 1
                return
            if what == "status":
                self.status[who] = _state(msg.payload)
                return
            if what == "batch":
                self.batches[who] += 1
                rec = self.engine.ingest_batch(bytes(msg.payload), now_ms())
            else:
                self.direct += 1
                rec = self.engine.ingest_direct([bytes(msg.payload)], [now_ms()])
            self.bands_seen.update(int(b) for b in np.unique(rec["band"]))

    def listen(self, client: mqtt.Client, seconds: float) -> None:
        root = TOPIC_ROOT
        client.on_message = self.on_message
        # the venue's own traffic comes through the probe's crowdpulse/v1/<venue>/# subscription;
        # other venues only where the ACL lets this user read them (an open demo broker)
        client.subscribe([(f"{root}/+/band/+/report", 0), (f"{root}/+/relay/+/batch", 0)])
        time.sleep(seconds)
        client.on_message = None

    def checks(self, seconds: float) -> list[Check]:
        with self.lock:
            return [
                self._relays(seconds),
                *self._zones(seconds),
                *self._rejected(),
                *self._others(),
            ]

    def _relays(self, seconds: float) -> Check:
        names = sorted(set(self.batches) | set(self.status))
        if not names:
            if self.direct:
                return Check(
                    "ok", f"no relay heard in {seconds:.0f} s (bands report over MQTT directly)"
                )
            return Check(
                "warn",
                f"no relay heard in {seconds:.0f} s, and none has a retained status",
                f"start `crowdpulse relay --venue {self.cfg.venue}` on each relay host "
                "(docs/relay.md), with its broker URL and --ca-file",
            )
        parts = [
            f"{r} ({self.status.get(r, 'no status')}, {self.batches[r]} batches)" for r in names
        ]
        silent = [r for r in names if not self.batches[r]]
        if silent:
            return Check(
                "warn",
                f"relays: {', '.join(parts)}",
                f"{', '.join(silent)} sent no batch: is it running, near bands, with "
                f"--venue {self.cfg.venue}? (journalctl -u crowdpulse-relay)",
            )
        return Check("ok", f"relays: {', '.join(parts)}")

    def _zones(self, seconds: float) -> list[Check]:
        n_zone = np.bincount(self.registry.zone_of, minlength=len(self.registry.zones))
        seen = (
            np.bincount(
                self.registry.zone_of[sorted(self.bands_seen)], minlength=len(self.registry.zones)
            )
            if self.bands_seen
            else np.zeros_like(n_zone)
        )
        out = []
        for i, z in enumerate(self.registry.zones):
            what = f"zone {z}: {seen[i]} of {n_zone[i]} bands heard in {seconds:.0f} s"
            if seen[i] == 0:
                out.append(
                    Check(
                        "warn",
                        what,
                        "are its bands on, inside the event window, and near a "
                        "relay (or on the band WLAN)? watch one with crowdpulse monitor",
                    )
                )
            elif seen[i] < self.cfg.k_anonymity:
                out.append(
                    Check(
                        "warn",
                        what,
                        f"a zone shows a score from {self.cfg.k_anonymity} bands "
                        "on (sentiment.k_anonymity)",
                    )
                )
            else:
                out.append(Check("ok", what))
        return out

    def _rejected(self) -> list[Check]:
        counts = self.engine.counters()["rejected"]
        out = []
        for reason, n in counts.items():
            if n and reason not in rejections.QUIET:
                out.append(
                    Check(
                        "fail" if rejections.serious(reason) else "warn",
                        "rejected " + rejections.describe(reason, n).split(": ", 1)[0],
                        rejections.describe(reason, n).split(": ", 1)[1],
                    )
                )
        if not out:
            out.append(
                Check("ok", f"no report rejected ({self.engine.counters()['accepted']} accepted)")
            )
        return out

    def _others(self) -> list[Check]:
        return [
            Check(
                "fail",
                f"{n} reports for venue '{v}', not '{self.cfg.venue}'",
                f"those bands (or relays) were set up with --venue {v}: flash them with "
                f"--config the venue file (or --venue {self.cfg.venue}); start relays with "
                f"--venue {self.cfg.venue}",
            )
            for v, n in self.other_venues.most_common()
        ]


def _state(payload: Any) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return "unreadable status"
    return str(data.get("state", "unknown")) if isinstance(data, dict) else "unknown"
