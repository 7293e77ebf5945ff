"""The twin with the ESP32's 32-bit arithmetic: every intermediate checked, or wrapped.

On the ESP32 a viper int is a 32-bit register; on the unix port and in the
twin (crowdpulse.sim.bands.twin) it has 64 bits, so a sum that overflows on a band
would pass unnoticed everywhere else.  Here the twin's DSP modules are built
from the firmware source with every `@micropython.viper` function rewritten
(crowdpulse.sim.bands.arith32): each integer it computes, and each `int` argument it
receives, is a site, and by mode

- `check`: a site outside the signed 32-bit range, or a shift count outside
  0..31, raises `Int32OverflowError` naming the file, line and expression; every
  int array a `Pipeline` holds is checked after each frame too (the band
  stores them in array('i'));
- `wrap`: each site keeps its low 32 bits, sign-extended, as the ESP32's ALU
  does.  With `_SEXT = 0` (the ESP32's branch, which the twin always takes)
  and the samples handed over as unsigned 16-bit words (`esp32_input`: viper
  reads `ptr16` unsigned), this is the firmware's ESP32 path with the
  ESP32's arithmetic, to compare with the 64-bit twin.

Nothing is listed by hand: a kernel added to dspcore or dspfeat is covered as
soon as it exists.  The test suite runs every DSP computation on the checked
twin (tests/conftest.py).
"""

from __future__ import annotations

import ast
import types
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.sim.bands import arith32, twin
from crowdpulse.sim.bands.arith32 import INT32_MAX, INT32_MIN

MODES = ("check", "wrap")


class Int32OverflowError(ArithmeticError):
    """A DSP kernel computed a value that does not fit the ESP32's 32-bit int
    (a negative site: a shift count outside 0..31)."""

    def __init__(self, site: int, value: int, where: str = "") -> None:
        super().__init__(site, value)
        self.site = site
        self.value = value
        self.where = where or arith32.SITES.get(abs(site), f"site {site}")

    def __str__(self) -> str:
        if self.site < 0:
            return f"{self.where}: shift count {self.value} outside 0..31"
        return f"{self.where} = {self.value}: outside the signed 32-bit range"


def transform(
    mode: str, coverage: dict[str, list[str]], sources: dict[str, str] | None = None
) -> Any:
    """A `twin.build` transform for `mode`, noting each module's sites in
    `coverage`; `sources` may replace a module's text."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")

    def instrument(tree: ast.Module, name: str) -> ast.Module:
        path = Path(twin.firmware_dir()) / f"{name}.py"
        source = path.read_text()
        if sources and name in sources:
            source = sources[name]
            tree = ast.parse(source, str(path))
        rewrite = (
            arith32.Check(path.name, source) if mode == "check" else arith32.Wrap(path.name, source)
        )
        out: ast.Module = rewrite.visit(tree)
        coverage[name] = [arith32.SITES[n] for n in rewrite.sites.numbers]
        return out

    return instrument


def load_source(name: str, source: str, mode: str) -> types.ModuleType:
    """A module of viper source outside the firmware, with 32-bit arithmetic."""
    rewrite = (
        arith32.Check(f"{name}.py", source)
        if mode == "check"
        else arith32.Wrap(f"{name}.py", source)
    )
    mod = twin.load_source(
        name, source, lambda tree, _name: rewrite.visit(tree), {arith32.RAISE: Int32OverflowError}
    )
    mod.__dict__["TWIN32_SITES"] = [arith32.SITES[n] for n in rewrite.sites.numbers]
    return mod


def arrays_fit(pipe: Any) -> None:
    """Every int array a pipeline holds fits int32, as the band's array('i') must."""
    for name, arr in vars(pipe).items():
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "iu" and arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < INT32_MIN or hi > INT32_MAX:
                raise Int32OverflowError(
                    0, lo if lo < INT32_MIN else hi, f"Pipeline.{name} (array('i'))"
                )


def _guard(mods: dict[str, types.ModuleType]) -> None:
    base = mods["dsp"].Pipeline

    class CheckedPipeline(base):  # type: ignore[misc, valid-type]
        """The firmware's Pipeline; its arrays are checked after every frame."""

        def process(self, frame: npt.NDArray[Any]) -> None:
            super().process(frame)
            arrays_fit(self)

    CheckedPipeline.__name__ = "Pipeline"
    mods["dsp"].Pipeline = CheckedPipeline  # type: ignore[attr-defined]


def build(mode: str, sources: dict[str, str] | None = None) -> dict[str, types.ModuleType]:
    """The twin's modules with 32-bit arithmetic (`check` or `wrap`).

    `sources` replaces a module's text (name -> source): the tests use it to
    prove that a kernel which does overflow is caught."""
    coverage: dict[str, list[str]] = {}
    mods = twin.build(
        transform(mode, coverage, sources),
        {arith32.RAISE: Int32OverflowError},
        prefix=f"crowdpulse_twin32_{mode}_",
    )
    for name, mod in mods.items():
        mod.__dict__["TWIN32_SITES"] = coverage.get(name, [])
    if mode == "check":
        _guard(mods)
    return mods


@cache
def checked_modules() -> dict[str, types.ModuleType]:
    """The checked twin, compiled once per process (drop-in for `twin.modules`)."""
    return build("check")


@cache
def wrapped_modules() -> dict[str, types.ModuleType]:
    """The ESP32-arithmetic twin, compiled once per process."""
    return build("wrap")


def esp32_input(audio: npt.NDArray[np.int16]) -> npt.NDArray[np.uint16]:
    """Samples as viper's ptr16 reads them on the band: unsigned 16-bit words."""
    return np.ascontiguousarray(audio, dtype=np.int16).view(np.uint16)
