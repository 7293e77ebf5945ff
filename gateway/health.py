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


def snapshot(gw: Gateway) -> dict[str, Any]:
    now = time.monotonic()
    connected = gw.connected.is_set()
    live = connected and gw.accepted_at > 0 and now - gw.accepted_at <= FLOW_S
    relays = _relays(gw, now)
    recent = gw.rejections.recent()
    problems: list[dict[str, str]] = []

    def add(level: str, what: str, fix: str) -> None:
        problems.append({"level": level, "what": what, "fix": fix})

    p = gw.broker_problem
    if not connected:
        add(
            "fail",
            p.what if p else f"not connected to the broker {gw.broker}",
            p.fix if p and p.fix else "crowdpulse doctor --config <venue file> tells why",
        )
    elif p is not None:
        add(p.level, p.what, p.fix)
    for reason, n in recent.items():
        if reason not in rejections.QUIET:
            what, fix = rejections.describe(reason, n).split(": ", 1)
            add(
                "fail" if rejections.serious(reason) else "warn",
                f"rejected {what} in the last minute",
                fix,
            )
    heard = [r for r in relays if r["last_batch_s"] is not None and r["last_batch_s"] <= RELAY_S]
    for r in relays:
        if r["state"] == "offline":
            add(
                "warn",
                f"relay {r['relay']} is offline",
                f"check crowdpulse relay on {r['relay']} (journalctl -u crowdpulse-relay)",
            )
    direct = gw.direct_at > 0 and now - gw.direct_at <= RELAY_S
    if connected and not heard and not direct:
        add(
            "warn",
            "no relay heard" + (" (none has a status)" if not relays else ""),
            f"start crowdpulse relay --venue {gw.cfg.venue} on each relay host (docs/relay.md)",
        )
    if connected and not live:
        since = _age(now, gw.accepted_at)
        add(
            "warn",
            "no report accepted yet" if since is None else f"no report accepted for {since:.0f} s",
            "are the bands on and inside the event window? crowdpulse doctor listens and says why",
        )
    if not connected:
        summary = "broker disconnected"
    elif live:
        summary = "live"
    else:
        summary = "no reports"
    return {
        "status": "down" if not connected else ("warn" if problems else "ok"),
        "live": live,
        "summary": summary,
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
