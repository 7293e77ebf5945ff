# Runs under MicroPython: the pipeline over a synthetic signal, for `crowdpulse bench dsp`.
# argv: frames, then "cost" (default) or "alloc".
#   cost:  after a warm-up, N frames as the band runs them, a 250 ms report
#          every 25 frames (finish, sign, advert payload); prints nothing else:
#          the caller measures CPU time or instructions.
#   alloc: with the collector paused, prints
#          "alloc_bytes <n>"                   over N frames of the audio path alone;
#          "alloc_report_path <n> reports <r>" over N more frames with the reports.
import gc
import sys

from wristband import packet
from wristband.dsp import FRAME, Pipeline

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
MODE = sys.argv[2] if len(sys.argv) > 2 else "cost"
BANK = 64
KEY = bytes(range(16))
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
seq = 0


def report():
    # what Band._report and Band._send do with a finished interval, radio aside
    global seq
    codes = pipe.finish(250)
    rep = packet.encode_codes(KEY, 1234, seq, codes)
    seq = (seq + 1) & 0xFFFF
    return packet.adv_payload(rep)


for k in range(300):
    pipe.process(frames[k % BANK])
    if k % 25 == 24:
        report()
if MODE == "cost":
    for k in range(N):
        pipe.process(frames[k % BANK])
        if k % 25 == 24:
            report()
    sys.exit(0)
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
for k in range(N):
    pipe.process(frames[k % BANK])
a1 = gc.mem_alloc()
gc.enable()
print("alloc_bytes", a1 - a0)
gc.collect()
gc.disable()
reports = 0
a0 = gc.mem_alloc()
for k in range(N):
    pipe.process(frames[k % BANK])
    if k % 25 == 24:
        report()
        reports += 1
a1 = gc.mem_alloc()
gc.enable()
print("alloc_report_path", a1 - a0, "reports", reports)
