"""The DSP twin: the firmware's own pipeline source, run in CPython at host speed.

The firmware modules `wristband.dspcore`, `wristband.dspfeat`,
`wristband.dspspec` and `wristband.dsp` are executed here unchanged: their
source goes through `wristband.native.source()`, as on the band, which turns
each `@viper` kernel marker into `@micropython.viper`.  Three substitutions
follow: `micropython.viper` becomes `numba.njit`, `array.array` becomes a numpy array
(int64 for state), and `_SEXT` becomes 0 because numpy loads are already
signed.  The result is bit-identical to the band; the tests prove it against
the real MicroPython, and crowdpulse.sim.bands.twin32 proves that no intermediate
needs more than the ESP32's 32 bits.
"""

from __future__ import annotations

import ast
import sys
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numba
import numpy as np

from wristband import native

_DTYPES = {"h": np.int16, "H": np.uint16, "i": np.int64, "b": np.int8, "B": np.uint8}
_MODULES = ("dspcore", "dspfeat", "dspspec", "dsp")


def _njit(fn: Any) -> Any:
    return numba.njit(cache=False, nogil=True)(fn)


@numba.njit
def _cast(buf: Any) -> Any:
    return buf


def _array(typecode: str, init: Any = ()) -> np.ndarray:
    return np.array(list(init), dtype=_DTYPES[typecode])


def _shims() -> dict[str, types.ModuleType]:
    mp = types.ModuleType("micropython")
    mp.viper = _njit  # type: ignore[attr-defined]
    mp.native = _njit  # type: ignore[attr-defined]
    mp.const = lambda x: x  # type: ignore[attr-defined]
    arr = types.ModuleType("array")
    arr.array = _array  # type: ignore[attr-defined]
    return {"micropython": mp, "array": arr}


def firmware_dir() -> Path:
    from crowdpulse.mpy import firmware_dir

    return firmware_dir() / "wristband"


@cache
def int64_modules() -> dict[str, types.ModuleType]:
    """The twin's copies of the firmware DSP modules, compiled once per process."""
    return build()


def modules() -> dict[str, types.ModuleType]:
    """The twin's modules: `int64_modules()`, except in the test suite, which
    swaps in the 32-bit-checked ones of crowdpulse.sim.bands.twin32 (tests/conftest.py)."""
    return int64_modules()


def build(
    transform: Callable[[ast.Module, str], ast.Module] | None = None,
    inject: dict[str, Any] | None = None,
    prefix: str = "crowdpulse_twin_",
) -> dict[str, types.ModuleType]:
    """A fresh set of the twin's modules.  `transform(tree, name)` may rewrite
    each module's syntax tree first, calling helpers given in `inject`
    (crowdpulse.sim.bands.twin32 instruments the arithmetic that way)."""
    shims = _shims()
    saved = {name: sys.modules.get(name) for name in ("micropython", "array")}
    built: dict[str, types.ModuleType] = {}
    try:
        sys.modules.update(shims)
        for name in _MODULES:
            full = f"wristband.{name}"
            path = firmware_dir() / f"{name}.py"
            saved.setdefault(full, sys.modules.get(full))
            tree = ast.parse(native.source(path.read_text()), str(path))
            if transform is not None:
                tree = transform(tree, name)
            built[name] = sys.modules[full] = _load(f"{prefix}{name}", path, tree, inject)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return built


def _load(
    name: str, path: Path, tree: ast.Module, inject: dict[str, Any] | None
) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    for ptr in ("ptr8", "ptr16", "ptr32"):
        setattr(mod, ptr, _cast)
    mod.uint = int  # type: ignore[attr-defined]
    # `@micropython.viper`, as native.source() writes it, names the module
    mod.micropython = sys.modules["micropython"]  # type: ignore[attr-defined]
    mod.__dict__.update(inject or {})
    exec(compile(ast.fix_missing_locations(tree), str(path), "exec"), mod.__dict__)
    mod._SEXT = 0  # type: ignore[attr-defined]
    return mod


def load_source(
    name: str,
    source: str,
    transform: Callable[[ast.Module, str], ast.Module] | None = None,
    inject: dict[str, Any] | None = None,
) -> types.ModuleType:
    """One module of viper source, outside the firmware (tests probe the tools with it)."""
    shims = _shims()
    saved = {n: sys.modules.get(n) for n in shims}
    try:
        sys.modules.update(shims)
        tree = ast.parse(native.source(source), f"{name}.py")
        if transform is not None:
            tree = transform(tree, name)
        return _load(name, Path(f"{name}.py"), tree, inject)
    finally:
        for n, old in saved.items():
            if old is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = old


def pipeline(mic_sensitivity_cdb: int = -2600) -> Any:
    """A `wristband.dsp.Pipeline` running on the twin."""
    return modules()["dsp"].Pipeline(mic_sensitivity_cdb)


def i2s32_to_16(src: bytes) -> np.ndarray:
    """The firmware's I2S slot converter, on the twin."""
    n = len(src) // 4
    dst = np.zeros(n, dtype=np.int16)
    modules()["dspcore"].i2s32_to_16(np.frombuffer(src, dtype=np.uint8), dst, n)
    return dst
