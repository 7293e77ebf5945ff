"""`crowdpulse flash`: one band, from a bare chip (with an image) to its first good boot line.

1. With an image: esptool erases, writes and verifies MicroPython (tools/esp.py).
2. mpremote's raw REPL (tools/link.py); the band tells its platform, MicroPython
   version, .mpy version and native architecture, free flash, and the sha256 of
   every file crowdpulse manages on it.
3. If the firmware was running, the band first reboots without it (main.py is
   renamed main.py.hold for that one boot, then put back), so no watchdog
   (30 s on an ESP32) resets it mid-copy and the copy has the whole heap.
4. The firmware is compiled for that band (tools/firmware.py) and only the files
   whose hash differs are written, each to a .tmp name then renamed; stale
   modules (a left-over .py would shadow its .mpy) and .tmp files are removed;
   config.json goes last.  A second flash of the same band copies nothing.
5. Every file is hashed again on the band and compared.
6. The band is reset (`machine.reset()`; a virtual band exits and its
   supervisor boots it again) and the tool waits for `crowdpulse: boot ok`.
7. A band that reports over MQTT: the tool waits for its first `mqtt online`,
   or its refusal, and says which (tools/uplinkwait.py).

Whatever breaks, the band is left so that running the same command again
finishes the job: the REPL stays reachable (boot.py touches no hardware) and
step 4 rewrites exactly what is missing or wrong.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crowdpulse.tools import bandconfig, esp, firmware, uplinkwait
from crowdpulse.tools.firmware import BandFile, FirmwareError, Target
from crowdpulse.tools.link import Boot, Link, LinkError, Probe
from wristband import VERSION

MIN_VERSION = (1, 23, 0)
MIN_VERSION_ENV = "CROWDPULSE_MIN_MICROPYTHON"
MANAGED = ("wristband/", "lib/umqtt/")
PLATFORMS = ("esp32", "linux")
Progress = Callable[[str, int, int], None]
_RENAME = "import os\ntry:\n os.rename(%r, %r)\nexcept OSError:\n pass"


class FlashError(RuntimeError):
    """An expected failure: `kind` names it, the message is one line for the operator."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Job:
    port: str
    band_id: str
    config: dict[str, Any]  # holds the band's keys: never printed
    board: str
    image: Path | None = None
    connect_timeout: float = 8.0
    boot_timeout: float = 30.0
    mqtt_timeout: float = 20.0  # 0: do not wait for the band's MQTT uplink


@dataclass
class Hooks:
    """Test seams: called before each file is written, and between copy and verify."""

    before_write: Callable[[str], None] | None = None
    after_copy: Callable[[], None] | None = None


@dataclass
class Result:
    band_id: str
    port: str
    firmware: str
    target: str
    platform: str
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    mqtt: uplinkwait.Outcome | None = None  # None: the band does not use MQTT


def min_version() -> tuple[int, ...]:
    text = os.environ.get(MIN_VERSION_ENV)
    if not text:
        return MIN_VERSION
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        raise FlashError("usage", f"${MIN_VERSION_ENV} must look like 1.23.0") from None


def _dotted(v: tuple[int, ...]) -> str:
    return ".".join(str(x) for x in v)


def check_band(probe: Probe, board: str) -> Target:
    """The band can run the firmware; returns what to compile for."""
    if probe.platform not in PLATFORMS:
        raise FlashError(
            "unsupported",
            f"the band runs MicroPython for {probe.platform!r}; crowdpulse bands are ESP32s",
        )
    want = min_version()
    if probe.version[:3] < want or not probe.mpy or not probe.hashlib:
        raise FlashError(
            "too-old",
            f"MicroPython {_dotted(probe.version[:3])} on the band is too old: "
            f"crowdpulse needs {_dotted(want)} or newer; flash one with --image",
        )
    if probe.platform == "esp32":
        chip, need = esp.chip_of_machine(probe.machine), esp.BOARD_CHIPS[board]
        if chip is not None and chip != need:
            raise FlashError(
                "board",
                f"board {board} needs an {esp.chip_name(need)}, but the band "
                f"is {probe.machine!r}; choose the right --board",
            )
    target = Target.from_sys_mpy(probe.mpy)
    try:
        firmware.check_target(target)
    except FirmwareError as exc:
        raise FlashError("too-old", str(exc)) from None
    return target


