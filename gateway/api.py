"""The open HTTP and WebSocket API, and /metrics for Prometheus (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from crowdpulse.console import STATIC
from crowdpulse.gateway.health import snapshot as health_snapshot
from crowdpulse.gateway.service import Gateway
from crowdpulse.gateway.store import VENUE_ROW
from crowdpulse.selector.picker import ActionError

GATEWAY = web.AppKey("gateway", Gateway)
OPENAPI = Path(__file__).with_name("openapi.json")  # the HTTP API's contract, served as is
MAX_AT_MS = 4_102_444_800_000  # 2100-01-01
MAX_MINUTES = 525_600  # a year
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])


class _Collector:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self) -> Iterator[Metric]:
        c = self.gw.metrics_state()
        yield CounterMetricFamily(
            "crowdpulse_reports_accepted", "Reports accepted", value=c["accepted"]
        )
        rej = CounterMetricFamily(
            "crowdpulse_reports_rejected", "Reports rejected, by reason", labels=["reason"]
        )
        for reason, n in c["rejected"].items():
            rej.add_metric([reason], n)
        yield rej
        yield CounterMetricFamily(
            "crowdpulse_batches_malformed",
            "Relay batches that did not decode",
            value=c["malformed_batches"],
        )
        snap = self.gw.engine.last or {"zones": []}
        bands = GaugeMetricFamily(
            "crowdpulse_bands_active", "Bands reporting, per zone", labels=["zone"]
        )
        loss = GaugeMetricFamily(
            "crowdpulse_loss_estimate", "Share of audio time no report covered", labels=["zone"]
        )
        score = GaugeMetricFamily("crowdpulse_sentiment", "Sentiment 0-100", labels=["zone"])
        for z in snap["zones"]:
            bands.add_metric([z["zone"]], z["bands"])
            if z["loss"] is not None:
                loss.add_metric([z["zone"]], z["loss"])
            if z["score"] is not None:
                score.add_metric([z["zone"]], z["score"])
        if snap.get("score") is not None:
            score.add_metric([VENUE_ROW], snap["score"])
        yield from (bands, loss, score)
        tick = GaugeMetricFamily(
            "crowdpulse_tick_duration_ms", "Scoring tick duration", labels=["stat"]
        )
        tick.add_metric(["last"], c["tick_last_ms"])
        tick.add_metric(["p99"], c["tick_p99_ms"])
        tick.add_metric(["p99_1m"], c["tick_p99_1m_ms"])
        tick.add_metric(["cpu_p99_1m"], c["tick_cpu_p99_1m_ms"])
        yield tick
        logged = CounterMetricFamily(
            "crowdpulse_log_messages",
            "The gateway's warnings and errors, by level",
            labels=["level"],
        )
        for level in ("warning", "error", "critical"):
            logged.add_metric([level], c["log"].get(level, 0))
        yield logged
        yield GaugeMetricFamily(
            "crowdpulse_broker_connected",
            "1 when connected to MQTT",
            value=1.0 if c["connected"] else 0.0,
        )
        bad = CounterMetricFamily(
            "crowdpulse_input_errors",
            "Bad input refused, by where it came in and why",
            labels=["source", "reason"],
        )
        for (source, reason), n in sorted(self.gw.errors.snapshot().items()):
            bad.add_metric([source, reason], n)
        yield bad


def _refuse(request: web.Request, status: int, reason: str, message: str) -> web.HTTPException:
    """A 4xx with one JSON line, counted in /metrics by reason."""
    request.app[GATEWAY].errors.count("http", reason)
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]
    return cls(text=json.dumps({"error": message}), content_type="application/json")


def _authorised(request: web.Request, needed: bool) -> bool:
    token = request.app[GATEWAY].cfg.console_token
    if not needed or token is None:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return given == token or request.query.get("token") == token


def _view_guard(request: web.Request) -> None:
    if not _authorised(request, request.app[GATEWAY].cfg.view_requires_token):
        raise _refuse(request, 401, "unauthorised", "token required")


async def state(request: web.Request) -> web.Response:
    """The latest snapshot; ?at=<unix ms> scores the current state as of that time."""
    _view_guard(request)
    if "at" in request.query:
        try:
            at = int(request.query["at"])
        except ValueError:
            raise _refuse(request, 400, "bad_at", "at must be unix milliseconds") from None
        if not 0 <= at <= MAX_AT_MS:  # beyond int64 the scoring kernels would overflow
            raise _refuse(
                request, 400, "bad_at", "at must be unix milliseconds, 0 to 4102444800000"
            )
        return web.json_response(request.app[GATEWAY].engine.tick(at, record=False))
    snap = request.app[GATEWAY].engine.last
    return web.json_response(
        snap or {"venue": request.app[GATEWAY].cfg.venue, "score": None, "zones": []}
    )


async def history(request: web.Request) -> web.Response:
    _view_guard(request)
    gw = request.app[GATEWAY]
    try:
        minutes = float(request.query.get("minutes", "10"))
    except ValueError:
        raise _refuse(request, 400, "bad_minutes", "minutes must be a number") from None
    if not 0 < minutes <= MAX_MINUTES:  # NaN fails this too
        raise _refuse(request, 400, "bad_minutes", f"minutes must be > 0 and at most {MAX_MINUTES}")
    zone = request.query.get("zone", VENUE_ROW)
    names = [z.name for z in gw.cfg.crowd_zones]
    if zone != VENUE_ROW and zone not in names:
        raise _refuse(request, 404, "unknown_zone", f"no zone {zone[:40]!r}")
    since = int(time.time() * 1000 - minutes * 60_000)
    if minutes <= 10:
        t, s = gw.engine.history.series(since)
        col = 0 if zone == VENUE_ROW else 1 + names.index(zone)
        step = max(1, len(t) // 600)
        pts = [
            [int(a), None if np.isnan(b) else round(float(b), 1)]
            for a, b in zip(t[::step], s[::step, col], strict=True)
        ]
    else:
        pts = [
            [a, b] for a, b in gw.store.history(since, zone, step_ms=max(1000, int(minutes * 100)))
        ]
    return web.json_response({"zone": zone, "points": pts})


async def metrics(request: web.Request) -> web.Response:
    registry = CollectorRegistry()
    registry.register(_Collector(request.app[GATEWAY]))
    return web.Response(body=generate_latest(registry), content_type="text/plain")


async def health(request: web.Request) -> web.Response:
    """Broker, relays, reports flowing, rejections: what is wrong, each with its fix
    (gateway/health.py)."""
    return web.json_response(health_snapshot(request.app[GATEWAY]))


async def websocket(request: web.Request) -> web.WebSocketResponse:
    _view_guard(request)
    gw = request.app[GATEWAY]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    try:
        last = gw.engine.last
        if last:
            await ws.send_json({"type": "sentiment", **last})
        await ws.send_json({"type": "selector", **gw.selection.state()})
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
            if msg.type == WSMsgType.TEXT:
                reply = _ws_action(gw, msg.data)
                if not reply["ok"]:
                    gw.errors.count("ws", reply.pop("reason"))
                await ws.send_json(reply)
            elif msg.type == WSMsgType.BINARY:
                gw.errors.count("ws", "binary")
                await ws.send_json(
                    {"type": "action_result", "ok": False, "error": "send text frames"}
                )
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


def _ws_action(gw: Gateway, text: str) -> dict[str, Any]:
    """{"type": "action", "token": ..., "action": ..., "id": ...}
    -> {"type": "action_result", ...}"""
    try:
        data = json.loads(text)
    except ValueError:
        return {"type": "action_result", "ok": False, "error": "not JSON", "reason": "not_json"}
    if not isinstance(data, dict) or data.get("type") != "action":
        return {
            "type": "action_result",
            "ok": False,
            "error": 'expected {"type": "action", ...}',
            "reason": "not_action",
        }
    reply: dict[str, Any] = {"type": "action_result", "id": data.get("id")}
    if data.get("token") != gw.cfg.console_token:
        return {**reply, "ok": False, "error": "token required", "reason": "unauthorised"}
    try:
        gw.selection.act({k: v for k, v in data.items() if k not in ("type", "token", "id")})
    except ActionError as exc:
        return {**reply, "ok": False, "error": str(exc), "reason": "bad_action"}
    return {**reply, "ok": True}


async def selector_state(request: web.Request) -> web.Response:
    _view_guard(request)
    return web.json_response(request.app[GATEWAY].selection.state())


async def selector_action(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    if not _authorised(request, True):
        raise _refuse(request, 401, "unauthorised", "token required")
    try:
        action = await request.json()
    except ValueError:
        raise _refuse(request, 400, "bad_json", "body must be JSON") from None
    if not isinstance(action, dict):
        raise _refuse(request, 400, "bad_json", "body must be a JSON object")
    try:
        gw.selection.act(action)
    except ActionError as exc:
        raise _refuse(request, 400, "bad_action", str(exc)) from None
    return web.json_response({"ok": True, "state": gw.selection.state()})


async def library(request: web.Request) -> web.Response:
    _view_guard(request)
    q = request.query.get("q", "").strip().lower()
    tracks = list(request.app[GATEWAY].selection.selector.tracks.values())
    hits = [t.as_dict() for t in tracks if not q or q in f"{t.artist} {t.title} {t.genre}".lower()]
    return web.json_response({"tracks": hits[:50], "total": len(hits)})


async def openapi(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(OPENAPI, headers={"Content-Type": "application/json"})


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def make_app(gw: Gateway) -> web.Application:
    app = web.Application()
    app[GATEWAY] = gw
    app[SOCKETS] = set()
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/api/selector", selector_state)
    app.router.add_post("/api/selector/action", selector_action)
    app.router.add_get("/api/library", library)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    # open consoles would otherwise hold the shutdown for aiohttp's full grace period
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=1001, message=b"gateway shutting down")


def fan_out(app: web.Application, loop: asyncio.AbstractEventLoop) -> None:
    """Send every tick's snapshot to the open WebSockets, from the tick thread."""

    async def send(snap: dict[str, Any]) -> None:
        sockets: set[web.WebSocketResponse] = app[SOCKETS]
        for ws in sockets.copy():
            if not ws.closed:
                try:
                    await ws.send_json(snap)
                except ConnectionError:
                    app[SOCKETS].discard(ws)

    def post(message: dict[str, Any]) -> None:
        # from the tick thread, which may outlive the loop by a moment at shutdown
        if loop.is_closed():
            return
        coro = send(message)
        try:
            asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:  # the loop closed in between: nobody is listening any more
            coro.close()

    def schedule(snap: dict[str, Any]) -> None:
        post({"type": "sentiment", **snap})

    def selector_changed(_state: dict[str, Any]) -> None:
        post({"type": "selector", **app[GATEWAY].selection.state()})

    app[GATEWAY].listeners.append(schedule)
    app[GATEWAY].selection.selector.listeners.append(selector_changed)
