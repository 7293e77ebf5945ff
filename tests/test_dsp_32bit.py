"""The band's DSP holds on the ESP32's 32-bit integers (sim/bands/twin32.py).

The parity tests run the firmware on the x86-64 MicroPython unix port, whose
viper ints are 64 bits wide, and the twin computes in int64; neither would
notice a sum that overflows on a band.  Here:

- the checked twin (every intermediate of every viper kernel, found by
  rewriting the kernels' syntax tree, checked against the signed 32-bit
  range) runs every test signal at the shortest and the longest report
  interval; the whole test suite runs its DSP on it too (tests/conftest.py);
- the ESP32 twin (every intermediate wrapped to 32 bits, `_SEXT = 0`, the
  samples read as unsigned 16-bit words) gives the very reports the 64-bit
  twin gives, and so the very reports the firmware gives (the parity test);
- a kernel that does overflow, on loud input only, is caught with its line,
  and so is the firmware with one of its range guards taken out.
"""

from __future__ import annotations

import ast

import dsp_signals
import numpy as np
import pytest

from crowdpulse.sim.bands import bandfeatures, twin, twin32
from crowdpulse.sim.bands.twin32 import Int32OverflowError

INTERVALS = (10, 250, 2550)  # ms: every frame, the default, the longest the packet carries


def _reports(mods: dict, audio: np.ndarray, interval_ms: int) -> list[bandfeatures.Interval]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(twin, "modules", lambda: mods)
        return list(bandfeatures.on_twin(audio, -2600, interval_ms))


def test_the_suite_runs_its_dsp_on_the_checked_twin() -> None:
    assert twin.modules() is twin32.checked_modules()
    assert type(twin.pipeline()).__module__ == twin32.__name__


@pytest.mark.parametrize("mode", twin32.MODES)
def test_every_operation_of_every_viper_kernel_is_a_site(mode: str) -> None:
    mods = twin32.checked_modules() if mode == "check" else twin32.wrapped_modules()
    kernels = 0
    for name, mod in mods.items():
        with open(str(mod.__file__)) as f:
            text = f.read()
        sites = set(mod.TWIN32_SITES)
        for fn in ast.walk(ast.parse(text)):
            if not (
                isinstance(fn, ast.FunctionDef)
                and any(ast.unparse(d).endswith("viper") for d in fn.decorator_list)
            ):
                continue
            kernels += 1
            for node in ast.walk(fn):
                if isinstance(node, (ast.BinOp, ast.AugAssign)):
                    seg = " ".join(str(ast.get_source_segment(text, node)).split())
                    assert f"{name}.py:{node.lineno}: {seg}" in sites, (
                        mode,
                        name,
                        node.lineno,
                        seg,
                    )
    assert kernels >= 8  # log2q10, filter_frame, subblocks, frame, ... all of them


@pytest.mark.parametrize("name", list(dsp_signals.signals()))
def test_every_intermediate_fits_32_bits_and_the_esp32_arithmetic_changes_nothing(
    name: str,
) -> None:
    audio = dsp_signals.signals()[name]
    for interval_ms in INTERVALS:
        want = _reports(twin.int64_modules(), audio, interval_ms)
        checked = _reports(twin32.checked_modules(), audio, interval_ms)  # raises on any overflow
        esp32 = _reports(twin32.wrapped_modules(), twin32.esp32_input(audio), interval_ms)
        assert checked == want, interval_ms
        assert esp32 == want, interval_ms


# An energy accumulator without the firmware's two-limb split: fine on quiet
# input, it overflows 32 bits on loud input (160 samples of 3700^2 > 2^31).
_UNSPLIT = """
import micropython


@micropython.viper
def unsplit_energy(x: ptr16, n: int) -> int:
    e = 0
    for i in range(n):
        v = int(x[i])
        if v >= 32768:
            v -= 65536
        e += v * v
    return e
"""


def test_a_kernel_that_overflows_on_loud_input_is_caught() -> None:
    quiet = np.full(160, -3000, np.int16)
    loud = np.full(160, -3700, np.int16)
    checked = twin32.load_source("probe", _UNSPLIT, "check").unsplit_energy
    esp32 = twin32.load_source("probe", _UNSPLIT, "wrap").unsplit_energy
    wide = twin.load_source("probe", _UNSPLIT).unsplit_energy
    assert checked(quiet, 160) == esp32(twin32.esp32_input(quiet), 160) == 160 * 3000**2
    assert wide(loud, 160) == 160 * 3700**2  # 64 bits: nothing to see
    with pytest.raises(Int32OverflowError) as err:
        checked(loud, 160)
    assert "probe.py:" in str(err.value) and "e += v * v" in str(err.value), str(err.value)
    assert err.value.value > 2**31 - 1
    # on the ESP32 the sum wraps: a wrong, here negative, energy
    assert esp32(twin32.esp32_input(loud), 160) == 160 * 3700**2 - 2**32


def _without_guard(source: str, name: str, value: int) -> str:
    """The source with `name = const(...)` set to value (a range guard loosened)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == name:
            node.value = ast.parse(f"const({value})", mode="eval").body
            return ast.unparse(tree)
    raise AssertionError(f"{name} is no longer in the firmware: update this test")


def test_the_firmware_with_a_range_guard_taken_out_is_caught() -> None:
    # xa is clamped to +-46000 so that xa^2 plus a 24-bit limb stays below
    # 2^31 (docs/dsp.md); at +-65535, full-scale input overflows on the ESP32.
    path = twin.firmware_dir() / "dspcore.py"
    loose = _without_guard(path.read_text(), "_XA_MAX", 65535)
    audio = dsp_signals.signals()["extremes"]
    with pytest.raises(Int32OverflowError) as err:
        _reports(twin32.build("check", {"dspcore": loose}), audio, 250)
    assert "dspcore.py:" in str(err.value) and "xa * xa" in str(err.value), str(err.value)
