"""`crowdpulse score FILE.wav`: N bands hear a recording; what would the gateway say?"""

from __future__ import annotations

import argparse
import json

import numpy as np

from crowdpulse.audio import AudioError, load
from crowdpulse.cli import CliError
from crowdpulse.sim.runs import crowdscore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", help="a WAV file (any common rate, mono or stereo): what the bands hear"
    )
    parser.add_argument("--devices", type=int, default=50, help="bands hearing it (default 50)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for each band's gain, delay, noise"
    )
    parser.add_argument(
        "--reference",
        metavar="MUSIC.wav",
        help="the programme alone (no crowd), heard by a reference band at the "
        "booth, as a line-level reference would; the gateway then scores "
        "what the music does not explain (docs/sentiment.md)",
    )


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.devices <= 5000:
        raise CliError("--devices must be 1-5000")
    try:
        scene = load(args.file).samples.astype(np.float64) / 32768.0
        music = None
        if args.reference:
            music = load(args.reference).samples.astype(np.float64) / 32768.0
    except AudioError as exc:
        raise CliError(str(exc)) from None
    engine, snaps = crowdscore.score(scene, args.devices, args.seed, music)
    for snap in snaps:
        print(json.dumps(snap))
    print(
        json.dumps(
            {
                "summary": True,
                **crowdscore.summary(snaps),
                "devices": args.devices,
                **engine.counters(),
            }
        )
    )
    return 0
