"""A virtual band: firmware/main.py, unchanged, in the real MicroPython unix port.

The host plays the band's world through the unix hardware layer
(firmware/wristband/hal/unix.py): it streams sound over a loopback TCP "rig"
at real time (or faster), flips the mute switch, presses the button, and
receives the band's adverts as UDP datagrams on a small radio medium.  The
band's MQTT goes to a real broker.  Each band has its own folder (its flash)
holding config.json; several can run at once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse import mpy, mpylib
from wristband import packet

FRAME = 160
Source = Callable[[int], npt.NDArray[np.int16] | None]  # n samples wanted -> the next n


def frame_message(audio: npt.NDArray[np.int16], i: int) -> bytes:
    """The rig's message for frame i of a clip: b"A" and its FRAME samples,
    little-endian; a clip shorter than a frame is padded with silence."""
    chunk = np.ascontiguousarray(audio[i * FRAME : (i + 1) * FRAME], dtype="<i2")
    return b"A" + chunk.tobytes().ljust(2 * FRAME, b"\0")


def pace(t_next: float, period: float) -> float:
    """Sleep until the send after the one due at t_next is due; returns when that is.
    Sound reaches a band at real time: a host that fell behind starts afresh from now
    rather than bursting to catch up."""
    t_next += period
    delay = t_next - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    elif delay < -0.5:
        t_next = time.perf_counter()  # the host fell behind: do not burst
    return t_next


def led_states(conn: socket.socket, stop: threading.Event | None = None) -> Iterator[bool]:
    """The LED states a band reports on its rig connection (b"L" and 0 or 1), until
    the connection closes or fails, or `stop` is set."""
    while stop is None or not stop.is_set():
        try:
            data = conn.recv(2)
        except OSError:
            return
        if not data:
            return
        if data[:1] == b"L" and len(data) == 2:
            yield data[1] == 1


def band_config(
    venue_key: bytes,
    band_id: str,
    *,
    venue: str = "demo",
    zone: str = "floor",
    broker: tuple[str, int] | None = None,
    interval_ms: int = 250,
    window: tuple[int, int] | None = None,
    transport: str | None = None,
    status_every_s: int = 2,
) -> dict[str, Any]:
    """The config.json a provisioned band carries (its key derived from the venue key)."""
    now = int(time.time())
    cfg: dict[str, Any] = {
        "version": 1,
        "venue": venue,
        "zone": zone,
        "band_id": band_id,
        "key": packet.band_key(venue_key, band_id).hex(),
        "command_key": packet.command_key(venue_key).hex(),
        "transport": transport or ("both" if broker else "ble"),
        "interval_ms": interval_ms,
        "window": list(window or (now - 60, now + 6 * 3600)),
        "board": "esp32-devkitc-inmp441",
        "status_every_s": status_every_s,
    }
    if broker:
        cfg["mqtt"] = {"host": broker[0], "port": broker[1]}
    return cfg


class Medium:
    """The simplest radio medium: every advert reaches the host, in order.

    Each advert is kept as a sniffer sees it: (time, the band's BLE address,
    the advertising data); the datagram layout is wristband/hal/unix.py's."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.adverts: list[tuple[float, bytes, bytes]] = []
        self.peers: dict[bytes, tuple[str, int]] = {}  # BLE address -> the band's UDP socket
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(256)
            except OSError:
                continue
            if len(data) <= packet.ADDRESS_SIZE:
                continue
            address = data[: packet.ADDRESS_SIZE]
            self.peers[address] = addr
            self.adverts.append((time.time(), address, data[packet.ADDRESS_SIZE :]))

    def send_beacon(self, address: bytes, payload: bytes) -> None:
        """A relay beacon to the band that advertises from this address."""
        self.sock.sendto(payload, self.peers[address])

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


