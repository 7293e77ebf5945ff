"""ESP32 hardware layer: I2S/PDM microphone, BLE adverts, WiFi, LED, button,
watchdog and the M5StickC Plus IMU.  Pins come from wristband.boards.

Nothing here runs at import; `start()` creates the hardware objects.

Addresses (docs/privacy.md): the chip's public BLE address and factory WiFi
MAC are never used.  MicroPython can switch the BLE address mode but cannot
set a chosen address (`BLE.config(mac=...)` does not exist; 'mac' can only be
read), so for each identity the band asks NimBLE for a fresh non-resolvable
private address (addr_mode 3), drawn from the controller's random generator.
Checked against MicroPython's source (extmod/modbluetooth.c,
extmod/nimble/modbluetooth_nimble.c), not yet on a board.
"""

import os
import time

import bluetooth
import machine
import network

from wristband import boards
from wristband.dsp import i2s32_to_16
from wristband.packet import BEACON_TYPE, manufacturer_data

FRAME = 160
_IBUF = 16000 * 4 // 5  # 200 ms of 32-bit slots: radio work never starves the mic
_IRQ_SCAN_RESULT = 5
_ADDR_MODE_NRPA = 3  # BLE.config(addr_mode=...): 0 public, 1 random static, 2 RPA, 3 NRPA
# MicroPython's epoch is 2000 on older ESP32 builds, 1970 on newer ones.
_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
_SYNCED_AFTER = 1600000000


