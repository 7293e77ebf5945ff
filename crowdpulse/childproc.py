"""A local server program run as a child process: started, watched and stopped.

Mosquitto (broker.py) and MPD (mpdserver.py) are run the same way for tests,
benchmarks and the demo: one process on a loopback port, with its config and
log in a private temporary folder.  `ChildServer` holds what is the same; each
subclass writes its own config and says how its program is started.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Self


def find_program(name: str, *candidates: str) -> str | None:
    """`name` on PATH, else the first of `candidates` that exists: a server's
    binary is often in an sbin folder that an ordinary user's PATH lacks."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n distinct free ports: each socket stays bound until all are chosen (the
    kernel may hand the same port to free_port() twice in a row)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class ChildServer(ABC):
    """One server process with its own temporary folder, which `close()` removes.

    A subclass sets `log_path` (inside the folder) and defines `start()`, which
    runs `_spawn()`, then `_wait_for()` its port and, when that fails, raises
    its own error with `_stop_and_explain()`.  `start()` and `stop()` may be
    repeated, so that tests can take the server away and bring it back.
    """

    log_path: Path

    def __init__(self, prefix: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=prefix)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @abstractmethod
    def start(self) -> Self:
        """Start the process, unless it is running, and wait until it serves."""

    def _spawn(self, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        # stderr is kept: what a server says before its log file opens is there.
        self._proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self._proc

    def _wait_for(self, port: int, timeout: float = 10.0) -> bool:
        """Like `wait_for_port`, but gives up at once when the process has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if wait_for_port("127.0.0.1", port, timeout=0.2):
                return True
        return False

    def _stop_and_explain(self) -> str:
        """Stop a server that did not start; the end of what it said on stderr and in its log.

        Both are read once it has exited: a live server's stderr never ends, and
        its log then holds its last words.
        """
        said = ""
        if self._proc is not None:
            _end(self._proc)
            if self._proc.stderr:
                said = self._proc.stderr.read().decode(errors="replace")
        self.stop()
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return (said + log).strip()[-300:]

    def stop(self) -> None:
        if self._proc is None:
            return
        _end(self._proc)
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Terminate `proc` (a no-op once it has exited), and kill it after 5 s."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
