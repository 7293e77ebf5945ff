"""Run one band's pipeline over a recording: on the twin, or in real MicroPython.

Both paths use the firmware's own `Schedule`, so reports are cut exactly as a
band would cut them (every interval, or early when a reaction starts).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse import mpy
from crowdpulse.sim.bands import twin
from wristband import packet
from wristband.schedule import Schedule

RATE = 16000
FRAME = 160


class RuntimeFailedError(RuntimeError):
    """The MicroPython run did not complete."""


@dataclass(frozen=True)
class Interval:
    start_sample: int
    codes: bytes  # the N_CODES field codes, interval..status
    extra: bytes = bytes(5)  # on-band diagnostics, not sent (wristband.dsp.Pipeline.extra)

    @property
    def start_s(self) -> float:
        return self.start_sample / RATE


def on_twin(
    audio: npt.NDArray[np.int16], sensitivity_cdb: int = -2600, interval_ms: int = 250
) -> Iterator[Interval]:
    pipe = twin.pipeline(sensitivity_cdb)
    sched = Schedule(interval_ms)
    start = 0
    frames = len(audio) // FRAME
    for f in range(frames):
        pipe.process(audio[f * FRAME : (f + 1) * FRAME])
        event = pipe.event()
        ms = sched.frame(event)
        if ms:
            codes = bytes(pipe.finish(ms, flags=packet.FLAG_EVENT if event else 0))
            yield Interval(start, codes, bytes(pipe.extra))
            start = (f + 1) * FRAME
    done = frames * FRAME
    if done > start:
        codes = bytes(pipe.finish((done - start) * 1000 // RATE))
        yield Interval(start, codes, bytes(pipe.extra))


def on_micropython(
    audio: npt.NDArray[np.int16], sensitivity_cdb: int = -2600, interval_ms: int = 250
) -> list[Interval]:
    """The firmware files, unchanged, in the MicroPython unix port; audio goes by pipe."""
    proc = subprocess.run(
        mpy.command(mpy.script_path("features_mpy.py"), [str(sensitivity_cdb), str(interval_ms)]),
        input=np.ascontiguousarray(audio, dtype="<i2").tobytes(),
        capture_output=True,
        env=mpy.env_with_path(),
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeFailedError(f"MicroPython exited with {proc.returncode}: {tail[0]}")
    out = []
    for line in proc.stdout.decode().splitlines():
        start, codes, extra = line.split()
        out.append(Interval(int(start), bytes.fromhex(codes), bytes.fromhex(extra)))
    return out


def decoded(
    iv: Interval, key: bytes = bytes(16), epoch: int = 0, seq: int = 0
) -> dict[str, object]:
    """The interval as a report's decoded fields (through the real packet code)."""
    report = packet.decode(packet.encode_codes(key, epoch, seq & 0xFFFF, iv.codes), key, epoch)
    fields = report.as_dict()
    for k in ("version", "onair", "seq"):
        fields.pop(k)
    return {"t": round(iv.start_s, 3), **fields, "diagnostics": diagnostics(iv)}


def diagnostics(iv: Interval) -> dict[str, float]:
    """What the band computes but does not send (docs/dsp.md): for evaluation only."""
    x = iv.extra
    return {
        "lafmax_db": packet.level_db(x[0]),
        "applause": round(x[1] / 255.0, 4),
        "voice_excess_db": x[2] * 0.25,
        "onset_rate": round(x[3] * 0.1, 1),
        "rough_db": round(x[4] * 0.05, 2),
    }