class VirtualBand:
    def __init__(
        self,
        config: dict[str, Any] | str,
        audio: npt.NDArray[np.int16] | None = None,
        speed: float = 1.0,
        loop: bool = True,
        medium: Medium | None = None,
        echo: Callable[[str], None] | None = None,
        heap: str = "256k",
        source: Source | None = None,
        block_frames: int = 1,
        clock_offset_s: int | None = None,
        hold: bool = False,
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="crowdpulse-band-")
        self.root = Path(self._dir.name)
        text = config if isinstance(config, str) else json.dumps(config)
        (self.root / "config.json").write_text(text)
        self.audio = audio if audio is not None else np.zeros(FRAME * 100, np.int16)
        self.speed = speed
        self.loop = loop
        self.medium = medium
        self.echo = echo
        self.heap = heap
        # a live source instead of a fixed clip: source(n) gives the next n
        # samples (None ends the sound), so a long scene never sits in RAM whole
        self.source = source
        self.block_frames = max(1, block_frames)
        # how far the band's clock runs ahead of the host's.  None: 0, or just far
        # enough that the next id switch (and its quiet seconds) is 7 minutes
        # away, so a test counting reports never meets one by chance
        self.clock_offset_s = clock_offset_s
        self.lines: list[str] = []
        self.led = False
        self.proc: subprocess.Popen[bytes] | None = None
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # hold=True: no sound until play(), so a test can start the clip at a
        # known sample (after the band is listening and online)
        self._playing = threading.Event()
        if not hold:
            self._playing.set()
        self._threads: list[threading.Thread] = []

    # -- life cycle ---------------------------------------------------------
    def start(self) -> VirtualBand:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        env = mpy.env_with_path([mpylib.ensure()])
        env["CROWDPULSE_RIG"] = f"127.0.0.1:{server.getsockname()[1]}"
        if self.medium is not None:
            env["CROWDPULSE_MEDIUM"] = f"127.0.0.1:{self.medium.port}"
        env["CROWDPULSE_CLOCK_OFFSET_S"] = str(self._clock_offset())
        self.proc = subprocess.Popen(
            mpy.command(mpy.boot_dir() / "main.py", heap=self.heap),
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._spawn(self._read_console)
        server.settimeout(10)
        try:
            self._conn, _ = server.accept()
        except TimeoutError:
            self._conn = None  # no rig: the band is in safe mode, or failed to start
        finally:
            server.close()
        if self._conn is not None:
            self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._feed)
            self._spawn(self._read_rig)
        return self

    def _clock_offset(self) -> int:
        if self.clock_offset_s is not None:
            return self.clock_offset_s
        into = int(time.time()) % packet.EPOCH_S
        return 0 if into <= packet.EPOCH_S - 420 else packet.EPOCH_S - into + 1

    def _spawn(self, fn: Callable[[], None]) -> None:
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> int | None:
        self._stop.set()
        if self._conn is not None:
            try:
                with self._lock:
                    self._conn.sendall(b"Q")
            except OSError:
                pass
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        if self._conn is not None:
            self._conn.close()
        for t in self._threads:
            t.join(1)
        self._dir.cleanup()
        return code

    def __enter__(self) -> VirtualBand:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the band's world ----------------------------------------------------
    def _send(self, data: bytes) -> bool:
        if self._conn is None:
            return False
        try:
            with self._lock:
                self._conn.sendall(data)
            return True
        except OSError:
            return False

    def play(self) -> None:
        """Start the sound of a band made with hold=True."""
        self._playing.set()

    def _feed(self) -> None:
        while not self._playing.wait(0.05):
            if self._stop.is_set():
                return
        if self.source is not None:
            self._feed_source(self.source)
            return
        frames = len(self.audio) // FRAME
        period = 0.01 / self.speed
        t_next = time.perf_counter()
        i = 0
        while not self._stop.is_set():
            if i >= frames:
                if not self.loop:
                    return
                i = 0
            if not self._send(frame_message(self.audio, i)):
                return
            i += 1
            t_next = pace(t_next, period)

    def _feed_source(self, source: Source) -> None:
        """block_frames frames per wake-up, in one write: with many bands on
        one host, fewer wake-ups is most of what the feeding costs."""
        k = self.block_frames
        period = 0.01 * k / self.speed
        msg = np.empty((k, 1 + 2 * FRAME), np.uint8)
        msg[:, 0] = ord("A")
        t_next = time.perf_counter()
        while not self._stop.is_set():
            block = source(k * FRAME)
            if block is None or len(block) < k * FRAME:
                return
            samples = np.ascontiguousarray(block[: k * FRAME], dtype="<i2")
            msg[:, 1:] = samples.view(np.uint8).reshape(k, 2 * FRAME)
            if not self._send(msg.tobytes()):
                return
            t_next = pace(t_next, period)

    def _read_rig(self) -> None:
        conn = self._conn
        assert conn is not None
        for on in led_states(conn, self._stop):
            self.led = on

    def _read_console(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.echo:
                self.echo(line)

    def mute(self, on: bool = True) -> None:
        self._send(b"M" + (b"\x01" if on else b"\x00"))

    def press_button(self) -> None:
        self._send(b"B")

    # -- observing -------------------------------------------------------------
    def wait_for(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str] | None:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                m = rx.search(line)
                if m:
                    return m
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def status(self) -> list[dict[str, str]]:
        out = []
        for line in self.lines:
            if line.startswith("crowdpulse: status "):
                out.append(dict(kv.split("=", 1) for kv in line.split()[2:]))
        return out

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
