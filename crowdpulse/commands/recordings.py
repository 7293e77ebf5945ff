"""`crowdpulse recordings fetch|mix|score`: the real-recording development set
(docs/recordings.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crowdpulse.cli import CliError

# Only the light catalog at import: every `crowdpulse` command builds this parser.
from crowdpulse.sim.recordings import catalog


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="<what>", required=True)
    get = sub.add_parser("fetch", help="download (apt-get download, dpkg -x) and convert the set")
    mix = sub.add_parser("mix", help="mix the nights: MIX.wav, MUSIC.wav, night.json each")
    score = sub.add_parser(
        "score",
        help="score every night through `crowdpulse score`; print "
        "the figures and the issue-11 targets",
    )
    for p in (get, mix, score):
        p.add_argument(
            "--cache",
            metavar="DIR",
            help=f"where the set lives (default ${catalog.CACHE_ENV}, "
            "else ~/.cache/crowdpulse/recordings)",
        )
    for p in (mix, score):
        p.add_argument("--seed", type=int, default=0, help="seed of the nights' mixing (default 0)")
        p.add_argument(
            "--night",
            action="append",
            choices=[n.name for n in catalog.NIGHTS],
            help="only this night (repeatable; default all)",
        )
        p.add_argument(
            "--out", metavar="DIR", help="where nights are written (default CACHE/nights/seed-SEED)"
        )
    score.add_argument(
        "--devices",
        type=int,
        default=catalog.DEVICES,
        help=f"bands hearing each night (default {catalog.DEVICES})",
    )
    score.add_argument(
        "--reference",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also score with MUSIC.wav as the music reference: auto = when "
        "`crowdpulse score` accepts --reference (default)",
    )
    score.add_argument(
        "--json", action="store_true", help="the last stdout line is the figures as JSON"
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _check_score(args: argparse.Namespace) -> None:
    from crowdpulse.sim.recordings import harness

    if not 1 <= args.devices <= 5000:
        raise CliError("--devices must be 1-5000")
    if args.reference == "yes" and not harness.accepts_reference():
        raise CliError("crowdpulse score has no --reference option yet")


def _mix(args: argparse.Namespace, cache: Path) -> list[Path]:
    from crowdpulse.sim.recordings import nights

    out = Path(args.out) if args.out else cache / "nights" / f"seed-{args.seed}"
    return nights.mix_all(cache, out, args.seed, args.night)


def _score(args: argparse.Namespace, folders: list[Path]) -> dict[str, Any]:
    from crowdpulse.sim.recordings import harness

    modes = {"without reference": False}
    if args.reference != "no":
        modes["with reference"] = True
    results: dict[str, list[harness.Figures] | str] = {}
    for mode, ref in modes.items():
        if ref and not harness.accepts_reference():
            results[mode] = "crowdpulse score has no --reference option yet"
        else:
            results[mode] = harness.score_nights(folders, ref, args.devices, args.seed, _say)
    return results


def run(args: argparse.Namespace) -> int:
    # numpy, scipy, numba and the gateway load here, not when the parser is built
    from crowdpulse.sim.recordings import fetch, harness, nights

    if args.what == "score":
        _check_score(args)
    cache = fetch.cache_dir(args.cache)
    try:
        fetch.ensure(cache, _say)
        if args.what == "fetch":
            print(f"{len(catalog.SOURCES)} recordings in {cache / 'wav'}")
            return 0
        folders = _mix(args, cache)
        if args.what == "mix":
            for folder in folders:
                print(folder)
            return 0
        results = _score(args, folders)
    except (fetch.FetchError, nights.MixError, harness.ScoreFailedError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{exc.filename or cache}: {exc.strerror}") from None
    _print(results, args.json)
    return 0


def _print(results: dict[str, Any], as_json: bool) -> None:
    from rich.console import Console

    from crowdpulse.sim.recordings import report

    console = Console(file=sys.stderr if as_json else sys.stdout, width=160)
    for mode, figs in results.items():
        if isinstance(figs, str):
            console.print(f"{mode}: {figs}")
        else:
            console.print(report.table(mode, figs))
            console.print(report.verdicts(mode, figs))
    if as_json:
        print(json.dumps(report.as_json(results)))
