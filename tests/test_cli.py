"""The `crowdpulse` entry point: help, version, packet tools, demo, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from crowdpulse import __version__
from crowdpulse.vectors import vectors

EXE = str(Path(sys.executable).parent / "crowdpulse")


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands_and_version_works() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for name in ("packet", "demo"):
        assert name in out.stdout
    assert cli("--version").stdout.strip() == f"crowdpulse {__version__}"


def test_packet_decode_checks_tag_with_venue_key(tmp_path: Path) -> None:
    keyfile = tmp_path / "venue.key"
    keyfile.write_text(bytes(range(32)).hex())
    v = vectors()[1]
    out = cli(
        "packet",
        "decode",
        v["report"],
        "--venue-key",
        str(keyfile),
        "--band-id",
        v["band_id"],
        "--epoch",
        str(v["epoch"]),
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["tag_ok"] is True and got["id_epoch"] == v["epoch"]
    assert got["claps"] == 4
    assert bytes(range(32)).hex() not in out.stdout + out.stderr


def test_bad_input_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (
        ["packet", "decode", "zz"],
        ["packet", "decode", "0102"],
        [
            "packet",
            "decode",
            vectors()[0]["report"],
            "--band-id",
            "B1",
            "--venue-key",
            str(tmp_path / "missing.key"),
        ],
    ):
        out = cli(*args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k"
    assert cli("packet", "keygen", str(path)).returncode == 0
    assert len(bytes.fromhex(path.read_text())) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    again = cli("packet", "keygen", str(path))
    assert again.returncode == 2 and "refusing" in again.stderr
