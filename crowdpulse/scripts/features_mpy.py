# Runs under MicroPython: the band's pipeline over raw int16 LE audio on stdin.
# argv: mic sensitivity (centi-dB), interval ms.
# stdout: "<start sample> <field codes hex> <diagnostics hex>" per report.
import sys

from wristband.dsp import FRAME, Pipeline
from wristband.packet import FLAG_EVENT
from wristband.schedule import Schedule

sens = int(sys.argv[1]) if len(sys.argv) > 1 else -2600
sched = Schedule(int(sys.argv[2]) if len(sys.argv) > 2 else 250)
pipe = Pipeline(sens)
buf = bytearray(2 * FRAME)  # the viper kernels read it as int16 LE
raw = memoryview(buf)
stream = sys.stdin.buffer


def fill():
    # a pipe may hand over less than a frame per read
    got = 0
    while got < 2 * FRAME:
        n = stream.readinto(raw[got:])
        if not n:
            return False
        got += n
    return True


start = 0
done = 0
while fill():
    pipe.process(buf)
    done += FRAME
    event = pipe.event()
    ms = sched.frame(event)
    if ms:
        codes = pipe.finish(ms, flags=FLAG_EVENT if event else 0)
        print(start, "".join("%02x" % c for c in codes), "".join("%02x" % c for c in pipe.extra))
        start = done
if done > start:
    codes = pipe.finish(((done - start) * 1000) // 16000)
    print(start, "".join("%02x" % c for c in codes), "".join("%02x" % c for c in pipe.extra))
