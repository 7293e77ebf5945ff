#!/usr/bin/env python3
"""Set-up and run in one command, on a machine with only Python 3.11+ and pip.

    python3 dev.py demo        # the main job: `crowdpulse demo`
    python3 dev.py test        # the whole test suite (what CI runs)

Both create or reuse `.venv`, install the project and its test tools into it,
and install the system packages the tests drive (Mosquitto, Chromium, MPD) with apt-get
when running as root.  Extra arguments go to the command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".crowdpulse-installed"
# executable -> Debian packages that provide it (with their companions)
SYSTEM = {"mosquitto": ["mosquitto", "mosquitto-clients"], "chromium": ["chromium"], "mpd": ["mpd"]}
SYSTEM_PATHS = ["/usr/sbin", "/usr/local/sbin"]
# shared library -> Debian packages (the gateway's line-in reference reads audio with PortAudio)
SYSTEM_LIBS = {"portaudio": ["libportaudio2"]}


def say(msg: str) -> None:
    print(f"[dev] {msg}", flush=True)


def have(exe: str) -> bool:
    return shutil.which(exe) is not None or any(Path(p, exe).exists() for p in SYSTEM_PATHS)


def have_lib(name: str) -> bool:
    import ctypes.util

    return ctypes.util.find_library(name) is not None


def ensure_system_packages() -> None:
    missing = [pkg for exe, pkgs in SYSTEM.items() if not have(exe) for pkg in pkgs]
    missing += [pkg for lib, pkgs in SYSTEM_LIBS.items() if not have_lib(lib) for pkg in pkgs]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing {' '.join(missing)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
        return
    sys.exit(
        f"[dev] missing system packages; install them with: "
        f"sudo apt-get install -y {' '.join(missing)}"
    )


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on any system python3
        sys.exit("[dev] crowdpulse needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    # the package's version lives in the firmware (one source): a bump reinstalls too
    sources = [ROOT / "pyproject.toml", ROOT / "firmware" / "wristband" / "__init__.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing crowdpulse and its test tools into .venv")
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-U", "pip", "setuptools", "wheel"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    # the band's MQTT client (micropython-lib umqtt.simple), pinned, from PyPI
    subprocess.run([str(BIN / "python"), "-m", "crowdpulse.mpylib"], check=True)
    STAMP.write_text(digest)


def run_tests(args: list[str]) -> int:
    code = subprocess.run([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT).returncode
    if code == 5:
        say("pytest collected no tests: treating that as a failure")
        return 1
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    ensure_system_packages()
    ensure_venv()
    if argv[0] == "test":
        return run_tests(argv[1:])
    return subprocess.run([str(BIN / "crowdpulse"), "demo", *argv[1:]], cwd=ROOT).returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as exc:
        sys.exit(f"[dev] set-up step failed ({exc.returncode}): {' '.join(map(str, exc.cmd))}")
    except KeyboardInterrupt:
        sys.exit(130)
