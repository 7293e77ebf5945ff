# crowdpulse band.  Kept tiny: everything lives in the wristband package, and a
# failure there leaves this file, the console and the REPL working.
import sys

from wristband.app import main

if main() and sys.platform != "esp32":
    sys.exit(1)
