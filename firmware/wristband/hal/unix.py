"""Host hardware layer: a virtual band on the MicroPython unix port.

The host (crowdpulse.sim.bands.virtualband) is the band's world:
- a TCP "rig" at $CROWDPULSE_RIG carries the sound and the wearer: messages are
  one type byte and a fixed payload: b"A" + 320 bytes of int16 LE audio (10 ms),
  b"M" + 0/1 (mute switch), b"B" (button press), b"Q" (power off).  The band
  sends b"L" + 0/1 when its LED changes.
- adverts go as UDP datagrams to the radio medium at $CROWDPULSE_MEDIUM: the
  band's 6-byte BLE address (most significant byte first, as a sniffer shows
  it), then the advertising data; the medium may answer with relay beacons.
- $CROWDPULSE_CLOCK_OFFSET_S (seconds, default 0) is added to the host's clock,
  so a test can start a band just before an id epoch boundary.
Sound that arrives while the microphone is off is read and dropped unheard.
"""

import os
import random
import select
import socket
import time

from wristband.packet import ADDRESS_SIZE

FRAME_BYTES = 320
ADV_INTERVAL_MS = 100


def _addr(spec):
    host, port = spec.rsplit(":", 1)
    return socket.getaddrinfo(host, int(port))[0][-1]


class Hardware:
    def __init__(self, cfg):
        self.cfg = cfg
        self.capturing = False
        self._mute_req = None
        self.quit = False
        self._button = False
        self._led = -1
        self._rig = None
        self._poll = None
        self._udp = None
        self._medium = None
        self._adv = None
        self._adv_due = 0
        self._adv_interval = ADV_INTERVAL_MS
        # until the band's first identity: no address of its own (and no advert)
        self._address = bytes(ADDRESS_SIZE)
        self._clock_offset = 0
        self._type = bytearray(1)
        self._junk = bytearray(FRAME_BYTES)
        self._beacons = []

    def start(self):
        self._clock_offset = int(os.getenv("CROWDPULSE_CLOCK_OFFSET_S") or 0)
        rig = os.getenv("CROWDPULSE_RIG")
        if rig:
            self._rig = socket.socket()
            self._rig.connect(_addr(rig))
            self._poll = select.poll()
            self._poll.register(self._rig, select.POLLIN)
        medium = os.getenv("CROWDPULSE_MEDIUM")
        if medium:
            self._medium = _addr(medium)
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.setblocking(False)

    # -- microphone -------------------------------------------------------
    def mic_start(self):
        self.capturing = self._rig is not None
        return self.capturing

    def mic_stop(self):
        self.capturing = False

    def mic_dropped(self):
        return 0

    def _read_exact(self, buf, n):
        got = self._rig.readinto(buf)  # the usual case: all of it, no allocation
        if got is None:
            got = 0
        if got == 0 and n:
            self.quit = True
            return False
        if got < n:
            mv = memoryview(buf)
            while got < n:
                k = self._rig.readinto(mv[got:n])
                if not k:
                    self.quit = True
                    return False
                got += k
        return True

    def _message(self, buf):
        """Read one rig message; True when it was sound captured into buf."""
        if not self._read_exact(self._type, 1):
            return False
        kind = self._type[0]
        if kind == 0x41:  # A
            if buf is not None and self.capturing:
                return self._read_exact(buf, FRAME_BYTES)
            self._read_exact(self._junk, FRAME_BYTES)  # the mic is off: unheard
        elif kind == 0x4D:  # M
            if self._read_exact(self._type, 1):
                self._mute_req = self._type[0] != 0
        elif kind == 0x42:  # B
            self._button = True
        elif kind == 0x51:  # Q
            self.quit = True
        return False

    def _ready(self, timeout_ms):
        for _ in self._poll.ipoll(timeout_ms):
            return True
        return False

    def mic_read(self, buf, timeout_ms):
        """Fill buf with the next 10 ms of sound; False if none came in time."""
        if self._rig is None:
            time.sleep_ms(timeout_ms)
            return False
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while not self.quit:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if not self._ready(left if left > 0 else 0):
                return False
            if self._message(buf):
                return True
        return False

    # -- radio ----------------------------------------------------------------
    def advertise(self, adv, interval_ms=ADV_INTERVAL_MS):
        self._adv = adv
        self._adv_interval = interval_ms
        self._adv_due = time.ticks_ms()

    def advertise_stop(self):
        self._adv = None

    def go_quiet(self, ms):
        """Nothing on the air until new_address (beacons are still heard)."""
        self._adv = None

    def new_address(self, address):
        """The BLE address of the next identity (packet.ble_address)."""
        self._adv = None
        self._address = bytes(address)

    def scan_start(self, ms):
        return self._udp is not None

    def scan_results(self):
        out = self._beacons
        self._beacons = []
        return out

    def service(self):
        """Rig and radio housekeeping, called every pass of the main loop."""
        if self._rig is not None and not self.capturing:
            while not self.quit and self._ready(0):
                self._message(None)
        if self._udp is None:
            return
        now = time.ticks_ms()
        if self._adv is not None and time.ticks_diff(now, self._adv_due) >= 0:
            try:
                self._udp.sendto(self._address + self._adv, self._medium)
            except OSError:
                pass
            # BLE's advDelay: 0-10 ms of random extra per advertising event
            self._adv_due = time.ticks_add(now, self._adv_interval + random.getrandbits(8) % 11)
        try:
            data = self._udp.recv(64)
            if data and len(self._beacons) < 4:
                self._beacons.append(data)
        except OSError:
            pass

    # -- network and clock -----------------------------------------------------
    def net_start(self):
        pass

    def net_up(self):
        return True

    def sync_time(self, host):
        return True

    def now(self):
        return int(time.time()) + self._clock_offset

    def set_time(self, unix):
        pass  # the host's clock is the truth here

    # -- wearer ------------------------------------------------------------------
    def led(self, on):
        v = 1 if on else 0
        if v != self._led and self._rig is not None:
            self._led = v
            self._rig.write(b"L\x01" if v else b"L\x00")

    def button_pressed(self):
        pressed = self._button
        self._button = False
        return pressed

    def mute_request(self):
        """True/False when the host flipped the mute switch since the last call, else None."""
        m = self._mute_req
        self._mute_req = None
        return m

    def feed(self):
        pass

    def battery(self):
        return None

    def accel(self):
        return None
