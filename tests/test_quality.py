"""Lint and type checks: ruff everywhere, mypy on the CPython code, pyright on the firmware."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from import_graph import package_dirs

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def test_ruff_is_clean() -> None:
    proc = _run([str(BIN / "ruff"), "check", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_cpython_code_is_ruff_formatted() -> None:
    proc = _run([str(BIN / "ruff"), "format", "--check", "."])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _installed_layout(tmp: Path) -> Path:
    # mypy cannot follow setuptools' editable import hook, so show it the
    # installed layout (crowdpulse.gateway -> gateway/ ...) as pyproject's
    # package-dir declares it; the firmware is on MYPYPATH under its own name.
    pkg = tmp / "crowdpulse"
    pkg.mkdir()
    for entry in (ROOT / "crowdpulse").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for name, folder in package_dirs(ROOT).items():
        parent, _, leaf = name.rpartition(".")
        if parent == "crowdpulse" and (folder / "__init__.py").exists():
            (pkg / leaf).symlink_to(folder)
    return tmp


def test_mypy_strict_on_cpython_code(tmp_path: Path) -> None:
    tree = _installed_layout(tmp_path)
    env = dict(os.environ, MYPYPATH=f"{tree}{os.pathsep}{ROOT / 'firmware'}")
    proc = _run(
        [
            str(BIN / "mypy"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "crowdpulse",
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_firmware_against_esp32_stubs() -> None:
    # -t: MicroPython's own stdlib stubs (time.ticks_ms, select.poll.ipoll, ...)
    typeshed = sysconfig.get_paths()["purelib"]
    proc = _run(
        [
            str(BIN / "basedpyright"),
            "-p",
            "firmware/pyrightconfig.json",
            "--pythonpath",
            sys.executable,
            "-t",
            typeshed,
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 errors" in proc.stdout


def test_the_firmware_check_catches_esp32_apis_that_do_not_exist(tmp_path: Path) -> None:
    (tmp_path / "pyrightconfig.json").write_text((ROOT / "firmware/pyrightconfig.json").read_text())
    (tmp_path / "probe.py").write_text(
        "import bluetooth\nimport machine\n\n\ndef f():\n"
        "    machine.I2S.nonexistent()\n"
        "    bluetooth.BLE().gap_advertize(100000)\n"
        "    machine.Pin(2).value(1)\n"
    )
    typeshed = sysconfig.get_paths()["purelib"]
    proc = _run(
        [
            str(BIN / "basedpyright"),
            "-p",
            str(tmp_path / "pyrightconfig.json"),
            "--pythonpath",
            sys.executable,
            "-t",
            typeshed,
        ]
    )
    assert proc.returncode != 0
    assert "nonexistent" in proc.stdout and "gap_advertize" in proc.stdout
    assert "2 errors" in proc.stdout  # and the real API passes
