"""The hardware layer: the only code that touches machine, bluetooth or network.

`hardware(cfg)` picks the ESP32 layer on a band and the host layer (a virtual
band driven by crowdpulse.sim) on the MicroPython unix port.  Both expose the
same small API; the runtime never looks past it.  Nothing is created at import.
"""

import sys


def hardware(cfg):
    if sys.platform == "esp32":
        from wristband.hal.esp32 import Hardware
    else:
        from wristband.hal.unix import Hardware
    return Hardware(cfg)
