"""`crowdpulse bench dsp`: cost of the band's pipeline.

- Under the real MicroPython unix port: CPU seconds per second of audio, as
  the band runs it (a report every 250 ms: the pipeline's finish, the signed
  report, the advert payload), from the child CPU time of two runs of
  different length, so start-up cancels out; and the exact bytes allocated in
  steady state (gc.mem_alloc() with the collector paused, after 300 frames of
  warm-up), over N frames of the audio path alone and over N frames with
  their reports.
- The twin's throughput in band-seconds of audio per wall second.
- An ESP32 estimate: x86-64 instructions per audio second, counted by
  valgrind's callgrind as the difference of two runs, times the cycles an
  in-order Xtensa LX6 needs per such instruction (docs/dsp.md says why 1.5),
  over 240 MHz.  Without valgrind it falls back to scaling the measured CPU
  time, and says so.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from typing import Any

import numpy as np

from crowdpulse import mpy
from crowdpulse.sim.bands import bandfeatures
from crowdpulse.sim.world import signals

SCRIPT = mpy.script_path("bench_dsp_mpy.py")
FRAME_S = 0.01
COST_FRAMES = 20_000  # 200 s of audio, about 0.25 s of CPU on the unix port
XTENSA_CYCLES_PER_X64_INSTR = 1.5
ESP32_HZ = 240e6
# x86-64 instructions per second of one core of this kind, for the fallback
X64_INSTR_PER_CPU_S = 3.0e9


def _child_cpu(frames: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        mpy.command(SCRIPT, [str(frames), "cost"]),
        env=mpy.env_with_path(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def allocation(frames: int) -> dict[str, Any]:
    """Exact bytes allocated over `frames` frames: the audio path alone, then
    with a 250 ms report every 25 frames (gc.mem_alloc, collector paused)."""
    proc = subprocess.run(
        mpy.command(SCRIPT, [str(frames), "alloc"]),
        env=mpy.env_with_path(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    frame = re.search(r"alloc_bytes (-?\d+)", proc.stdout)
    path = re.search(r"alloc_report_path (-?\d+) reports (\d+)", proc.stdout)
    assert frame is not None and path is not None, proc.stdout
    reports = int(path.group(2))
    return {
        "alloc_frame_path_bytes": int(frame.group(1)),
        "alloc_bytes_per_frame": int(frame.group(1)) / frames,
        "alloc_report_path_bytes": int(path.group(1)),
        "reports": reports,
        "alloc_bytes_per_report": int(path.group(1)) / max(reports, 1),
    }


def micropython_cost(frames: int, repeats: int = 3) -> dict[str, Any]:
    """CPU per audio second, reports included (best of `repeats`), and allocation
    over `frames`.  The CPU is timed over at least COST_FRAMES frames: the kernel
    counts a child's CPU time in scheduler ticks (10 ms here), and 2000 frames
    cost about 20 ms, so a shorter run reads anything from 0 to twice the truth."""
    long = max(frames, COST_FRAMES)
    short = long // 10
    costs = []
    for _ in range(repeats):
        cpu_short = _child_cpu(short)
        cpu_long = _child_cpu(long)
        costs.append((cpu_long - cpu_short) / ((long - short) * FRAME_S))
    return {"rt_factor_micropython": max(min(costs), 0.0), **allocation(frames)}


def _callgrind_instructions(frames: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.%p")
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=yes",
                f"--callgrind-out-file={out}",
                *mpy.command(SCRIPT, [str(frames), "cost"]),
            ],
            env=mpy.env_with_path(),
            capture_output=True,
            text=True,
            check=True,
            timeout=1200,
        )
    return sum(int(n) for n in re.findall(r"Collected : (\d+)", proc.stderr))


def esp32_estimate(rt_factor: float, frames: int = 1000) -> dict[str, Any]:
    if shutil.which("valgrind"):
        per_s = (_callgrind_instructions(frames + 100) - _callgrind_instructions(100)) / (
            frames * FRAME_S
        )
        method = "callgrind"
    else:
        per_s = rt_factor * X64_INSTR_PER_CPU_S
        method = "cpu-time (valgrind not installed)"
    share = per_s * XTENSA_CYCLES_PER_X64_INSTR / ESP32_HZ
    return {
        "x64_instructions_per_audio_s": per_s,
        "esp32_core_share": share,
        "esp32_method": method,
    }


def twin_throughput(bands: int = 4, seconds: float = 20.0) -> float:
    rng = np.random.default_rng(0)
    audio = signals.to_int16(signals.drum_music(seconds, rng))
    list(bandfeatures.on_twin(audio[:1600]))  # compile once, outside the clock
    start = time.perf_counter()
    for _ in range(bands):
        list(bandfeatures.on_twin(audio))
    return bands * seconds / (time.perf_counter() - start)


def run(frames: int = 2000) -> dict[str, Any]:
    result: dict[str, Any] = {"frames": frames}
    result.update(micropython_cost(frames))
    result.update(esp32_estimate(result["rt_factor_micropython"]))
    result["twin_band_seconds_per_second"] = twin_throughput()
    return result
