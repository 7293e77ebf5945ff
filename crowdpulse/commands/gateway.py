"""`crowdpulse gateway`: the venue service (MQTT in; sentiment, HTTP, WebSocket out)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import threading
from types import FrameType

from aiohttp import web

from crowdpulse.cli import CliError
from crowdpulse.gateway import api, preflight, tokenfile
from crowdpulse.gateway.service import Gateway
from crowdpulse.gateway.venue import VenueConfig, VenueConfigError, load
from crowdpulse.mqtt import BrokerURL, BrokerURLError

log = logging.getLogger("crowdpulse.gateway")

# Until the event loop owns the signals, a signal only sets this flag: raising
# KeyboardInterrupt from the handler could land inside a library's __del__ (numba's
# compiler), where Python swallows it and the gateway would run on.
_stop_requested = threading.Event()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        default=os.environ.get("CROWDPULSE_BROKER", "mqtt://127.0.0.1:1883"),
        help="mqtt://[user:pass@]host:port or mqtts://...; default $CROWDPULSE_BROKER "
        "(keeps the password out of ps) or mqtt://127.0.0.1:1883",
    )
    parser.add_argument(
        "--config", default="venue.toml", help="the venue file (default venue.toml)"
    )
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument("--http-port", type=int, help="override [http] port")
    parser.add_argument(
        "--share-group", help="split ingestion with other workers ($share/<group>/...)"
    )
    parser.add_argument("--worker", default="1", help="this worker's name within the share group")


async def _serve(gw: Gateway, host: str, port: int) -> None:
    app = api.make_app(gw)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if _stop_requested.is_set():  # a signal while the gateway was starting
        stop.set()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        api.fan_out(app, loop)
        print(
            f"crowdpulse gateway: venue {gw.cfg.venue}, {len(gw.cfg.bands)} bands, "
            f"broker {gw.broker}",
            flush=True,
        )
        print(f"crowdpulse gateway: console and API on http://{host}:{port}/", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def _request_stop(_sig: int, _frame: FrameType | None) -> None:
    _stop_requested.set()


def _start_checks(cfg: VenueConfig, config_path: str) -> None:
    """The doctor's file checks, at every start: what is not ok goes to the log."""
    if cfg.console_token_file and cfg.console_token is None:
        try:
            cfg.console_token = tokenfile.create(cfg.console_token_file, config_path)
        except tokenfile.TokenFileError as exc:
            raise CliError(str(exc)) from None
        log.info(
            "created the console token file %s (the console asks for what it holds)",
            cfg.console_token_file,
        )
    for check in [*preflight.bands(cfg), preflight.key_file(cfg)]:
        if check.level != "ok":
            log.warning("%s", check.line().split(None, 1)[1])


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="crowdpulse gateway: %(message)s")
    # SIGTERM (systemd, docker) stops the gateway as Ctrl-C does, from the first instant
    _stop_requested.clear()
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.config)
        broker = BrokerURL.parse(args.broker)
    except (VenueConfigError, BrokerURLError) as exc:
        raise CliError(str(exc)) from None
    if args.http_port is not None:
        if not 0 <= args.http_port <= 65535:
            raise CliError("--http-port must be 0-65535")
        cfg.http_port = args.http_port
    log.info(
        "starting: venue %s, %d bands (Ctrl-C or SIGTERM stops it cleanly from here on)",
        cfg.venue,
        len(cfg.bands),
    )
    _start_checks(cfg, args.config)
    if _stop_requested.is_set():  # before anything was started: nothing to stop
        log.info("stopped")
        return 0
    if cfg.console_token is None:
        cfg.console_token = secrets.token_urlsafe(12)
        print(
            f"crowdpulse gateway: control token (set [console] token_file to keep one): "
            f"{cfg.console_token}",
            flush=True,
        )
    gw = Gateway(cfg, broker, args.ca_file, args.share_group, args.worker)
    try:
        gw.start()
        asyncio.run(_serve(gw, cfg.http_host, cfg.http_port))
    finally:
        # a second Ctrl-C or SIGTERM must not cut the clean stop short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        gw.stop()
    log.info("stopped")
    return 0
