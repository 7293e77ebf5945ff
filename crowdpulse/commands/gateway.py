"""`crowdpulse gateway`: the venue service (MQTT in; sentiment, HTTP, WebSocket out)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal

from aiohttp import web

from crowdpulse.cli import CliError
from crowdpulse.gateway import api
from crowdpulse.gateway.service import Gateway
from crowdpulse.gateway.venue import VenueConfigError, load
from crowdpulse.mqtt import BrokerURL, BrokerURLError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default=os.environ.get("CROWDPULSE_BROKER", "mqtt://127.0.0.1:1883"),
                        help="mqtt://[user:pass@]host:port or mqtts://...; default $CROWDPULSE_BROKER "
                             "(keeps the password out of ps) or mqtt://127.0.0.1:1883")
    parser.add_argument("--config", default="venue.toml", help="the venue file (default venue.toml)")
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument("--http-port", type=int, help="override [http] port")
    parser.add_argument("--share-group", help="split ingestion with other workers ($share/<group>/...)")
    parser.add_argument("--worker", default="1", help="this worker's name within the share group")


async def _serve(gw: Gateway, host: str, port: int) -> None:
    app = api.make_app(gw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    loop = asyncio.get_running_loop()
    api.fan_out(app, loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"crowdpulse gateway: venue {gw.cfg.venue}, {len(gw.cfg.bands)} bands, broker {gw.broker}",
          flush=True)
    print(f"crowdpulse gateway: console and API on http://{host}:{port}/", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="crowdpulse gateway: %(message)s")
    try:
        cfg = load(args.config)
        broker = BrokerURL.parse(args.broker)
    except (VenueConfigError, BrokerURLError) as exc:
        raise CliError(str(exc)) from None
    if args.http_port is not None:
        if not 0 <= args.http_port <= 65535:
            raise CliError("--http-port must be 0-65535")
        cfg.http_port = args.http_port
    if cfg.console_token is None:
        cfg.console_token = secrets.token_urlsafe(12)
        print(f"crowdpulse gateway: control token (set [console] token_file to keep one): "
              f"{cfg.console_token}", flush=True)
    gw = Gateway(cfg, broker, args.ca_file, args.share_group, args.worker).start()
    try:
        asyncio.run(_serve(gw, cfg.http_host, cfg.http_port))
    finally:
        gw.stop()
    return 0
