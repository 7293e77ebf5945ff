"""`crowdpulse features FILE.wav`: the band's pipeline over a recording, one JSON
line per report."""

from __future__ import annotations

import argparse
import json
import sys

from crowdpulse.audio import RATE, AudioError, load
from crowdpulse.cli import CliError
from crowdpulse.mpy import MicroPythonMissingError
from crowdpulse.sim.bands import bandfeatures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a WAV file (any common rate, mono or stereo, int or float)")
    parser.add_argument(
        "--runtime",
        choices=("micropython", "numpy"),
        default="numpy",
        help="numpy: the twin (fast); micropython: the firmware in the real MicroPython unix port",
    )
    parser.add_argument(
        "--mic-sensitivity",
        type=float,
        default=-26.0,
        metavar="DBFS",
        help="microphone sensitivity, dBFS at 94 dB SPL (INMP441: -26)",
    )
    parser.add_argument(
        "--interval-ms", type=int, default=250, help="report interval, 10-2550 ms (default 250)"
    )


def run(args: argparse.Namespace) -> int:
    if not -60.0 <= args.mic_sensitivity <= 0.0:
        raise CliError("--mic-sensitivity must be between -60 and 0 dBFS")
    if not 10 <= args.interval_ms <= 2550:
        raise CliError("--interval-ms must be between 10 and 2550")
    try:
        audio = load(args.file)
    except AudioError as exc:
        raise CliError(str(exc)) from None
    if audio.converted:
        print(
            f"converted {args.file} from {audio.source_rate} Hz, {audio.source_channels} "
            f"channel(s), {audio.source_subtype} to {RATE} Hz mono int16",
            file=sys.stderr,
        )
    sens = int(round(args.mic_sensitivity * 100))
    try:
        if args.runtime == "micropython":
            intervals = bandfeatures.on_micropython(audio.samples, sens, args.interval_ms)
        else:
            intervals = list(bandfeatures.on_twin(audio.samples, sens, args.interval_ms))
    except (MicroPythonMissingError, bandfeatures.RuntimeFailedError) as exc:
        raise CliError(str(exc)) from None
    for seq, iv in enumerate(intervals):
        print(json.dumps(bandfeatures.decoded(iv, seq=seq)))
    return 0