def plan(probe: Probe, files: list[BandFile]) -> tuple[list[BandFile], list[str]]:
    """(files to write, files to remove): only what differs from what the band holds."""
    wanted = {f.path for f in files}
    writes = [f for f in files if probe.files.get(f.path, (0, ""))[1] != f.sha256]
    strays = [
        p
        for p in probe.files
        if p not in wanted and (p.startswith(MANAGED) or p.endswith(".tmp") or p == "main.py.hold")
    ]
    return writes, sorted(strays)


def space_needed(probe: Probe, writes: list[BandFile], strays: list[str]) -> int:
    """Bytes of free flash the copy needs, in whole blocks, with room for the .tmp copies."""
    if not writes:
        return 0
    block = probe.block

    def blocks(n: int) -> int:
        return -(-n // block)

    new = sum(blocks(len(f.data)) for f in writes)
    old = sum(
        blocks(probe.files[p][0])
        for p in [f.path for f in writes if f.path in probe.files] + strays
    )
    biggest = max(blocks(len(f.data)) for f in writes)
    return (new - old + biggest + 2) * block  # +2: littlefs needs spare blocks to commit


class _Flasher:
    def __init__(self, job: Job, progress: Progress | None, hooks: Hooks | None) -> None:
        self.job = job
        self.say: Progress = progress or (lambda step, done, total: None)
        self.hooks = hooks or Hooks()
        self.link = Link(job.port, job.connect_timeout)

    def run(self) -> Result:
        t0 = time.monotonic()
        if self.job.image is not None:
            esp.flash_image(self.job.port, self.job.image, self.job.board, self.say)
        self.say("connect", 0, 1)
        self.link.open()
        # a freshly flashed image first formats its file system: allow for that
        self.link.raw_repl(self.job.connect_timeout + (15 if self.job.image else 0))
        probe = self.link.probe()
        target = check_band(probe, self.job.board)
        if probe.running:
            probe = self._hold(probe)
        self.say("connect", 1, 1)
        files = firmware.build(target) + [
            BandFile("config.json", bandconfig.to_json(self.job.config))
        ]
        writes, strays = plan(probe, files)
        result = Result(
            self.job.band_id,
            self.job.port,
            firmware.firmware_hash(),
            str(target),
            probe.platform,
            [f.path for f in writes],
            len(files) - len(writes),
            strays,
        )
        self._copy(probe, writes, strays)
        self._verify(files)
        self._boot(probe.platform)
        result.seconds = time.monotonic() - t0
        if uplinkwait.uses_mqtt(self.job.config) and self.job.mqtt_timeout > 0:
            self.say("mqtt", 0, 1)
            result.mqtt = uplinkwait.wait(self.link, self.job.mqtt_timeout)
            self.say("mqtt", 1, 1)
        return result

    def _hold(self, probe: Probe) -> Probe:
        """Reboot once without the firmware (main.py renamed meanwhile), then put it back."""
        self.link.run(_RENAME % ("main.py", "main.py.hold"))
        self.link.reset(probe.platform)
        self.link.raw_repl(self.job.connect_timeout + self.job.boot_timeout)
        self.link.run(_RENAME % ("main.py.hold", "main.py"))
        return self.link.probe()

    def _copy(self, probe: Probe, writes: list[BandFile], strays: list[str]) -> None:
        need = space_needed(probe, writes, strays)
        if need > probe.free:
            raise FlashError(
                "flash-full",
                f"flash full: the firmware needs {need // 1024} kB, the band "
                f"has {probe.free // 1024} kB free; remove other files "
                "(mpremote) or start afresh with --image",
            )
        self.link.remove(strays)
        dirs = sorted({str(Path(f.path).parent) for f in writes} - {"."})
        self.link.mkdirs(sorted({d for p in dirs for d in _parents(p)}))
        total, done = sum(len(f.data) for f in writes), 0
        self.say("copy", 0, total)
        # the package first, main.py and config.json last: a band cut off midway
        # never boots half a firmware, it stops at an ImportError with its REPL free
        for f in sorted(writes, key=lambda f: (f.path == "config.json", f.path == "main.py")):
            if self.hooks.before_write:
                self.hooks.before_write(f.path)

            def step(n: int) -> None:
                nonlocal done
                done += n
                self.say("copy", done, total)

            self.link.write(f.path, f.data, step)
        self.say("copy", total, total)
        if self.hooks.after_copy:
            self.hooks.after_copy()

    def _verify(self, files: list[BandFile]) -> None:
        self.say("verify", 0, len(files))
        got = self.link.hashes([f.path for f in files])
        bad = [f.path for f in files if got.get(f.path) != f.sha256]
        if bad:
            raise FlashError(
                "verify",
                f"verification failed: {', '.join(bad[:3])} on the band "
                f"{'do' if len(bad) > 1 else 'does'} not match; run again to re-copy",
            )
        self.say("verify", len(files), len(files))

    def _boot(self, platform: str) -> None:
        self.say("boot", 0, 1)
        self.link.reset(platform)
        boot = self.link.wait_boot(self.job.boot_timeout)
        self._check_boot(boot)
        self.say("boot", 1, 1)

    def _check_boot(self, boot: Boot) -> None:
        if not boot.band_id and boot.errors == ["no boot line"]:
            raise FlashError(
                "boot",
                f"no boot line from the band within {self.job.boot_timeout:.0f} s; "
                f"watch it with `crowdpulse monitor --port {self.job.port}`",
            )
        if not boot.ok:
            detail = "; ".join(e.removeprefix("crowdpulse: ") for e in boot.errors[-3:])
            raise FlashError(
                "boot",
                f"the band booted in safe mode: {detail}"
                if boot.band_id
                else f"the band failed to start: {detail}",
            )
        if boot.band_id != self.job.band_id or boot.fw != VERSION:
            raise FlashError(
                "boot",
                f"the band booted as {boot.band_id} fw={boot.fw}, "
                f"expected {self.job.band_id} fw={VERSION}",
            )


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def flash(job: Job, progress: Progress | None = None, hooks: Hooks | None = None) -> Result:
    """Flash and configure one band; raises FlashError with one line on any expected failure."""
    flasher = _Flasher(job, progress, hooks)
    try:
        return flasher.run()
    except LinkError as exc:
        raise FlashError(exc.kind, str(exc)) from None
    except (FirmwareError, esp.ImageError) as exc:
        raise FlashError(
            "image" if isinstance(exc, esp.ImageError) else "firmware", str(exc)
        ) from None
    finally:
        flasher.link.close()


def restart(
    port: str, connect_timeout: float = 8.0, boot_timeout: float = 30.0, mqtt_timeout: float = 0.0
) -> uplinkwait.Outcome | None:
    """Reset a band that needs nothing written and wait for its boot line (and,
    with `mqtt_timeout`, its MQTT uplink's first word)."""
    link = Link(port, connect_timeout)
    try:
        link.open()
        link.raw_repl()
        link.reset(link.platform())
        boot = link.wait_boot(boot_timeout)
        if not boot.ok:
            raise FlashError(
                "boot", f"the band on {port} did not boot ok: {'; '.join(boot.errors[-3:])}"
            )
        return uplinkwait.wait(link, mqtt_timeout) if mqtt_timeout > 0 else None
    except LinkError as exc:
        raise FlashError(exc.kind, str(exc)) from None
    finally:
        link.close()
