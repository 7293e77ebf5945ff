"""The relay's BLE side: bleak's scanner behind a two-method interface.

`Relay` only needs `start()`, `stop()` and a detection callback that receives
bleak's own `BLEDevice` and `AdvertisementData`, so tests swap in a fake radio
without touching the relay, and the relay makes a fresh scanner for every
(re)start because a BlueZ discovery session that misbehaved is best thrown away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

DetectionCallback = Callable[[BLEDevice, AdvertisementData], None]


class Scanner(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ScannerFactory = Callable[[DetectionCallback], Scanner]


def bleak_factory(adapter: str | None) -> ScannerFactory:
    def make(callback: DetectionCallback) -> Scanner:
        # bleak 3 deprecates adapter=; the BlueZ arguments carry it instead.
        # Active scanning: passive needs BlueZ advertisement monitors (or_patterns),
        # which many distributions still ship disabled.
        return BleakScanner(callback, bluez={"adapter": adapter} if adapter else {})

    return make


# D-Bus errors that mean "this will not work until a person fixes something".
_FATAL_DBUS = (
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.bluez.Error.NotPermitted",
    "org.freedesktop.DBus.Error.ServiceUnknown",
)


def is_fatal_at_start(exc: BaseException) -> bool:
    """True when the very first start failed in a way retrying will not mend.

    Once scanning has worked, every failure is retried (an adapter unplugged and
    plugged back, bluetoothd restarted); before that, a wrong --adapter or a
    machine without BlueZ should say so and exit rather than retry forever.
    """
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return True
    if isinstance(exc, BleakDBusError):
        return exc.dbus_error in _FATAL_DBUS
    if isinstance(exc, BleakError):
        return "not found" in str(exc)
    # No system bus socket, or not allowed on it.
    return isinstance(exc, FileNotFoundError | ConnectionRefusedError | PermissionError)


def describe(exc: BaseException) -> str:
    """One line for the log; no traceback for anything BlueZ is known to do."""
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return "cannot reach BlueZ on the D-Bus system bus (is bluetoothd running?)"
    if isinstance(exc, PermissionError):
        return "not allowed to use BlueZ on the D-Bus system bus (see docs/relay.md)"
    if isinstance(exc, TimeoutError):
        return "the scanner did not answer in time"
    text = str(exc).strip().splitlines()
    if isinstance(exc, BleakError):
        return text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