class Hardware:
    def __init__(self, cfg):
        self.cfg = cfg
        self.profile = boards.PROFILES[cfg.board]
        self.quit = False
        self._i2s = None
        self._raw = None
        self._ble = None
        self._wlan = None
        self._wdt = None
        self._led = None
        self._rgb = None
        self._button = None
        self._button_last = 1
        self._i2c = None
        self._acc = None
        self._last_read = 0
        self._dropped = 0
        self._scan = []

    def start(self):
        self._wdt = machine.WDT(timeout=30000)
        led = self.profile["led"]
        if led["kind"] == "rgb":
            import neopixel

            self._rgb = neopixel.NeoPixel(machine.Pin(led["pin"]), 1)
        else:
            self._led = machine.Pin(led["pin"], machine.Pin.OUT)
        if self.profile["button"] is not None:
            self._button = machine.Pin(self.profile["button"], machine.Pin.IN, machine.Pin.PULL_UP)
        self._ble = bluetooth.BLE()
        self._ble.active(True)
        self._ble.config(addr_mode=_ADDR_MODE_NRPA)  # never the public address
        self._ble.irq(self._ble_irq)
        imu = self.profile["imu"]
        if imu is not None:
            self._i2c = machine.I2C(0, scl=machine.Pin(imu["scl"]), sda=machine.Pin(imu["sda"]),
                                    freq=400000)
            self._i2c.writeto_mem(imu["addr"], 0x6B, b"\x00")  # MPU6886: wake
            self._i2c.writeto_mem(imu["addr"], 0x1C, b"\x10")  # +-8 g: 4096 counts per g
            self._acc = bytearray(6)

    # -- microphone -------------------------------------------------------
    def mic_start(self):
        mic = self.cfg.mic
        pins = mic["pins"]
        if mic["type"] == "pdm":
            mode = getattr(machine.I2S, "PDM_RX", None)
            if mode is None:
                print("crowdpulse: this MicroPython build has no PDM input (micropython#14176);"
                      " mic stays off")
                return False
            self._i2s = machine.I2S(0, sck=machine.Pin(pins["clk"]), ws=machine.Pin(pins["clk"]),
                                    sd=machine.Pin(pins["data"]), mode=mode, bits=16,
                                    format=machine.I2S.MONO, rate=16000, ibuf=_IBUF // 2)
            self._raw = None
        elif "mck" in pins:
            # a line-level ADC (PCM1808 class) runs from the ESP32's master clock, 256 fs
            self._i2s = machine.I2S(0, sck=machine.Pin(pins["sck"]), ws=machine.Pin(pins["ws"]),
                                    sd=machine.Pin(pins["sd"]), mck=machine.Pin(pins["mck"]),
                                    mode=machine.I2S.RX, bits=32, format=machine.I2S.MONO,
                                    rate=16000, ibuf=_IBUF)
            self._raw = bytearray(FRAME * 4)
        else:
            self._i2s = machine.I2S(0, sck=machine.Pin(pins["sck"]), ws=machine.Pin(pins["ws"]),
                                    sd=machine.Pin(pins["sd"]), mode=machine.I2S.RX, bits=32,
                                    format=machine.I2S.MONO, rate=16000, ibuf=_IBUF)
            self._raw = bytearray(FRAME * 4)
        self._last_read = time.ticks_ms()
        return True

    def mic_stop(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None

    def mic_dropped(self):
        d = self._dropped
        self._dropped = 0
        return d

    def mic_read(self, buf, timeout_ms):
        if self._i2s is None:
            time.sleep_ms(timeout_ms)
            return False
        now = time.ticks_ms()
        gap = time.ticks_diff(now, self._last_read)
        if gap > 200:  # longer than the DMA buffer holds: frames were lost
            self._dropped += (gap - 200) // 10
        if self._raw is None:
            self._i2s.readinto(buf)
        else:
            self._i2s.readinto(self._raw)
            i2s32_to_16(self._raw, buf, FRAME)
        self._last_read = time.ticks_ms()
        return True

    # -- radio ----------------------------------------------------------------
    def advertise(self, adv, interval_ms=100):
        self._ble.gap_advertise(interval_ms * 1000, adv, connectable=False)

    def advertise_stop(self):
        self._ble.gap_advertise(None)

    def go_quiet(self, ms):
        """Nothing on the air until new_address: no advert, and off the WiFi
        (its frames carry the MAC), but scanning for beacons meanwhile."""
        self._ble.gap_advertise(None)
        if self._wlan is not None:
            self._wlan.disconnect()
        self.scan_start(ms)

    def new_address(self, address):
        """A new BLE address and WiFi MAC for the next identity.

        `address` is packet.ble_address, which MicroPython cannot apply: NimBLE
        draws a fresh NRPA instead.  The controller refuses a new random
        address while it advertises or scans (HCI LE Set Random Address), and
        MicroPython asserts on that, so both stop first."""
        self._ble.gap_advertise(None)
        self._ble.gap_scan(None)
        self._ble.config(addr_mode=_ADDR_MODE_NRPA)
        if self._wlan is not None and self.cfg.wifi is not None:
            self._wlan.disconnect()
            self._set_mac()
            self._wlan.connect(self.cfg.wifi[0], self.cfg.wifi[1])

    def _set_mac(self):
        # random, locally administered (bit 1), unicast (bit 0 clear: ESP-IDF requires it)
        mac = bytearray(os.urandom(6))
        mac[0] = (mac[0] & 0xFC) | 0x02
        try:
            self._wlan.config(mac=bytes(mac))
        except (OSError, ValueError) as exc:
            print("crowdpulse: WiFi MAC unchanged:", exc)

    def _ble_irq(self, event, data):
        if event == _IRQ_SCAN_RESULT and len(self._scan) < 4:
            payload = manufacturer_data(bytes(data[4]))
            if payload is not None and payload[0] == BEACON_TYPE:  # not other bands' reports
                self._scan.append(payload)

    def scan_start(self, ms):
        # NimBLE refuses a second scan while one runs (EALREADY): restart it
        try:
            self._ble.gap_scan(None)
            self._ble.gap_scan(ms, 30000, 30000)
        except OSError:
            return False
        return True

    def scan_results(self):
        out = self._scan
        self._scan = []
        return out

    def service(self):
        pass

    # -- network and clock -----------------------------------------------------
    def net_start(self):
        if self.cfg.wifi is None:
            return
        self._wlan = network.WLAN(network.STA_IF)
        self._wlan.active(True)
        self._set_mac()
        self._wlan.connect(self.cfg.wifi[0], self.cfg.wifi[1])

    def net_up(self):
        return self._wlan is not None and self._wlan.isconnected()

    def sync_time(self, host):
        try:
            import ntptime

            ntptime.host = host
            ntptime.settime()
            return True
        except (OSError, OverflowError):
            return False

    def set_time(self, unix):
        t = time.gmtime(unix - _EPOCH_OFFSET)
        machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))

    def now(self):
        t = time.time() + _EPOCH_OFFSET
        return t if t > _SYNCED_AFTER else None

    # -- wearer ------------------------------------------------------------------
    def led(self, on):
        if self._rgb is not None:
            self._rgb[0] = (0, 24, 0) if on else (0, 0, 0)
            self._rgb.write()
        elif self._led is not None:
            lit = 1 if on else 0
            self._led.value(1 - lit if self.profile["led"]["active_low"] else lit)

    def button_pressed(self):
        if self._button is None:
            return False
        v = self._button.value()
        pressed = v == 0 and self._button_last == 1
        self._button_last = v
        return pressed

    def mute_request(self):
        return None

    def feed(self):
        self._wdt.feed()

    def battery(self):
        return None

    def accel(self):
        """(x, y, z) in counts, 4096 per g, or None without an IMU."""
        a = self._acc
        if self._i2c is None or a is None:
            return None
        self._i2c.readfrom_mem_into(self.profile["imu"]["addr"], 0x3B, a)
        x = (a[0] << 8) | a[1]
        y = (a[2] << 8) | a[3]
        z = (a[4] << 8) | a[5]
        return (x - 65536 if x > 32767 else x, y - 65536 if y > 32767 else y,
                z - 65536 if z > 32767 else z)
