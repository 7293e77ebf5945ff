# Runs under MicroPython: sign demo reports with the firmware's packet module.
# stdin lines: "<band id> <key hex> <epoch> <count>"; stdout: "<band id>:<report hex>".
import sys

from wristband import packet


def unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def tohex(b):
    return "".join("%02x" % x for x in b)


for line in sys.stdin.read().split("\n"):
    if not line.strip():
        continue
    band, key, epoch, count = line.split()
    for seq in range(int(count)):
        level = 70.0 + 3.0 * seq
        report = packet.encode(unhex(key), int(epoch), seq, 250, level, level + 6.0, claps=seq % 3)
        print("%s:%s" % (band, tohex(report)))
