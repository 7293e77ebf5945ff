# Runs under MicroPython: a band without its radio.  The firmware's pipeline over
# raw int16 LE audio on stdin, each report signed with the band key.
# argv: key hex, epoch, mic sensitivity (centi-dB), interval ms.  stdout: report hex per line.
import sys

from wristband import packet
from wristband.dsp import FRAME, Pipeline
from wristband.schedule import Schedule


def unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


key = unhex(sys.argv[1])
epoch = int(sys.argv[2])
pipe = Pipeline(int(sys.argv[3]))
sched = Schedule(int(sys.argv[4]))
buf = bytearray(2 * FRAME)
raw = memoryview(buf)
stream = sys.stdin.buffer
seq = 0


def fill():
    got = 0
    while got < 2 * FRAME:
        n = stream.readinto(raw[got:])
        if not n:
            return False
        got += n
    return True


while fill():
    pipe.process(buf)
    event = pipe.event()
    ms = sched.frame(event)
    if ms:
        codes = pipe.finish(ms, flags=packet.FLAG_EVENT if event else 0)
        report = packet.encode_codes(key, epoch, seq, codes)
        print("".join("%02x" % b for b in report))
        seq = (seq + 1) & 0xFFFF
