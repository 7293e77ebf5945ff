"""`crowdpulse <command>`: the one entry point.

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`.  Expected failures raise `CliError` and print one line.
Only the chosen command's module is imported: `crowdpulse relay` on a relay-only
install (`pip install 'crowdpulse[relay]'`) loads nothing of the other roles.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from crowdpulse import __version__

# name -> (module, one-line help); the order is the order of the flow.
COMMANDS: dict[str, tuple[str, str]] = {
    "features": ("crowdpulse.commands.features", "run the band's feature pipeline over a WAV file"),
    "sim": ("crowdpulse.commands.sim", "simulate hardware: `sim band` runs the real firmware"),
    "gateway": ("crowdpulse.commands.gateway", "run the venue gateway: ingest, sentiment, API"),
    "doctor": (
        "crowdpulse.commands.doctor",
        "check a venue before doors open: files, broker, traffic",
    ),
    "score": ("crowdpulse.commands.score", "score a recording as if N bands heard it"),
    "recordings": ("crowdpulse.commands.recordings", "real-recording nights: fetch, mix, score"),
    "flash": ("crowdpulse.commands.flash", "flash and configure one band on a serial port"),
    "provision": ("crowdpulse.commands.provision", "flash and configure the bands of a fleet file"),
    "monitor": ("crowdpulse.commands.monitor", "a band's serial console, decoded; Ctrl-C stops"),
    "relay": (
        "crowdpulse.commands.relay",
        "listen for band adverts over BLE and batch them to MQTT",
    ),
    "packet": ("crowdpulse.commands.packet", "decode reports, print test vectors, make keys"),
    "deploy": (
        "crowdpulse.commands.deploy",
        "the venue broker's config, ACL and passwords (docs/deploy.md)",
    ),
    "bench": ("crowdpulse.commands.bench", "benchmarks; the last stdout line is JSON with --json"),
    "report": ("crowdpulse.commands.report", "the post-show report: one self-contained HTML file"),
    "demo": ("crowdpulse.commands.demo", "run the end-to-end demo on this machine"),
}


# command -> the extra (pyproject.toml) that installs what it needs; "" for none
EXTRAS: dict[str, str] = {
    "features": "sim",
    "sim": "sim",
    "gateway": "gateway",
    "doctor": "gateway",
    "score": "sim",
    "recordings": "sim",
    "flash": "tools",
    "provision": "tools",
    "monitor": "tools",
    "relay": "relay",
    "packet": "",
    "deploy": "gateway",
    "bench": "all",
    "report": "gateway",
    "demo": "all",
}


class CliError(Exception):
    """An expected failure: printed as one line, exit code 2."""


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, so a long-running command's
    cleanup runs.  SIGINT is set explicitly: a process started in the
    background by a non-interactive shell inherits SIGINT ignored, and Python
    keeps that, so "Ctrl-C stops" would otherwise be false under a supervisor."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that command's module is imported (its arguments)."""
    parser = argparse.ArgumentParser(
        prog="crowdpulse",
        description="Open, privacy-first crowd sentiment from wristband microphones.",
    )
    parser.add_argument("--version", action="version", version=f"crowdpulse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.add_arguments(cmd)
            cmd.set_defaults(_run=module.run)
    return parser


def _missing(command: str, exc: ModuleNotFoundError) -> str:
    extra = EXTRAS.get(command) or "all"
    return (
        f"crowdpulse {command}: needs the Python package {exc.name!r}, which is not installed; "
        f"install this role with: pip install 'crowdpulse[{extra}]'"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the first word that is not an option names the command (the top level has no
    # option that takes a value); with none, only help and --version can run
    chosen = next((word for word in argv if not word.startswith("-")), "")
    try:
        parser = build_parser(only=chosen)
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        return int(args._run(args))
    except CliError as exc:
        print(f"crowdpulse {chosen}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] in ("crowdpulse", "wristband"):
            raise  # a broken tree, not a missing install
        print(_missing(chosen, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
