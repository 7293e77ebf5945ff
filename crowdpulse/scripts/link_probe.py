# Runs on a band through the raw REPL (crowdpulse.tools.link): what the band holds.
# The host sends this file, then one call: `_info(dirs, top)` or `_hashes(paths)`;
# each prints one JSON line.  The names start with _ to keep the band's REPL tidy.
import json
import os
import sys

if sys.platform == "esp32":
    os.chdir("/")
try:
    import binascii
    import hashlib
except ImportError:  # a build without them: sizes only
    binascii = hashlib = None


def _h(p):
    if hashlib is None:
        return ""
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    with open(p, "rb") as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()


def _walk(d, out, dirs, top):
    # path -> [size, sha256] of the band's files: the folders `dirs` and the top-level
    # files `top` (and any half-written .tmp) of the flash's root
    try:
        es = list(os.ilistdir(d))
    except OSError:
        return
    for e in es:
        p = e[0] if d == "." else d + "/" + e[0]
        if e[1] & 0x4000:
            if d != "." or e[0] in dirs:
                _walk(p, out, dirs, top)
        elif d != "." or e[0] in top or e[0].endswith(".tmp"):
            out[p] = [os.stat(p)[6], _h(p)]


def _info(dirs, top):
    f = {}
    _walk(".", f, dirs, top)
    band = None
    try:  # noqa: SIM105 - MicroPython has no contextlib
        with open("config.json") as cf:
            band = json.load(cf).get("band_id")
    except Exception:
        pass
    impl = sys.implementation
    print(
        json.dumps(
            {
                "platform": sys.platform,
                "version": list(impl.version[:3]),
                "mpy": getattr(impl, "_mpy", 0),
                "machine": getattr(impl, "_machine", ""),
                "hashlib": hashlib is not None,
                "running": "wristband.app" in sys.modules,
                "statvfs": list(os.statvfs(".")),
                "files": f,
                "band_id": band,
            }
        )
    )


def _hashes(paths):
    o = {}
    for p in paths:
        try:
            o[p] = _h(p)
        except OSError:
            o[p] = ""
    print(json.dumps(o))
