"""`crowdpulse score FILE.wav`: N bands hear a recording; what would the gateway say?"""

from __future__ import annotations

import argparse
import json

import numpy as np

from crowdpulse.audio import AudioError, load
from crowdpulse.cli import CliError
from crowdpulse.sim import crowdscore as CS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a WAV file (any common rate, mono or stereo)")
    parser.add_argument("--devices", type=int, default=50, help="bands hearing it (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed for each band's gain, delay, noise")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.devices <= 5000:
        raise CliError("--devices must be 1-5000")
    try:
        audio = load(args.file).samples
    except AudioError as exc:
        raise CliError(str(exc)) from None
    scene = audio.astype(np.float64) / 32768.0
    rng = np.random.default_rng(args.seed)
    engine, keys = CS.engine_for(args.devices, k_anonymity=min(5, args.devices))
    stream = CS.reports(CS.band_mixes(scene, args.devices, rng), keys, rng)
    snaps = CS.replay(engine, stream)
    for snap in snaps:
        print(json.dumps(snap))
    print(json.dumps({"summary": True, **CS.summary(snaps), "devices": args.devices,
                      **engine.counters()}))
    return 0
