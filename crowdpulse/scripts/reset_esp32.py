# Runs on an ESP32 through the raw REPL (crowdpulse.tools.link): reboot after a flash.
import machine

# the crash-loop counter lives in RTC memory: a re-flashed band starts afresh
try:  # noqa: SIM105 - MicroPython has no contextlib
    machine.RTC().memory(b"")
except Exception:
    pass
machine.reset()
