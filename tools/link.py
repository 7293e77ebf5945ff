"""One band on a serial port, through mpremote's raw REPL (mpremote.transport_serial).

Works the same for an ESP32 on USB and for a virtual band (crowdpulse.sim.bands.serialband,
the MicroPython unix port behind a pseudo-terminal).  The two differ only in
how they reset: an ESP32 gets `machine.reset()`; a unix-port band has no reset,
so it is sent `sys.exit()`, and its supervisor boots a fresh MicroPython, as
the ESP32's reset circuit would.  Nothing here ever soft-resets on connect
(mpremote's `resume`), so a band is only rebooted when the flashing tool means it.

Every failure is a LinkError with a kind and one line for the operator.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from crowdpulse import mpy

BANNER = b"raw REPL; CTRL-B to exit\r\n"
READ_TIMEOUT = 1.0  # seconds a single serial read may block
CHUNK = 3072  # bytes per exec when writing; sent as base64 (4 KB of text)
BOOT_RX = re.compile(r"crowdpulse: boot (ok|safe-mode) band=(\S*) fw=(\S+)")
# MicroPython run on the band: crowdpulse/scripts/link_*.py, reset_*.py
_RESET = {"esp32": "reset_esp32.py", "linux": "reset_unix.py"}


class LinkError(RuntimeError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Probe:
    """What a band says about itself before anything is written."""

    platform: str
    version: tuple[int, ...]
    mpy: int
    machine: str
    hashlib: bool
    running: bool
    statvfs: list[int]
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # path -> (size, sha256)
    band_id: str | None = None

    @property
    def free(self) -> int:
        return self.statvfs[4] * self.statvfs[1]

    @property
    def block(self) -> int:
        return self.statvfs[1] or 4096


@dataclass
class Boot:
    ok: bool
    band_id: str
    fw: str
    errors: list[str]


def open_error(port: str, exc: BaseException) -> LinkError:
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or not os.path.exists(port):
        return LinkError(
            "no-port",
            f"no such port: {port} (is the band plugged in? "
            "`crowdpulse provision --ports auto` finds bands)",
        )
    if code in (errno.EAGAIN, errno.EBUSY) or "lock" in str(exc).lower():
        return LinkError(
            "busy",
            f"port busy: {port} is open in another program "
            "(a monitor, mpremote, screen?); close it and run again",
        )
    if code == errno.EACCES:
        return LinkError(
            "permission",
            f"permission denied on {port}: add yourself to the "
            "dialout group (sudo adduser $USER dialout) and log in again",
        )
    return LinkError("no-port", f"cannot open {port}: {exc}")


class Link:
    def __init__(self, port: str, connect_timeout: float = 8.0) -> None:
        self.port = port
        self.connect_timeout = connect_timeout
        self.t: SerialTransport | None = None
        self._rx = b""  # console bytes read but not yet handed out as lines

    def open(self) -> Link:
        if not os.path.exists(self.port):
            raise open_error(self.port, FileNotFoundError(errno.ENOENT, self.port))
        try:
            # pyserial's exclusive open (flock) is how a busy port shows up.  A read
            # timeout, because mpremote reads a pty with blocking read(1) calls: without
            # one, a board that stops answering would hang the tool for ever.
            self.t = SerialTransport(
                self.port, baudrate=115200, exclusive=True, timeout=READ_TIMEOUT
            )
        except TransportError:
            try:
                serial.Serial(self.port, 115200, exclusive=True).close()
            except (OSError, ValueError) as exc:
                raise open_error(self.port, exc) from None
            raise LinkError("busy", f"port busy: cannot open {self.port}") from None
        return self

    @property
    def _tr(self) -> SerialTransport:
        if self.t is None:
            raise LinkError("transfer", f"{self.port} is not open")
        return self.t

    def close(self) -> None:
        if self.t is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                self.t.close()
            self.t = None

    # -- getting the REPL ------------------------------------------------------
    def _drain(self, quiet: float = 0.25, most: float = 1.0) -> bytes:
        """Read until the band is quiet or shows a prompt."""
        ser, data = self._tr.serial, b""
        end, last = time.monotonic() + most, time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            n = ser.in_waiting
            if n:
                data += ser.read(n)
                last = time.monotonic()
                if data.endswith((b">>> ", b"\n>")):
                    break
            else:
                time.sleep(0.02)
        return data

    def raw_repl(self, timeout: float | None = None) -> None:
        """Interrupt whatever runs (Ctrl-C) and enter the raw REPL, retrying until `timeout`."""
        deadline = time.monotonic() + (timeout or self.connect_timeout)
        try:
            while True:
                self._tr.serial.write(b"\r\x03")
                self._drain()
                self._tr.serial.write(b"\r\x01")
                left = deadline - time.monotonic()
                data = self._tr.read_until(
                    1, BANNER, timeout=1, timeout_overall=max(0.5, min(2.0, left))
                )
                if data.endswith(BANNER):
                    self._tr.in_raw_repl = True
                    return
                if time.monotonic() >= deadline:
                    raise LinkError(
                        "not-micropython",
                        f"not a MicroPython board: nothing on {self.port} "
                        "answered the raw REPL (flash MicroPython with --image)",
                    )
        except (OSError, serial.SerialException) as exc:
            raise LinkError("transfer", f"lost {self.port}: {exc}") from None

    # -- running code on the band ----------------------------------------------
    def run(self, code: str, timeout: float = 10.0) -> str:
        try:
            out, err = self._tr.exec_raw(code, timeout=timeout)
        except (TransportError, OSError, serial.SerialException, struct.error) as exc:
            raise LinkError(
                "transfer", f"the band on {self.port} stopped answering ({str(exc).strip()[:80]})"
            ) from None
        if err:
            raise _exec_error(TransportExecError(out, err.decode(errors="replace")))
        return str(out.decode(errors="replace"))

    def probe(self) -> Probe:
        code = mpy.script("link_probe.py") + f"\n_info({('wristband', 'lib')!r}, {_TOP!r})\n"
        try:
            raw = json.loads(self.run(code))
        except ValueError:
            raise LinkError(
                "not-micropython",
                f"the board on {self.port} gave an answer that is not from a MicroPython band",
            ) from None
        files = {p: (int(v[0]), str(v[1])) for p, v in raw["files"].items()}
        return Probe(
            raw["platform"],
            tuple(raw["version"]),
            int(raw["mpy"]),
            raw["machine"],
            bool(raw["hashlib"]),
            bool(raw["running"]),
            list(raw["statvfs"]),
            files,
            raw["band_id"] if isinstance(raw["band_id"], str) else None,
        )

    def platform(self) -> str:
        return self.run("import sys\nprint(sys.platform)").strip()

    def hashes(self, paths: list[str]) -> dict[str, str]:
        code = mpy.script("link_probe.py") + f"\n_hashes({paths!r})\n"
        return dict(json.loads(self.run(code, timeout=30)))

    def mkdirs(self, dirs: list[str]) -> None:
        if dirs:
            self.run(mpy.script("link_files.py") + f"\n_mkdirs({dirs!r})\n")

    def remove(self, paths: list[str]) -> None:
        if paths:
            self.run(mpy.script("link_files.py") + f"\n_remove({paths!r})\n")

    def write(self, path: str, data: bytes, progress: Callable[[int], None]) -> None:
        """Write to path.tmp, then rename: a broken transfer never leaves half a file by name."""
        tmp = path + ".tmp"
        self.run(mpy.script("link_files.py") + f"\n_open({tmp!r})\n")
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            self.run(f"w(a({base64.b64encode(chunk).decode()!r}))", timeout=20)
            progress(len(chunk))
        self.run(f"_commit({tmp!r}, {path!r})")

    # -- reboot ---------------------------------------------------------------------
    def reset(self, platform: str) -> None:
        # the band may go before it answers: the boot line tells
        with contextlib.suppress(TransportError, OSError, serial.SerialException):
            self._tr.exec_raw_no_follow(mpy.script(_RESET.get(platform, _RESET["esp32"])))
        self._tr.in_raw_repl = False
        self._rx = b""

    def wait_boot(self, timeout: float, on_line: Callable[[str], None] | None = None) -> Boot:
        """Read the band's console until its boot line (or its REPL, or `timeout`)."""
        deadline, errors = time.monotonic() + timeout, list[str]()
        while (line := self.next_line(deadline, stop_at_prompt=bool(errors))) is not None:
            if on_line:
                on_line(line)
            if line.startswith("crowdpulse: config error:") or line.startswith(
                ("Traceback", "ImportError", "ValueError", "MemoryError", "OSError")
            ):
                errors.append(line)
            m = BOOT_RX.search(line)
            if m:
                return Boot(m.group(1) == "ok", m.group(2), m.group(3), errors)
        # main.py died and the REPL came up, or the time ran out: no boot line will come
        return Boot(False, "", "", errors or ["no boot line"])

    def next_line(self, deadline: float, stop_at_prompt: bool = True) -> str | None:
        """The band's next console line; None at `deadline`, or when its REPL prompt
        shows (`stop_at_prompt`): then main.py has ended and nothing more will come.
        Lines that arrive together are kept for the next call, never dropped."""
        while True:
            if b"\n" in self._rx:
                raw, self._rx = self._rx.split(b"\n", 1)
                return raw.decode(errors="replace").strip()
            if (stop_at_prompt and self._rx.endswith(b">>> ")) or time.monotonic() >= deadline:
                return None
            self._rx += self._read_some()

    def _read_some(self) -> bytes:
        if self.t is None:
            time.sleep(0.3)  # native USB ports vanish while an ESP32 resets: reopen
            with contextlib.suppress(LinkError):
                self.open()
            return b""
        try:
            n = self.t.serial.in_waiting
            if n:
                return bytes(self.t.serial.read(n))
        except (OSError, serial.SerialException):
            self.close()
        time.sleep(0.02)
        return b""


_TOP = ("boot.py", "main.py", "main.py.hold", "config.json")


def _exec_error(exc: TransportExecError) -> LinkError:
    last = (exc.error_output.strip().splitlines() or ["?"])[-1]
    if "ENOSPC" in last or re.search(r"OSError: \[?Errno 28|OSError: 28", last):
        return LinkError("flash-full", "flash full: the band ran out of space while writing")
    return LinkError("transfer", f"the band raised {last[:120]}")
