"""`crowdpulse doctor`: every check a technician needs before doors open, in order.

1. the venue file, strictly (gateway/preflight.py); nothing else runs without it
2. the bands of each zone; the key file; the console token file (made on request)
3. the broker: reachable, TLS verified, login, ACL (gateway/brokerprobe.py)
4. a few seconds of traffic: relays heard, bands heard per zone, rejected
   reports by reason, reports for another venue name (gateway/listen.py)

Each check is one line with its fix, handed to `say` as it is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crowdpulse.gateway import preflight
from crowdpulse.gateway.brokerprobe import Check, probe
from crowdpulse.gateway.listen import Listener
from crowdpulse.mqtt import BrokerURL


@dataclass
class Options:
    config: str
    broker: BrokerURL
    ca_file: str | None = None
    listen_s: float = 10.0
    create_token: bool = False
    ask: Callable[[str], bool] | None = None  # a yes/no question to the operator, if one is there


def run(opt: Options, say: Callable[[Check], None]) -> bool:
    """True when nothing failed (warnings allowed)."""
    failed = False

    def out(c: Check) -> None:
        nonlocal failed
        failed |= c.level == "fail"
        say(c)

    cfg, loaded = preflight.venue_file(opt.config)
    out(loaded)
    if cfg is None:
        return False
    for c in preflight.bands(cfg):
        out(c)
    out(preflight.key_file(cfg))
    create = opt.create_token or bool(
        cfg.console_token_file
        and cfg.console_token is None
        and opt.ask
        and opt.ask(
            f"the console token file {cfg.console_token_file} does not exist; create it now?"
        )
    )
    out(preflight.token(cfg, opt.config, create))
    result, session = probe(opt.broker, opt.ca_file, cfg.venue, keep=opt.listen_s > 0)
    for c in result.checks:
        out(c)
    if session is None:
        return not failed
    try:
        listener = Listener(cfg)
        listener.engine.warm()
        listener.listen(session.client, opt.listen_s)
        for c in listener.checks(opt.listen_s):
            out(c)
    finally:
        session.close()
    return not failed
