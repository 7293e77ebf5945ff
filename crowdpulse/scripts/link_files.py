# Runs on a band through the raw REPL (crowdpulse.tools.link): folders and files.
# The host sends this file, then calls.  A file is written as path.tmp through
# `_open`, the host's `w(a(<base64>))` chunks and `_commit`: a broken transfer
# never leaves half a file by its name.
import binascii
import os


def _mkdirs(dirs):
    for d in dirs:
        try:  # noqa: SIM105 - MicroPython has no contextlib
            os.mkdir(d)
        except OSError:
            pass


def _remove(paths):
    for p in paths:
        try:  # noqa: SIM105 - MicroPython has no contextlib
            os.remove(p)
        except OSError:
            pass


def _open(tmp):
    global _f, w, a
    _f = open(tmp, "wb")  # noqa: SIM115 - written by the host's w() calls until _commit
    w = _f.write
    a = binascii.a2b_base64


def _commit(tmp, path):
    _f.close()
    try:
        os.rename(tmp, path)
    except OSError:  # FAT and littlefs do not rename over a file
        os.remove(path)
        os.rename(tmp, path)
