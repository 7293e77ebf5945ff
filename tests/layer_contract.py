"""The import-layer contract: which part of crowdpulse may import which.

The flow is band -> relay -> gateway -> selector -> console (docs/architecture.md).
Each rule forbids some imports; `KNOWN` names the breaches the tree still has,
each to be removed when its code is fixed (tests/test_layers.py fails on a new
breach and also on a listed one that is gone, so the list only shrinks).

Checked with `ast` over the folders pyproject.toml maps (tests/import_graph.py)
rather than import-linter: import-linter finds a package's modules by walking
its folder, and `crowdpulse.gateway` lives in gateway/, not crowdpulse/gateway/.
"""

from __future__ import annotations

from dataclasses import dataclass

from import_graph import MICROPYTHON, Graph, Use, is_private, within

EVERYONE = ("crowdpulse", "wristband")


@dataclass(frozen=True)
class Rule:
    """Modules in `importers` (less those in `exempt`) may not import `targets`."""

    says: str
    importers: tuple[str, ...]
    targets: tuple[str, ...]
    exempt: tuple[str, ...] = ()

    def broken_by(self, use: Use) -> bool:
        return (
            within(use.importer, self.importers)
            and not within(use.importer, self.exempt)
            and within(use.target, self.targets)
            and not within(use.importer, self.targets)  # a layer may import itself
        )


@dataclass(frozen=True)
class PublicOnly:
    """Modules in `importers` use no private name (`_x`) of another module."""

    says: str
    importers: tuple[str, ...]

    def broken_by(self, use: Use) -> bool:
        return (
            within(use.importer, self.importers)
            and use.target != use.importer
            and (use.name is not None and is_private(use.name))
        )


CONTRACT: list[Rule | PublicOnly] = [
    Rule(
        "the firmware (and every script run under MicroPython) imports nothing of the host",
        importers=MICROPYTHON,
        targets=("crowdpulse",),
    ),
    Rule(
        "the relay needs only the wire format and MQTT: it imports no other layer",
        importers=("crowdpulse.relay",),
        targets=(
            "crowdpulse.gateway",
            "crowdpulse.selector",
            "crowdpulse.console",
            "crowdpulse.sim",
            "crowdpulse.tools",
            "crowdpulse.bench",
            "crowdpulse.report",
            "crowdpulse.commands",
        ),
    ),
    Rule(
        "only the gateway imports the selector; today the simulator, the benches, the demo "
        "and the commands do too (they run a night with the selector in the loop)",
        importers=EVERYONE,
        targets=("crowdpulse.selector",),
        exempt=(
            "crowdpulse.gateway",
            "crowdpulse.sim",
            "crowdpulse.bench",
            "crowdpulse.demo",
            "crowdpulse.commands",
        ),
    ),
    Rule(
        "the selector imports no other layer: it is handed sentiment and tracks",
        importers=("crowdpulse.selector",),
        targets=(
            "crowdpulse.gateway",
            "crowdpulse.relay",
            "crowdpulse.console",
            "crowdpulse.sim",
            "crowdpulse.tools",
            "crowdpulse.bench",
            "crowdpulse.report",
            "crowdpulse.commands",
            "crowdpulse.cli",
        ),
    ),
    Rule(
        "the gateway imports neither the simulator, the benches, the tools, the relay nor the "
        "commands",
        importers=("crowdpulse.gateway",),
        targets=(
            "crowdpulse.sim",
            "crowdpulse.bench",
            "crowdpulse.tools",
            "crowdpulse.relay",
            "crowdpulse.commands",
            "crowdpulse.cli",
        ),
    ),
    Rule(
        "the tools import neither the simulator, the benches, the relay, the selector nor the "
        "commands",
        importers=("crowdpulse.tools",),
        targets=(
            "crowdpulse.sim",
            "crowdpulse.bench",
            "crowdpulse.relay",
            "crowdpulse.selector",
            "crowdpulse.commands",
        ),
    ),
    Rule(
        "commands sit on top: no package imports a command or the CLI",
        importers=EVERYONE,
        targets=("crowdpulse.commands", "crowdpulse.cli"),
        exempt=("crowdpulse.commands", "crowdpulse.cli", "crowdpulse.__main__"),
    ),
    PublicOnly(
        "the simulator, the benches, the tools and the commands use public APIs only",
        importers=("crowdpulse.sim", "crowdpulse.bench", "crowdpulse.tools", "crowdpulse.commands"),
    ),
]

# (importer, what it uses) for each breach still in the tree; see docs/architecture.md
KNOWN = {
    ("crowdpulse.gateway.linein", "crowdpulse.sim.bands.twin"),
    ("crowdpulse.sim.recordings.harness", "crowdpulse.commands.score"),
}


def used(use: Use) -> str:
    return use.target if use.name is None else f"{use.target}.{use.name}"


def breaches(graph: Graph) -> dict[tuple[str, str], list[str]]:
    """(importer, what it uses) -> the rule it breaks and where, for every breach."""
    found: dict[tuple[str, str], list[str]] = {}
    for use in graph.uses:
        for rule in CONTRACT:
            if rule.broken_by(use):
                found.setdefault((use.importer, used(use)), []).append(
                    f"{graph.where(use)}: {rule.says}"
                )
    return found
