"""Run a set of local processes as one: watch them all, stop them all.

The demo starts a broker, a player, the gateway and a crowd.  A part that
dies is named in one line with the end of its log, and the whole set stops:
a demo whose broker is gone would otherwise go on printing empty scores.
Parts are `Part`s (a command in its own process group, output to a log file)
or `crowdpulse.childproc.ChildServer`s (Mosquitto, MPD).  `GatewayPart` is
the one way the demo, the benches and the tests start a gateway and wait for
its API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any, TypeVar

from crowdpulse.childproc import ChildServer


def tail(log: Path, name: str, n: int = 5) -> str:
    """The last `n` lines of a log, each marked with the part's name."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"  {name}: (no log)"
    return "\n".join(f"  {name}: {line}" for line in lines[-n:])


class Part:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.log = name, log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 5) -> str:
        return tail(self.log, self.name, n)

    def stop(self, sig: int = signal.SIGTERM, grace: float = 8.0) -> None:
        """`sig` to the whole group (a part's own children, a relay or a worker, go
        with it), and SIGKILL if it has not ended in `grace` seconds."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._out.close()


class PartStoppedError(RuntimeError):
    """A part died or never came up; the message ends with its log's last lines."""


class GatewayPart(Part):
    """`crowdpulse gateway` for a venue file, and its HTTP API on the loopback."""

    def __init__(self, broker_url: str, config: Path, port: int, log: Path, *args: str) -> None:
        argv = [sys.executable, "-m", "crowdpulse", "gateway", "--broker", broker_url]
        super().__init__("gateway", [*argv, "--config", str(config), *args], log)
        self.port = port

    def get(self, path: str, timeout: float = 5.0) -> Any:
        """JSON from /api/..., text from anything else."""
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            body = resp.read().decode()
        return json.loads(body) if path.startswith("/api") else body

    def wait_up(self, timeout: float = 300.0, mqtt: bool = True) -> None:
        """Until the API answers and (mqtt) the gateway is subscribed.  The timeout
        only stops a broken start from hanging (numba compiles at start, slowly on
        a busy machine); a gateway that does not come up is stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise PartStoppedError(f"the gateway stopped:\n{self.tail()}")
            try:
                if self.get("/api/health", timeout=2)["mqtt"] or not mqtt:
                    return
            except (OSError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PartStoppedError(f"the gateway did not come up in {timeout:.0f} s:\n{self.tail()}")


PartT = TypeVar("PartT", bound=Part)


class Supervisor:
    """The parts of one run, in start order; stopped in reverse order."""

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._servers: list[tuple[str, ChildServer]] = []
        self._order: list[Part | tuple[str, ChildServer]] = []

    def add(self, part: PartT) -> PartT:
        self._parts.append(part)
        self._order.append(part)
        return part

    def add_server(self, name: str, server: ChildServer) -> None:
        self._servers.append((name, server))
        self._order.append((name, server))

    def dead(self) -> str | None:
        """One line (and the end of its log) for the first part that has stopped."""
        for name, server in self._servers:
            if not server.running:
                return f"the {name} stopped:\n{tail(server.log_path, name)}"
        for p in self._parts:
            if not p.alive():
                return f"the {p.name} stopped (exit {p.proc.returncode}):\n{p.tail()}"
        return None

    def stop_all(self) -> None:
        for item in reversed(self._order):
            if isinstance(item, Part):
                item.stop()
            else:
                item[1].close()
        self._order.clear()
        self._parts.clear()
        self._servers.clear()
