"""Run one band's pipeline over a recording: on the twin, or in real MicroPython.

Both paths use the firmware's own `Schedule`, so reports are cut exactly as a
band would cut them (every interval, or early when a reaction starts).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdpulse import mpy
from crowdpulse.sim import twin
from wristband import packet as P
from wristband.schedule import Schedule

RATE = 16000
FRAME = 160
SCRIPT = Path(__file__).resolve().parent.parent / "crowdpulse" / "scripts" / "features_mpy.py"


class RuntimeFailed(RuntimeError):
    """The MicroPython run did not complete."""


@dataclass(frozen=True)
class Interval:
    start_sample: int
    codes: bytes  # the 11 field codes, interval..flags

    @property
    def start_s(self) -> float:
        return self.start_sample / RATE


def _script_path() -> Path:
    if SCRIPT.exists():
        return SCRIPT
    from crowdpulse import scripts

    return Path(scripts.__file__).resolve().parent / "features_mpy.py"


def on_twin(audio: npt.NDArray[np.int16], sensitivity_cdb: int = -2600,
            interval_ms: int = 250) -> Iterator[Interval]:
    pipe = twin.pipeline(sensitivity_cdb)
    sched = Schedule(interval_ms)
    start = 0
    frames = len(audio) // FRAME
    for f in range(frames):
        pipe.process(audio[f * FRAME:(f + 1) * FRAME])
        event = pipe.event()
        ms = sched.frame(event)
        if ms:
            yield Interval(start, bytes(pipe.finish(ms, flags=P.FLAG_EVENT if event else 0)))
            start = (f + 1) * FRAME
    done = frames * FRAME
    if done > start:
        yield Interval(start, bytes(pipe.finish((done - start) * 1000 // RATE)))


def on_micropython(audio: npt.NDArray[np.int16], sensitivity_cdb: int = -2600,
                   interval_ms: int = 250) -> list[Interval]:
    """The firmware files, unchanged, in the MicroPython unix port; audio goes by pipe."""
    proc = subprocess.run(
        mpy.command(_script_path(), [str(sensitivity_cdb), str(interval_ms)]),
        input=np.ascontiguousarray(audio, dtype="<i2").tobytes(), capture_output=True,
        env=mpy.env_with_path(), timeout=3600, check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeFailed(f"MicroPython exited with {proc.returncode}: {tail[0]}")
    out = []
    for line in proc.stdout.decode().splitlines():
        start, codes = line.split()
        out.append(Interval(int(start), bytes.fromhex(codes)))
    return out


def decoded(iv: Interval, key: bytes = bytes(16), epoch: int = 0, seq: int = 0) -> dict[str, object]:
    """The interval as a report's decoded fields (through the real packet code)."""
    report = P.decode(P.encode_codes(key, epoch, seq & 0xFFFF, iv.codes))
    fields = report.as_dict()
    for k in ("version", "onair", "seq"):
        fields.pop(k)
    return {"t": round(iv.start_s, 3), **fields}
