"""The gateway's health, told plainly: what `/api/health` returns and the console shows.

"live" means reports are flowing: connected to the broker and a report
accepted within FLOW_S.  A gateway that ticks with nothing coming in is not
live, whatever its web socket does.  Each problem is a line with its fix:
broker disconnected (and why: unreachable, TLS, login, ACL), no relay heard,
relays offline, reports rejected (a wrong venue key above all), nothing
flowing.
"""

from __future__ import annotations

import time
from typing import Any

from crowdpulse.gateway import rejections
from crowdpulse.gateway.brokerprobe import Check
from crowdpulse.gateway.service import Gateway

FLOW_S = 10.0  # a report accepted this recently: reports are flowing
RELAY_S = 30.0  # a batch this recent: the relay is heard


def _age(now: float, at: float) -> float | None:
    return None if at <= 0 else round(now - at, 1)


def _relays(gw: Gateway, now: float) -> list[dict[str, Any]]:
    names = sorted(set(gw.relays) | set(gw.relay_batch_at))
    return [
        {
            "relay": r,
            "state": str(gw.relays.get(r, {}).get("state", "unknown")),
            "last_batch_s": _age(now, gw.relay_batch_at.get(r, 0.0)),
        }
        for r in names
    ]


def _problem(level: str, what: str, fix: str) -> dict[str, str]:
    return {"level": level, "what": what, "fix": fix}


def _broker_problems(gw: Gateway, p: Check | None, connected: bool) -> list[dict[str, str]]:
    if not connected:
        return [
            _problem(
                "fail",
                p.what if p else f"not connected to the broker {gw.broker}",
                p.fix if p and p.fix else "crowdpulse doctor --config <venue file> tells why",
            )
        ]
    return [] if p is None else [_problem(p.level, p.what, p.fix)]


def _rejection_problems(recent: dict[str, int]) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    for reason, n in recent.items():
        if reason not in rejections.QUIET:
            what, fix = rejections.describe(reason, n).split(": ", 1)
            problems.append(
                _problem(
                    "fail" if rejections.serious(reason) else "warn",
                    f"rejected {what} in the last minute",
                    fix,
                )
            )
    return problems


def _relay_problems(
    gw: Gateway, relays: list[dict[str, Any]], now: float, connected: bool
) -> list[dict[str, str]]:
    problems = [
        _problem(
            "warn",
            f"relay {r['relay']} is offline",
            f"check crowdpulse relay on {r['relay']} (journalctl -u crowdpulse-relay)",
        )
        for r in relays
        if r["state"] == "offline"
    ]
    heard = [r for r in relays if r["last_batch_s"] is not None and r["last_batch_s"] <= RELAY_S]
    direct = gw.direct_at > 0 and now - gw.direct_at <= RELAY_S
    if connected and not heard and not direct:
        problems.append(
            _problem(
                "warn",
                "no relay heard" + (" (none has a status)" if not relays else ""),
                f"start crowdpulse relay --venue {gw.cfg.venue} on each relay host (docs/relay.md)",
            )
        )
    return problems


def _flow_problems(gw: Gateway, now: float, connected: bool, live: bool) -> list[dict[str, str]]:
    if not connected or live:
        return []
    since = _age(now, gw.accepted_at)
    return [
        _problem(
            "warn",
            "no report accepted yet" if since is None else f"no report accepted for {since:.0f} s",
            "are the bands on and inside the event window? crowdpulse doctor listens and says why",
        )
    ]


def _summary(connected: bool, live: bool) -> str:
    if not connected:
        return "broker disconnected"
    return "live" if live else "no reports"


def snapshot(gw: Gateway) -> dict[str, Any]:
    now = time.monotonic()
    connected = gw.connected.is_set()
    live = connected and gw.accepted_at > 0 and now - gw.accepted_at <= FLOW_S
    relays = _relays(gw, now)
    recent = gw.rejections.recent()
    p = gw.broker_problem  # read once: the network thread may replace it meanwhile
    problems = [
        *_broker_problems(gw, p, connected),
        *_rejection_problems(recent),
        *_relay_problems(gw, relays, now, connected),
        *_flow_problems(gw, now, connected, live),
    ]
    return {
        "status": "down" if not connected else ("warn" if problems else "ok"),
        "live": live,
        "summary": _summary(connected, live),
        "mqtt": connected,
        "bands": len(gw.cfg.bands),
        "broker": {
            "url": str(gw.broker),
            "connected": connected,
            "problem": p.what if p else None,
            "fix": p.fix if p else None,
        },
        "reports": {
            "last_accepted_s": _age(now, gw.accepted_at),
            "accepted_total": gw.engine.validator.accepted,
        },
        "relays": relays,
        "rejected": recent,
        "problems": problems,
    }
