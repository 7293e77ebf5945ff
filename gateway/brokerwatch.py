"""Why the gateway is not connected to its broker, found out and said once.

paho says only that a connection failed or dropped.  The Gateway (gateway/service.py)
takes these methods in as a mixin: on a failure they probe the broker in the
background (gateway/brokerprobe.py, at most one probe every 10 s), and after
each connect they wait for the gateway's own status to come back (if it does
not, the broker's ACL is wrong).  What they find is `broker_problem`, which
/api/health and the console show (gateway/health.py), and one log line per
change, or one a minute while it lasts.  Kept apart so the service stays short.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from crowdpulse.gateway import brokerprobe
from crowdpulse.gateway.venue import VenueConfig
from crowdpulse.mqtt import BrokerURL

log = logging.getLogger("crowdpulse.gateway")


class BrokerWatch:
    """The broker connection's problem, for the Gateway; its attributes are set there."""

    cfg: VenueConfig
    broker: BrokerURL
    ca_file: str | None
    worker: str
    connected: threading.Event
    stop_event: threading.Event
    broker_problem: brokerprobe.Check | None
    _said_problem: str
    _said_at: float
    _diagnosing: threading.Lock
    _echo: threading.Event

    if TYPE_CHECKING:

        def t(self, *parts: str) -> str: ...

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
