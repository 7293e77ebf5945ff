"""Lint and type checks: ruff everywhere, mypy on the CPython code, pyright on the firmware."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import typecheck

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


def test_mypy_strict_on_cpython_code(tmp_path: Path) -> None:
    proc = _run(
        [str(sys.executable), "tests/typecheck.py", "--cache-dir", str(tmp_path / ".mypy_cache")]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_type_check_resolves_imports_by_the_declared_names(tmp_path: Path) -> None:
    # a tree whose folder (app/) differs from its import name (crowdpulse.gateway):
    # the mismatch in b.py is only found when the import resolves through the mapping
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "crowdpulse" = "top", "crowdpulse.gateway" = "app" }\n'
        "[tool.mypy]\nstrict = true\n"
    )
    for folder in ("top", "app"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    app = tmp_path / "app"
    (app / "a.py").write_text("def f() -> int:\n    return 1\n")
    (app / "b.py").write_text("from crowdpulse.gateway.a import f\n\nx: str = f()\n")
    errors = typecheck.check(tmp_path, cache_dir=str(tmp_path / ".mypy_cache"))
    assert len(errors) == 1 and "b.py:3" in errors[0], errors
    assert 'incompatible types in assignment (expression has type "int"' in errors[0].lower()


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
