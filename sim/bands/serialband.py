"""A virtual band on a serial port: the MicroPython unix port behind a pseudo-terminal.

What `crowdpulse flash` sees is a serial port with a MicroPython REPL on it,
exactly as with a USB-connected ESP32; mpremote's raw REPL works against it
(`mpremote connect PORT resume ...`: the unix port has no soft reset).

    host tools --- /dev/pts/N (the "USB serial port", kept open across reboots)
                      |  relay thread (this module)
                   /dev/pts/M --- micropython -i   (cwd: the band's flash folder)

The relay plays the part of the band's USB-UART bridge and reset circuit:

- The band's flash is a folder (`root`), the process's working directory, with
  the same `sys.path` as an ESP32 (`''`, `.frozen`, `lib`).  With `flash_kb` the
  flash is instead a littlefs2 file system of that size in `root/flash.img`, as
  on an ESP32, so a full flash really fills up (free space, ENOSPC).
- At every boot the band runs `boot.py` and then `main.py` from its flash, like
  the ESP32 port, then offers its REPL.
- A reset is the MicroPython process exiting (`sys.exit()` in the REPL, which is
  what the flashing tool sends to a unix-port band instead of `machine.reset()`,
  or a crash, or `power_cut()`): the relay starts a fresh process at once, and
  what the host sent while the band was down is lost, as on real hardware.
- The host hardware layer (firmware/wristband/hal/unix.py) finds its world in
  $CROWDPULSE_RIG (sound at real time from `audio`, silence by default) and,
  with a `Medium`, $CROWDPULSE_MEDIUM (the BLE adverts).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdpulse import mpy
from crowdpulse.sim.bands.virtualband import FRAME, Medium, frame_message, led_states, pace

FLASH_BLOCK = 4096
# The band's "ROM" (crowdpulse/scripts/serialband_boot.py): mount the littlefs flash
# when there is one, then run boot.py and main.py from the flash as the ESP32 port
# does; `-i` then gives the REPL.  Its helpers leave the REPL's namespace after boot.
_BOOT = "serialband_boot.py"
# Runs between fork and MicroPython: make the band's terminal its controlling
# terminal, so that Ctrl-C from the host interrupts running code (SIGINT).
_CTTY = (
    "import fcntl, os, sys, termios; os.setsid(); "
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0); os.execv(sys.argv[1], sys.argv[1:])"
)


def _send(fd: int, data: bytes) -> None:
    """Write what fits; a full buffer drops the rest, like a UART overrun."""
    with contextlib.suppress(BlockingIOError, OSError):
        os.write(fd, data)


class _Rig:
    """The band's sound and wearer: a TCP server the band connects to at every boot."""

    def __init__(self, audio: npt.NDArray[np.int16], speed: float) -> None:
        self.audio = audio
        self.speed = speed
        self.led = False
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = int(self.server.getsockname()[1])
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._feed, args=(conn,), daemon=True).start()
            threading.Thread(target=self._listen, args=(conn,), daemon=True).start()

    def _feed(self, conn: socket.socket) -> None:
        frames = max(1, len(self.audio) // FRAME)
        period, t_next, i = 0.01 / self.speed, time.perf_counter(), 0
        while not self._stop.is_set():
            try:
                conn.sendall(frame_message(self.audio, i))
            except OSError:
                return  # the band rebooted or stopped
            i = (i + 1) % frames
            t_next = pace(t_next, period)

    def _listen(self, conn: socket.socket) -> None:
        # not stopped by close(): a connection lasts as long as the band's boot
        for on in led_states(conn):
            self.led = on
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()


class SerialBand:
    def __init__(
        self,
        root: Path | str | None = None,
        *,
        link: Path | str | None = None,
        audio: npt.NDArray[np.int16] | None = None,
        speed: float = 1.0,
        medium: Medium | None = None,
        flash_kb: int | None = None,
        heap: str = "256k",
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if root is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crowdpulse-serialband-")
            root = self._tmp.name
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.link = Path(link) if link else None
        self.medium = medium
        self.flash_kb = flash_kb
        self.heap = heap
        self.boots = 0
        self.output = bytearray()  # what the band printed, for tests and logs
        self.received: list[tuple[float, int]] = []  # (monotonic time, bytes) the host sent
        self.proc: subprocess.Popen[bytes] | None = None
        self._rig = _Rig(audio if audio is not None else np.zeros(FRAME * 100, np.int16), speed)
        self._host, host_side = os.openpty()
        tty.setraw(host_side)
        os.set_blocking(self._host, False)  # nobody listening: output is lost, as on a UART
        self._host_side = host_side  # held open: the port outlives every client and reboot
        self._band: int | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._relay, daemon=True)

    @property
    def port(self) -> str:
        """The serial port path to give `crowdpulse flash --port` or mpremote."""
        return str(self.link) if self.link else os.ttyname(self._host_side)

    @property
    def led(self) -> bool:
        return self._rig.led

    def start(self) -> SerialBand:
        if self.flash_kb:
            img = self.root / "flash.img"
            if not img.exists() or img.stat().st_size != self.flash_kb * 1024:
                img.write_bytes(b"\xff" * (self.flash_kb * 1024))
        if self.link:
            self.link.unlink(missing_ok=True)
            self.link.symlink_to(os.ttyname(self._host_side))
        self._boot()
        self._thread.start()
        return self

    def _argv(self) -> list[str]:
        blocks = (self.flash_kb or 0) * 1024 // FLASH_BLOCK
        mount = f"_mount({FLASH_BLOCK}, {blocks})\n" if self.flash_kb else ""
        code = mpy.script(_BOOT) + f"\n{mount}_boot()\ndel _Flash, _mount, _boot\n"
        return [
            sys.executable,
            "-c",
            _CTTY,
            mpy.find_micropython(),
            "-X",
            f"heapsize={self.heap}",
            "-i",
            "-c",
            code,
        ]

    def _boot(self) -> None:
        band, band_side = os.openpty()
        tty.setraw(band_side)
        attrs = termios.tcgetattr(band_side)
        attrs[3] |= termios.ISIG  # Ctrl-C interrupts running code, as on a board
        termios.tcsetattr(band_side, termios.TCSANOW, attrs)
        env = dict(
            os.environ,
            MICROPYPATH=os.pathsep.join(["", ".frozen", "lib"]),
            CROWDPULSE_RIG=f"127.0.0.1:{self._rig.port}",
        )
        if self.medium is not None:
            env["CROWDPULSE_MEDIUM"] = f"127.0.0.1:{self.medium.port}"
        self.proc = subprocess.Popen(
            self._argv(),
            stdin=band_side,
            stdout=band_side,
            stderr=band_side,
            cwd=self.root,
            env=env,
        )
        os.close(band_side)  # so that reading `band` fails once the process is gone
        os.set_blocking(band, False)
        self._band = band
        self.boots += 1

    def _relay(self) -> None:
        booted_at = time.monotonic()
        while not self._stop.is_set():
            fds = [self._host, self._wake_r] + ([self._band] if self._band is not None else [])
            ready, _, _ = select.select(fds, [], [], 0.5)
            if self._host in ready:
                data = os.read(self._host, 4096)
                self.received.append((time.monotonic(), len(data)))
                if self._band is not None:
                    _send(self._band, data)  # while the band is down, bytes are lost
            if self._band is not None and self._band in ready:
                try:
                    data = os.read(self._band, 4096)
                except OSError:
                    data = b""
                if data:
                    _send(self._host, data)
                    self.output += data
                else:
                    self._down()
                    if self._stop.is_set():
                        return
                    # a band that dies at once every time must not spin the host
                    time.sleep(0.1 if time.monotonic() - booted_at > 1 else 1.0)
                    self._boot()
                    booted_at = time.monotonic()

    def _down(self) -> None:
        if self._band is not None:
            os.close(self._band)
            self._band = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def power_cut(self) -> None:
        """Kill the band's MicroPython at once; the relay boots it again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait_output(self, text: str, timeout: float = 10.0, start: int = 0) -> bool:
        """True once the band has printed `text` (after byte `start` of its output)."""
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while time.monotonic() < deadline:
            if needle in self.output[start:]:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._thread.join(5)
        self._down()
        for fd in (self._host, self._host_side, self._wake_r, self._wake_w):
            os.close(fd)
        self._rig.close()
        if self.link:
            self.link.unlink(missing_ok=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> SerialBand:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
