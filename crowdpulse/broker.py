"""Start and stop a real Mosquitto broker on a loopback port.

Tests, benchmarks and the demo use this rather than a mock, so that every MQTT
path in the project is exercised against the broker venues actually run.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

from crowdpulse.childproc import ChildServer, find_program

# These two lived here first; tests, benchmarks and the demo import them from here.
from crowdpulse.childproc import free_port as free_port
from crowdpulse.childproc import wait_for_port as wait_for_port

MOSQUITTO_HINT = "install Mosquitto: apt-get install -y mosquitto mosquitto-clients"


class BrokerError(RuntimeError):
    """The broker could not be found or started."""


def find_mosquitto() -> str | None:
    return find_program("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def _as_root() -> str:
    """As root, Mosquitto drops to the `mosquitto` user before it opens its files;
    a test broker's files are in private temporary folders, so it stays root."""
    return "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""


class Mosquitto(ChildServer):
    """One Mosquitto process with its own config, on 127.0.0.1:`port`.

    `stop()` and `start()` may be called repeatedly, on the same port, to test
    reconnection.  `extra_config` lines are appended (ACLs, TLS, ...); `config`
    replaces the listener and access lines with a whole configuration of its
    own (tests/test_deploy.py runs the shipped venue config this way).
    """

    def __init__(
        self,
        port: int | None = None,
        extra_config: str = "",
        anonymous: bool = True,
        *,
        config: str | None = None,
        extra_ports: Sequence[int] = (),
    ) -> None:
        """`config`, when given, replaces the listener and access lines: it is
        the whole configuration (listeners, authentication, TLS, ...) and must
        itself open a listener on `port`; `anonymous` is then not used.  Only
        what a test broker needs around it is added: no persistence, a log file
        in the broker's temporary folder and, when run as root, `user root`,
        so that Mosquitto can still read the files its config names after
        it would otherwise have dropped to the `mosquitto` user.
        `start()` waits for `port` and every port in `extra_ports`.
        """
        binary = find_mosquitto()
        if binary is None:
            raise BrokerError(f"Mosquitto not found; {MOSQUITTO_HINT}")
        self.binary = binary
        self.port = port or free_port()
        self.extra_ports = tuple(extra_ports)
        super().__init__("crowdpulse-mosquitto-")
        self.config_path = Path(self._dir.name) / "mosquitto.conf"
        self.log_path = Path(self._dir.name) / "mosquitto.log"
        if config is None:
            self.config_path.write_text(
                f"listener {self.port} 127.0.0.1\n"
                f"allow_anonymous {'true' if anonymous else 'false'}\n"
                "persistence false\n"
                f"log_dest file {self.log_path}\n"
                "log_type error\nlog_type warning\n"
                "max_queued_messages 100000\n" + _as_root() + extra_config
            )
        else:
            self.config_path.write_text(
                "persistence false\n"
                f"log_dest file {self.log_path}\n"
                "log_type error\nlog_type warning\n"
                + _as_root()
                + config.rstrip("\n")
                + "\n"
                + extra_config
            )

    @property
    def folder(self) -> Path:
        """The broker's temporary folder, removed by `close()`."""
        return Path(self._dir.name)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        if self.running:
            return self
        self._spawn([self.binary, "-c", str(self.config_path)])
        if not all(self._wait_for(p) for p in (self.port, *self.extra_ports)):
            why = self._stop_and_explain()
            raise BrokerError(f"Mosquitto did not start on port {self.port}: {why}")
        return self

    def reload(self) -> None:
        """SIGHUP, as `systemctl reload mosquitto` sends: Mosquitto rereads its
        password file and ACL, and connected clients stay connected."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)
