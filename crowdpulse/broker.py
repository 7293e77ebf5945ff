"""Start and stop a real Mosquitto broker on a loopback port.

Tests, benchmarks and the demo use this rather than a mock, so that every MQTT
path in the project is exercised against the broker venues actually run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

MOSQUITTO_HINT = "install Mosquitto: apt-get install -y mosquitto mosquitto-clients"


class BrokerError(RuntimeError):
    """The broker could not be found or started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def _as_root() -> str:
    """As root, Mosquitto drops to the `mosquitto` user before it opens its files;
    a test broker's files are in private temporary folders, so it stays root."""
    return "user root\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""


class Mosquitto:
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
        self._dir = tempfile.TemporaryDirectory(prefix="crowdpulse-mosquitto-")
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
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> Path:
        """The broker's temporary folder, removed by `close()`."""
        return Path(self._dir.name)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Mosquitto:
        if self.running:
            return self
        self._proc = proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not all(self._wait_for(p) for p in (self.port, *self.extra_ports)):
            # When it exited by itself, what it said before its log opened is on stderr.
            said = ""
            if proc.poll() is not None and proc.stderr:
                said = proc.stderr.read().decode(errors="replace")
            self.stop()
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise BrokerError(
                f"Mosquitto did not start on port {self.port}: {(said + log).strip()[-300:]}"
            )
        return self

    def _wait_for(self, port: int, timeout: float = 10.0) -> bool:
        """Like `wait_for_port`, but gives up at once when the broker has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if wait_for_port("127.0.0.1", port, timeout=0.2):
                return True
        return False

    def reload(self) -> None:
        """SIGHUP, as `systemctl reload mosquitto` sends: Mosquitto rereads its
        password file and ACL, and connected clients stay connected."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
