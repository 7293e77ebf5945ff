"""The selector inside the gateway: fed every tick, driven over HTTP, WebSocket
and MQTT, told what plays (console, its own queue, or a player: MPD, the
simulated deck, Mixxx), and publishing its state for anyone to read
(docs/protocol.md §8)."""

from __future__ import annotations

import json
import logging
from typing import Any

import paho.mqtt.client as mqtt

from crowdpulse.gateway.venue import VenueConfig
from crowdpulse.selector.flow import Flow
from crowdpulse.selector.library import ImportResult, Track, load, sample_library
from crowdpulse.selector.picker import ActionError, Selector
from crowdpulse.selector.playback import Playback
from crowdpulse.selector.player import Player
from crowdpulse.selector.rules import Rules
from crowdpulse.selector.store import SelectorStore

log = logging.getLogger("crowdpulse.gateway")


def player_for(cfg: VenueConfig, tracks: list[Track]) -> Player | None:
    """The venue's player backend, if it has one (docs/selector.md)."""
    if cfg.player_mpd is not None:
        from crowdpulse.selector.player_mpd import MpdPlayer

        return MpdPlayer(*cfg.player_mpd, tracks, note=cfg.player_note)
    if cfg.player_deck:
        from crowdpulse.selector.deck import SimulatedDeck

        return SimulatedDeck(tracks, note=cfg.player_note)
    if cfg.mixxx_db:
        from crowdpulse.selector.player_mixxx import MixxxPlayer

        return MixxxPlayer(cfg.mixxx_db, tracks)
    return None


def library_for(cfg: VenueConfig) -> ImportResult:
    if cfg.library is None:
        return ImportResult(sample_library(), [])
    return load(cfg.library)


class Selection:
    def __init__(self, cfg: VenueConfig, publish: Any) -> None:
        self.cfg = cfg
        self.publish = publish  # (topic suffix parts..., payload, retain) -> None
        lib = library_for(cfg)
        for err in lib.errors[:20]:
            log.warning("library: %s", err)
        if len(lib.errors) > 20:
            log.warning("library: %d more rows rejected", len(lib.errors) - 20)
        log.info("library: %d tracks", len(lib.tracks))
        self.store = SelectorStore(cfg.db_path)
        self.selector = Selector(
            lib.tracks,
            self.store,
            Rules(bpm_window=cfg.bpm_window, artist_separation_s=cfg.artist_separation_min * 60),
            Flow(threshold=cfg.threshold, dwell_s=cfg.dwell_s, cooldown_s=cfg.cooldown_s),
            mode=cfg.selector_mode,
        )
        # the end of the event outlives a restart: bands must not be told to listen again
        self.event_over = bool(self.store.load().get("event_over", False))
        self.selector.listeners.append(self._publish_state)
        player = player_for(cfg, lib.tracks)
        self.playback = Playback(self.selector, player) if player is not None else None

    def start(self) -> None:
        if self.playback is not None:
            self.playback.start()

    def stop(self) -> None:
        if self.playback is not None:
            self.playback.stop()
        self.store.close()

    def state(self) -> dict[str, Any]:
        s = self.selector.state()
        s["event"] = {
            "window": list(self.cfg.event_window) if self.cfg.event_window else None,
            "over": self.event_over,
        }
        s["privacy"] = {
            "retention_hours": self.cfg.retention_hours,
            "k_anonymity": self.cfg.k_anonymity,
        }
        s["player"] = self.playback.status() if self.playback is not None else None
        return s

    def _publish_state(self, _snap: dict[str, Any]) -> None:
        self.publish(("selector", "state"), json.dumps(self.state()), True)

    def act(self, action: dict[str, Any], who: str = "artist") -> None:
        """One action from the console, the API or MQTT; ActionError if it cannot be done."""
        if action.get("action") == "event_over":
            self.event_over = True
            self.store.save({"event_over": True})
            self.publish(("config",), json.dumps({"event_over": True}), True)
            self.publish(("cmd",), json.dumps({"cmd": "event_over"}), False)
            self.selector.log(who, "event over", "bands stop listening until re-provisioned")
            self.selector.notify()
            return
        self.selector.act(action, who)

    def on_mqtt(self, msg: mqtt.MQTTMessage) -> str | None:
        """One action from selector/cmd; returns why it was refused (for /metrics), or None."""
        try:
            action = json.loads(msg.payload)
        except ValueError:
            log.warning("selector/cmd: not JSON")
            return "cmd_not_json"
        if not isinstance(action, dict):
            log.warning("selector/cmd: an action is a JSON object")
            return "cmd_not_object"
        try:
            self.act(action, who=str(action.get("who", "mqtt"))[:32])
        except ActionError as exc:
            log.warning("selector/cmd: %s", exc)
            return "cmd_refused"
        return None
