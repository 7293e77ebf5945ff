"""`crowdpulse bench <name>`: measurements, with `--json` for machines.

With --json the last line of stdout is one JSON object; the lines above it are
for people.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from crowdpulse.cli import CliError

BENCHES = {
    "dsp": (
        "crowdpulse.bench.dsp",
        "the band's pipeline: real-time factor, allocation, twin throughput, ESP32 share",
    ),
    "ingest": ("crowdpulse.bench.ingest", "gateway intake through a real Mosquitto, and tick time"),
    "select": ("crowdpulse.bench.select", "track selection against a crowd with hidden tastes"),
    "latency": (
        "crowdpulse.bench.latency",
        "crowd reaction to published venue score, through a real Mosquitto and gateway",
    ),
    "accuracy": (
        "crowdpulse.bench.accuracy",
        "the gateway's sentiment against the simulator's ground truth",
    ),
    "calibrate": (
        "crowdpulse.bench.calibrate",
        "the crowd-sound curve fitted on the accuracy sweep's reference nights",
    ),
    "sim": (
        "crowdpulse.bench.simspeed",
        "bands the simulator runs in real time, fast and twin modes",
    ),
    "player": (
        "crowdpulse.bench.player",
        "a real MPD and the selector: veto to MPD's queue, MPD to now playing",
    ),
    "soak": (
        "crowdpulse.bench.soak",
        "a live venue (gateway, Mosquitto, 10,000 bands) for N minutes: memory, tick time, errors",
    ),
}


def _dsp_options(b: argparse.ArgumentParser) -> None:
    b.add_argument(
        "--frames",
        type=int,
        default=2000,
        help="10 ms frames measured under MicroPython (>= 1000)",
    )


def _select_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--hours", type=float, default=2.0, help="length of each simulated set")
    b.add_argument("--seeds", type=int, default=5, help="how many crowds (default 5)")


def _latency_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--devices", type=int, default=10_000, help="simulated bands (default 10000)")
    b.add_argument("--onsets", type=int, default=30, help="scripted reactions (default 30)")
    b.add_argument(
        "--false-minutes",
        type=float,
        default=0,
        help="simulated minutes of the normal scenario for the false reaction rate "
        "(default: the scenario's own 8)",
    )


def _accuracy_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--devices", type=int, default=1000, help="bands per scenario (default 1000)")
    b.add_argument(
        "--heldout", type=int, default=4, help="generated held-out scenarios (default 4)"
    )
    b.add_argument(
        "--minutes",
        type=float,
        default=0,
        help="cap every scenario at this length (default: whole scenarios)",
    )
    b.add_argument(
        "--sweep",
        choices=("design", "full", "off"),
        default="design",
        help="nights over the acoustic model's uncertainty: the sub-sampled design "
        "(30 nights, default), the full grid (150) or none (bench/sweep.py)",
    )
    b.add_argument("--workers", type=int, default=2, help="processes for the sweep (default 2)")


def _calibrate_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--workers", type=int, default=2, help="processes (default 2)")


def _sim_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--fast-devices", type=int, default=50_000)
    b.add_argument("--twin-devices", type=int, default=2_000)
    b.add_argument("--seconds", type=float, default=10.0, help="simulated seconds measured")


def _player_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--vetoes", type=int, default=20, help="vetoes measured (default 20)")


def _soak_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    b.add_argument("--devices", type=int, default=10_000, help="simulated bands (default 10000)")


def _ingest_options(b: argparse.ArgumentParser) -> None:
    b.add_argument(
        "--seconds", type=float, default=8.0, help="length of each load phase (default 8)"
    )


_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "dsp": _dsp_options,
    "select": _select_options,
    "latency": _latency_options,
    "accuracy": _accuracy_options,
    "calibrate": _calibrate_options,
    "sim": _sim_options,
    "player": _player_options,
    "soak": _soak_options,
    "ingest": _ingest_options,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="<bench>", required=True)
    for name, (_module, help_text) in BENCHES.items():
        b = sub.add_parser(name, help=help_text, description=help_text)
        b.add_argument("--json", action="store_true", help="end with one JSON line")
        options = _OPTIONS.get(name)
        if options is not None:
            options(b)


def _print(result: dict[str, Any]) -> None:
    for k, v in result.items():
        if isinstance(v, list):  # rows were printed as they ran; the JSON line has them all
            v = f"[{len(v)} rows]"
        print(f"{k:32s} {v:.6g}" if isinstance(v, float) else f"{k:32s} {v}")


# Each bench's option checks and its call.  run() imports the module first, so a
# bench that cannot load says so before any option is checked.


def _run_dsp(module: ModuleType, args: argparse.Namespace) -> Any:
    if args.frames < 1000:
        raise CliError("--frames must be at least 1000")
    return module.run(args.frames)


def _run_ingest(module: ModuleType, args: argparse.Namespace) -> Any:
    if not 2.0 <= args.seconds <= 600.0:
        raise CliError("--seconds must be 2-600")
    return module.run(args.seconds)


def _run_player(module: ModuleType, args: argparse.Namespace) -> Any:
    if not 3 <= args.vetoes <= 500:
        raise CliError("--vetoes must be 3-500")
    return module.run(args.vetoes)


def _run_select(module: ModuleType, args: argparse.Namespace) -> Any:
    if not 0.25 <= args.hours <= 12 or not 1 <= args.seeds <= 50:
        raise CliError("--hours must be 0.25-12 and --seeds 1-50")
    return module.run(args.hours, tuple(range(1, args.seeds + 1)))


def _run_latency(module: ModuleType, args: argparse.Namespace) -> Any:
    if (
        not 100 <= args.devices <= 100_000
        or not 3 <= args.onsets <= 1000
        or not 0 <= args.false_minutes <= 600
    ):
        raise CliError("--devices must be 100-100000, --onsets 3-1000, --false-minutes 0-600")
    return module.run(args.devices, args.onsets, args.false_minutes or None)


def _run_calibrate(module: ModuleType, args: argparse.Namespace) -> Any:
    if not 1 <= args.workers <= 16:
        raise CliError("--workers must be 1-16")
    return module.run(args.workers)


def _run_accuracy(module: ModuleType, args: argparse.Namespace) -> Any:
    if (
        not 50 <= args.devices <= 50_000
        or not 0 <= args.heldout <= 50
        or args.minutes < 0
        or not 1 <= args.workers <= 16
    ):
        raise CliError("--devices must be 50-50000, --heldout 0-50, --minutes >= 0, --workers 1-16")
    return module.run(args.devices, args.heldout, args.minutes or None, args.sweep, args.workers)


def _run_soak(module: ModuleType, args: argparse.Namespace) -> Any:
    if not 1 <= args.minutes <= 24 * 60 or not 100 <= args.devices <= 100_000:
        raise CliError("--minutes must be 1-1440 and --devices 100-100000")
    return module.run(args.minutes, args.devices)


def _run_sim(module: ModuleType, args: argparse.Namespace) -> Any:
    if (
        not 100 <= args.fast_devices <= 500_000
        or not 10 <= args.twin_devices <= 50_000
        or not 1 <= args.seconds <= 600
    ):
        raise CliError("--fast-devices 100-500000, --twin-devices 10-50000, --seconds 1-600")
    return module.run(args.fast_devices, args.twin_devices, args.seconds)


def _run_plain(module: ModuleType, args: argparse.Namespace) -> Any:
    """A bench with no options of its own."""
    return module.run()


_RUNS: dict[str, Callable[[ModuleType, argparse.Namespace], Any]] = {
    "dsp": _run_dsp,
    "ingest": _run_ingest,
    "player": _run_player,
    "select": _run_select,
    "latency": _run_latency,
    "calibrate": _run_calibrate,
    "accuracy": _run_accuracy,
    "soak": _run_soak,
    "sim": _run_sim,
}


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(BENCHES[args.bench][0])
    result = _RUNS.get(args.bench, _run_plain)(module, args)
    _print(result)
    if args.json:
        print(json.dumps(result))
    return 0
