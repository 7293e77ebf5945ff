# The virtual band's "ROM" (crowdpulse.sim.bands.serialband), run by `micropython -i -c`:
# the host sends this file and then `_mount(block, blocks)` when the band's flash is a
# littlefs image, and `_boot()`.  Like the ESP32 port, it runs boot.py and main.py from
# the flash; `-i` then gives the REPL.
import os
import sys


class _Flash:
    # a block device over the file flash.img, for littlefs
    def __init__(self, f, bs, n):
        self.f, self.bs, self.n = f, bs, n

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * self.bs + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        return self.n if op == 4 else (self.bs if op == 5 else 0)


def _mount(bs, blocks):
    import vfs

    dev = _Flash(open("flash.img", "r+b"), bs, blocks)  # noqa: SIM115 - open while mounted
    try:
        vfs.mount(vfs.VfsLfs2(dev), "/flash")
    except OSError:
        vfs.VfsLfs2.mkfs(dev)
        vfs.mount(vfs.VfsLfs2(dev), "/flash")
    os.chdir("/flash")


def _boot():
    for f in ("boot.py", "main.py"):
        try:
            os.stat(f)
        except OSError:
            continue
        try:
            with open(f) as src:
                code = src.read()
            exec(code)
        except SystemExit:
            pass
        except BaseException as e:
            sys.print_exception(e)
