"""MicroPython libraries the band needs, fetched from PyPI and pinned by hash.

The band's MQTT client is micropython-lib's `umqtt.simple`.  Its PyPI release
is an sdist holding one file; pip cannot install it (it has no build script),
so this module downloads it from the registry, checks the sha256, and unpacks
it into the virtual environment.  The virtual band puts that folder on
MICROPYPATH; the flashing tool copies it onto real bands.

    python -m crowdpulse.mpylib      # fetch (dev.py does this during set-up)
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGES = {
    # name: (url, sha256, members to extract)
    "micropython-umqtt.simple==1.3.4": (
        "https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
        "micropython-umqtt.simple-1.3.4.tar.gz",
        "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f",
        ("umqtt/simple.py",),
    ),
}
ENV_VAR = "CROWDPULSE_MPYLIB"


class MpyLibMissingError(RuntimeError):
    """A band library is not installed and could not be fetched."""


def lib_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path(sys.prefix) / "share" / "crowdpulse-mpylib")


def files() -> list[Path]:
    """Every library file, relative to lib_dir(), e.g. umqtt/simple.py."""
    return [Path(m) for _u, _h, members in PACKAGES.values() for m in members]


def _fetch(name: str, url: str, sha256: str, members: tuple[str, ...], target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except OSError as exc:
        raise MpyLibMissingError(f"cannot download {name} from PyPI ({exc})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise MpyLibMissingError(f"{name}: download does not match its pinned sha256")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar.getmembers():
            rel = info.name.split("/", 1)[-1]
            if rel in members and info.isfile():
                src = tar.extractfile(info)
                assert src is not None
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(src.read())
    for m in members:
        if not (target / m).exists():
            raise MpyLibMissingError(f"{name}: {m} not found in the sdist")


def ensure() -> Path:
    """Install any missing library file; returns the folder to put on MICROPYPATH."""
    target = lib_dir()
    for name, (url, sha, members) in PACKAGES.items():
        if not all((target / m).exists() for m in members):
            _fetch(name, url, sha, members, target)
    return target


if __name__ == "__main__":
    try:
        print(f"band libraries in {ensure()}")
    except MpyLibMissingError as exc:
        sys.exit(f"crowdpulse: {exc}")
