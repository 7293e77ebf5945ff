"""The DSP kernels' viper code: marked in the source, compiled for the band's CPU.

Viper is machine code, so a file that says `@micropython.viper` cannot be
compiled by mpy-cross without the band's architecture (plain `mpy-cross` stops
with "invalid arch").  The kernel modules (dspcore, dspfeat, dspspec) therefore
mark their viper functions `@viper`, a plain decorator, and stay ordinary
Python to every tool.  The marker becomes `@micropython.viper` in exactly two
places, both through `source()`:
- `crowdpulse flash`, which precompiles them with the band's `-march`;
- `install()`, which compiles their source on the band at import, with the
  band's own native emitter (also what the unix port's virtual band does).

The DSP twin compiles the same `source()` text (crowdpulse.sim.bands.twin).
"""

import sys

_MARK = "@viper"
_EMIT = "@micropython.viper"


def viper(fn):
    """The kernel marker.  It only runs when a kernel module was compiled
    without `source()` (a plain mpy-cross, or a frozen build): on a band that
    would be slow bytecode, so it stops the import with one clear line."""
    if sys.implementation.name == "micropython":
        raise ImportError(
            "the DSP kernels were compiled without viper: copy their .py source "
            "to the band, or flash with `crowdpulse flash`"
        )
    return fn


def source(text):
    """`text` with every `@viper` marker line turned into `@micropython.viper`
    (same line count, so errors keep their line numbers)."""
    if _MARK not in text:
        return text
    lines = text.split("\n")
    for i in range(len(lines)):
        line = lines[i]
        if line.strip() == _MARK:
            lines[i] = line[: len(line) - len(line.lstrip())] + _EMIT
    return "\n".join(lines)


class _Module:
    """What `install()` puts in sys.modules: a compiled kernel's names
    (MicroPython cannot create module objects)."""


def _source_path(name):
    here = __file__
    cut = here.rfind("/")
    return (here[: cut + 1] if cut >= 0 else "") + name + ".py"


def install(*names):
    """Compile each kernel module `wristband.<name>` from its source with
    viper and register it, so that the plain imports which follow find it.
    A module already imported, or shipped precompiled (no .py on the band,
    as `crowdpulse flash` leaves it), is left to the normal import."""
    if sys.implementation.name != "micropython":
        return  # CPython imports them plain; the twin compiles them itself
    import gc

    for name in names:
        full = "wristband." + name
        path = _source_path(name)
        if full in sys.modules or not _exists(path):
            continue
        with open(path) as f:
            text = source(f.read())
        space = {"__name__": full, "__file__": path}
        gc.collect()
        exec(compile(text, path, "exec"), space)
        text = None
        module = _Module()
        for key in space:
            setattr(module, key, space[key])
        sys.modules[full] = module
        gc.collect()


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False
