"""The MicroPython image on a bare ESP32, with esptool (run as `python -m esptool`).

Three esptool runs: erase the whole flash (so no old file system survives),
write the image at the chip's bootloader offset (esptool checks the written
data's digest), then read it back and compare (`verify-flash`), which ends
with a hard reset into MicroPython.  The image is checked on this machine
first: an ESP image at all, for the chip of the chosen board, not damaged.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from esptool.bin_image import LoadFirmwareImage
from esptool.targets import CHIP_DEFS
from esptool.util import FatalError

# board profile (wristband/boards.py) -> esptool chip name
BOARD_CHIPS = {
    "esp32-devkitc-inmp441": "esp32",
    "esp32-devkitc-pcm1808": "esp32",
    "esp32s3-devkitc-inmp441": "esp32s3",
    "m5stickc-plus": "esp32",
    "xiao-esp32s3-sense": "esp32s3",
}
BAUD = 460800
ESP_IMAGE_MAGIC = 0xE9
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d)?)\s*%")
STEPS = ("erase", "write", "verify")


class ImageError(RuntimeError):
    """The image or the chip is not what the board needs (one line)."""


def chip_name(chip: str) -> str:
    return str(CHIP_DEFS[chip].CHIP_NAME)


def chip_of_machine(machine: str) -> str | None:
    """'Generic ESP32 module with ESP32' -> 'esp32' (sys.implementation._machine)."""
    tail = machine.rsplit(" with ", 1)[-1].strip().lower().replace("-", "")
    return tail if tail in CHIP_DEFS else None


def check_image(path: Path, chip: str) -> int:
    """Check the image for `chip`; returns the flash offset to write it at."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) < 24 or data[0] != ESP_IMAGE_MAGIC:
        raise ImageError(
            f"{path} is not an ESP32 firmware image (get one from "
            "micropython.org/download for your board)"
        )
    image_chip_id = int.from_bytes(data[12:14], "little")
    found = next(
        (name for name, rom in CHIP_DEFS.items() if image_chip_id == rom.IMAGE_CHIP_ID), None
    )
    if found != chip:
        what = chip_name(found) if found else f"chip id {image_chip_id}"
        raise ImageError(f"{path} is an image for {what}, but the board is an {chip_name(chip)}")
    try:
        image = LoadFirmwareImage(chip, data)
    except (FatalError, ValueError, IndexError) as exc:
        raise ImageError(f"{path} is damaged: {exc}") from None
    digest_ok = (
        not getattr(image, "append_digest", False) or image.stored_digest == image.calc_digest
    )
    if image.checksum != image.calculate_checksum() or not digest_ok:
        raise ImageError(f"{path} is damaged: its checksum does not match")
    return int(CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET)


def commands(port: str, image: Path, chip: str, offset: int, baud: int = BAUD) -> list[list[str]]:
    """The esptool runs, in order: erase, write, verify."""
    base = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud)]
    addr = hex(offset)
    return [
        [*base, "--after", "no-reset", "erase-flash"],
        [*base, "--after", "no-reset", "write-flash", addr, str(image)],
        [*base, "--after", "hard-reset", "verify-flash", addr, str(image)],
    ]


def flash_image(
    port: str, image: Path, board: str, progress: Callable[[str, int, int], None] | None = None
) -> None:
    """Erase, write and verify the MicroPython image; the chip then boots it."""
    chip = BOARD_CHIPS[board]
    offset = check_image(image, chip)
    for step, argv in zip(STEPS, commands(port, image, chip, offset), strict=True):
        _run(step, argv, port, progress)


def _run(
    step: str, argv: list[str], port: str, progress: Callable[[str, int, int], None] | None
) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        text = line.strip()
        if text:
            tail = (tail + [text])[-20:]
        m = _PERCENT.search(text)
        if m and progress:
            progress(f"image: {step}", int(float(m.group(1))), 100)
    if proc.wait() != 0:
        raise ImageError(f"esptool could not {step} the flash on {port}: {_reason(tail)}")
    if progress:
        progress(f"image: {step}", 100, 100)


def _reason(tail: list[str]) -> str:
    for line in reversed(tail):
        if "error" in line.lower() or "failed" in line.lower():
            why = line.split("occurred:", 1)[-1].strip()
            if "Failed to connect" in why or "No serial data" in why:
                why += " (hold BOOT, tap EN, and run again)"
            return why[:200]
    return tail[-1][:200] if tail else "no output"
