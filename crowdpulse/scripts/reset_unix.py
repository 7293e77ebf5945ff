# Runs on a virtual band (the MicroPython unix port, crowdpulse.sim.bands.serialband) through
# the raw REPL: it has no reset, so it exits and its supervisor boots a fresh one, as
# an ESP32's reset circuit would.
import sys

sys.exit(0)
