"""Start the band: load the config, pick the hardware layer, run, and never
crash-loop: after three fatal errors in a row the band stays in safe mode with
its REPL free until it is power-cycled or re-flashed."""

import sys

from wristband import VERSION, config, hal
from wristband.band import Band

_MAX_CRASHES = 3


class _Guard:
    """Counts consecutive crashes in RTC memory, which survives a watchdog reset."""

    def __init__(self):
        self.rtc = None
        if sys.platform == "esp32":
            import machine

            self.rtc = machine.RTC()

    def crashes(self):
        mem = self.rtc.memory() if self.rtc is not None else b""
        return mem[0] if len(mem) == 2 and mem[1] == 0xC9 else 0

    def set(self, n):
        if self.rtc is not None:
            self.rtc.memory(bytes((n, 0xC9)))


def _boot_line(cfg):
    for e in cfg.errors:
        print("crowdpulse: config error:", e)
    for w in cfg.warnings:
        print("crowdpulse: config warning:", w)
    # venue and zone: a band flashed for the wrong venue is plain to see here
    print("crowdpulse: boot %s band=%s fw=%s venue=%s zone=%s"
          % ("ok" if cfg.ok else "safe-mode", cfg.band_id, VERSION, cfg.venue, cfg.zone))


def main(path=config.CONFIG_PATH):
    guard = _Guard()
    crashes = guard.crashes()
    if crashes >= _MAX_CRASHES:
        print("crowdpulse: %d crashes in a row; safe mode until power-cycled or re-flashed"
              % crashes)
        return 1
    cfg = config.load(path)
    _boot_line(cfg)
    factory = None
    if cfg.ok and cfg.transport != "ble":
        from wristband.uplink import Uplink

        factory = Uplink
    try:
        Band(cfg, hal.hardware(cfg), factory).run()
    except KeyboardInterrupt:
        print("crowdpulse: interrupted")
        return 0
    except Exception as exc:  # the last line of defence: one line, then stop
        guard.set(crashes + 1)
        print("crowdpulse: fatal: %r" % (exc,))
        return 1
    guard.set(0)
    return 0
