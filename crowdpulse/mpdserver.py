"""Start and stop a real MPD (Music Player Daemon) on a loopback port.

Tests and the demo use this rather than a system MPD: its own config in a
temporary folder, a null audio output (no sound device; it still plays in
real time), the music folder it is given, and no network beyond 127.0.0.1.
"""

from __future__ import annotations

import time
from pathlib import Path

from mpd import MPDClient

from crowdpulse.childproc import ChildServer, find_program, free_port

MPD_HINT = "install MPD: apt-get install -y mpd"


class MpdError(RuntimeError):
    """MPD could not be found or started."""


def find_mpd() -> str | None:
    return find_program("mpd", "/usr/bin/mpd", "/usr/local/bin/mpd", "/usr/sbin/mpd")


class MpdServer(ChildServer):
    """One MPD process serving `music` on 127.0.0.1:`port`; start() and stop()
    may be repeated on the same port (reconnection tests)."""

    def __init__(self, music: Path, port: int | None = None) -> None:
        binary = find_mpd()
        if binary is None:
            raise MpdError(f"MPD not found; {MPD_HINT}")
        self.binary, self.music = binary, Path(music).resolve()
        self.port = port or free_port()
        super().__init__("crowdpulse-mpd-")
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

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, update: bool = True) -> MpdServer:
        if self.running:
            return self
        self._spawn([self.binary, "--no-daemon", str(self.config_path)])
        if not self._wait_for(self.port, timeout=15):
            why = self._stop_and_explain()
            raise MpdError(f"MPD did not start on port {self.port}: {why}")
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
