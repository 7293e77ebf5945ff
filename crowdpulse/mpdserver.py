"""Start and stop a real MPD (Music Player Daemon) on a loopback port.

Tests and the demo use this rather than a system MPD: its own config in a
temporary folder, a null audio output (no sound device; it still plays in
real time), the music folder it is given, and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mpd import MPDClient

from crowdpulse.broker import free_port, wait_for_port

MPD_HINT = "install MPD: apt-get install -y mpd"


class MpdError(RuntimeError):
    """MPD could not be found or started."""


def find_mpd() -> str | None:
    found = shutil.which("mpd")
    if found:
        return found
    for candidate in ("/usr/bin/mpd", "/usr/local/bin/mpd", "/usr/sbin/mpd"):
        if Path(candidate).exists():
            return candidate
    return None


class MpdServer:
    """One MPD process serving `music` on 127.0.0.1:`port`; start() and stop()
    may be repeated on the same port (reconnection tests)."""

    def __init__(self, music: Path, port: int | None = None) -> None:
        binary = find_mpd()
        if binary is None:
            raise MpdError(f"MPD not found; {MPD_HINT}")
        self.binary, self.music = binary, Path(music).resolve()
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="crowdpulse-mpd-")
        d = Path(self._dir.name)
        (d / "playlists").mkdir()
        self.log_path = d / "mpd.log"
        self.config_path = d / "mpd.conf"
        self.config_path.write_text(
            f'music_directory "{self.music}"\n'
            f'playlist_directory "{d / "playlists"}"\n'
            f'db_file "{d / "database"}"\n'
            f'log_file "{self.log_path}"\n'
            f'bind_to_address "127.0.0.1"\nport "{self.port}"\n'
            'auto_update "no"\nzeroconf_enabled "no"\n'
            'audio_output {\n  type "null"\n  name "null"\n}\n'
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, update: bool = True) -> MpdServer:
        if self.running:
            return self
        self._proc = subprocess.Popen(
            [self.binary, "--no-daemon", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while not wait_for_port("127.0.0.1", self.port, timeout=0.2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                said = (
                    self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                )
                self.stop()
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise MpdError(
                    f"MPD did not start on port {self.port}: {(said + log).strip()[-300:]}"
                )
        if update:
            self.update()
        return self

    def client(self) -> MPDClient:
        c = MPDClient()
        c.timeout = 10
        c.connect("127.0.0.1", self.port)
        return c

    def update(self, timeout: float = 30.0) -> int:
        """Scan the music folder; returns how many songs MPD knows."""
        c = self.client()
        try:
            c.update()
            deadline = time.monotonic() + timeout
            while "updating_db" in c.status():
                if time.monotonic() > deadline:
                    raise MpdError("MPD did not finish scanning the music folder")
                time.sleep(0.05)
            return int(c.stats()["songs"])
        finally:
            c.disconnect()

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

    def __enter__(self) -> MpdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
