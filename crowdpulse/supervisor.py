"""Run a set of local processes as one: watch them all, stop them all.

The demo starts a broker, a player, the gateway and a crowd.  A part that
dies is named in one line with the end of its log, and the whole set stops:
a demo whose broker is gone would otherwise go on printing empty scores.
Parts are `Part`s (a command in its own process group, output to a log file)
or `crowdpulse.childproc.ChildServer`s (Mosquitto, MPD).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

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

    def stop(self) -> None:
        # the whole group: a part's own children (a relay, a worker) go with it
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._out.close()


class Supervisor:
    """The parts of one run, in start order; stopped in reverse order."""

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._servers: list[tuple[str, ChildServer]] = []
        self._order: list[Part | tuple[str, ChildServer]] = []

    def add(self, part: Part) -> Part:
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
