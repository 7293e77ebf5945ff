# Runs under MicroPython: the pipeline over a synthetic signal, for `crowdpulse bench dsp`.
# argv: frames to measure.  Prints "alloc_bytes <n>" over the measured frames.
import gc
import sys

from wristband.dsp import FRAME, Pipeline

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BANK = 64
frames = [bytearray(2 * FRAME) for _ in range(BANK)]
seed = 12345
for fr in frames:
    for i in range(FRAME):
        # music-like: a 1 kHz-ish square plus noise, and a loud transient now and then
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        v = ((seed >> 16) & 0x1FFF) - 4096 + (3000 if (i // 8) & 1 else -3000)
        if seed % 97 == 0:
            v *= 6
        v &= 0xFFFF
        fr[2 * i] = v & 0xFF
        fr[2 * i + 1] = v >> 8
pipe = Pipeline()
for k in range(300):
    pipe.process(frames[k % BANK])
    if k % 25 == 24:
        pipe.finish(250)
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
for k in range(N):
    pipe.process(frames[k % BANK])
a1 = gc.mem_alloc()
gc.enable()
print("alloc_bytes", a1 - a0)
