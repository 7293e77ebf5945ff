"""Score a night as a user would, and read the issue-11 figures from it.

`venue_snapshots` is the one adapter to the scoring pipeline: it runs the real
`crowdpulse score MIX.wav --devices N` command in this process (its own
argument parser and `run`), and passes `--reference MUSIC.wav` when the
command accepts one.  Everything else works on the per-second venue score.

Figures per night (times from the night's onset, the moment the event joins):
- music alone: the seconds from WARMUP_S to the onset (the bands have heard
  WARMUP_S of music before their score is read); mean, min and max;
- before: the mean of the BEFORE_S seconds just before the onset;
- event: the mean from SETTLE_S after the onset to the end (the crowd has
  been there for SETTLE_S: the score's reaction time is not what is measured);
- lift: event - before.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crowdpulse.commands import score as score_command
from crowdpulse.sim.recordings import catalog
from crowdpulse.sim.runs import crowdscore

WARMUP_S = 10
BEFORE_S = 10
SETTLE_S = 3
DEVICES = catalog.DEVICES


class ReferenceUnsupportedError(RuntimeError):
    """`crowdpulse score` has no --reference option (yet)."""


class ScoreFailedError(RuntimeError):
    """`crowdpulse score` exited with an error."""


def accepts_reference() -> bool:
    return "--reference" in _parser()._option_string_actions


def venue_snapshots(
    mix: Path, devices: int = DEVICES, seed: int = 0, reference: Path | None = None
) -> list[dict[str, Any]]:
    """The snapshots `crowdpulse score MIX.wav --devices N [--reference MUSIC.wav]` prints."""
    argv = [str(mix), "--devices", str(devices), "--seed", str(seed)]
    if reference is not None:
        if not accepts_reference():
            raise ReferenceUnsupportedError("crowdpulse score has no --reference option yet")
        argv += ["--reference", str(reference)]
    args = _parser().parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = score_command.run(args)
    if code != 0:
        raise ScoreFailedError(f"crowdpulse score {' '.join(argv)} exited with {code}")
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return [s for s in lines if not s.get("summary")]


def per_second(snaps: Sequence[dict[str, Any]], duration_s: int) -> list[float | None]:
    """The venue score averaged over each second of the recording (None: no score that second)."""
    sums = np.zeros(duration_s)
    counts = np.zeros(duration_s)
    for s in snaps:
        sec = (int(s["t"]) - crowdscore.T0_MS) // 1000
        if 0 <= sec < duration_s and s.get("score") is not None:
            sums[sec] += float(s["score"])
            counts[sec] += 1
    return [round(float(a / n), 2) if n else None for a, n in zip(sums, counts, strict=True)]


@dataclass(frozen=True)
class Figures:
    night: str
    event: str  # the plan's event kind (catalog.FULL, ...)
    bed: str
    reference: bool
    music_mean: float
    music_min: float
    music_max: float
    before: float
    during: float
    lift: float
    seconds: list[float | None]

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "seconds"}


def figures(night: str, seconds: list[float | None], onset_s: int, reference: bool) -> Figures:
    plan = catalog.NIGHT_BY_NAME[night]

    def values(a: int, b: int) -> list[float]:
        got = [v for v in seconds[a:b] if v is not None]
        if not got:
            raise ScoreFailedError(f"night {night}: no venue score between {a} s and {b} s")
        return got

    music = values(WARMUP_S, onset_s)
    before = float(np.mean(values(onset_s - BEFORE_S, onset_s)))
    during = float(np.mean(values(onset_s + SETTLE_S, len(seconds))))
    return Figures(
        night,
        plan.event,
        plan.bed,
        reference,
        round(float(np.mean(music)), 1),
        round(min(music), 1),
        round(max(music), 1),
        round(before, 1),
        round(during, 1),
        round(during - before, 1),
        seconds,
    )


def score_night(
    folder: Path, devices: int = DEVICES, seed: int = 0, reference: bool = False
) -> Figures:
    """Score a night folder (MIX.wav, MUSIC.wav, night.json) and read its figures."""
    info = json.loads((folder / "night.json").read_text())
    snaps = venue_snapshots(
        folder / "MIX.wav", devices, seed, folder / "MUSIC.wav" if reference else None
    )
    onset = int(info["segments"][1]["start_s"])
    return figures(info["name"], per_second(snaps, int(info["duration_s"])), onset, reference)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crowdpulse score")
    score_command.add_arguments(parser)
    return parser


def score_nights(
    folders: Sequence[Path], reference: bool, devices: int = DEVICES, seed: int = 0, say: Any = None
) -> list[Figures]:
    """Every night of one mode; `say(line)` hears of each as it is done."""
    out = []
    for folder in folders:
        fig = score_night(folder, devices, seed, reference)
        if say is not None:
            say(f"scored {fig.night} ({'with' if reference else 'without'} reference)")
        out.append(fig)
    return out
