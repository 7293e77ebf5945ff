"""The import-layer contract (tests/layer_contract.py) holds, and it catches a breach."""

from __future__ import annotations

import shutil
from pathlib import Path

from import_graph import ROOT, Graph, package_dirs
from layer_contract import KNOWN, breaches


def _report(found: dict[tuple[str, str], list[str]]) -> str:
    return "\n".join(f"{a} uses {b}: {'; '.join(w)}" for (a, b), w in sorted(found.items()))


def test_the_tree_keeps_the_layer_contract() -> None:
    found = breaches(Graph())
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert not new, "imports that break the layer contract:\n" + _report(new)
    fixed = KNOWN - set(found)
    assert not fixed, f"fixed, so take them off layer_contract.KNOWN: {sorted(fixed)}"


def test_the_graph_sees_every_mapped_package() -> None:
    graph = Graph()
    for package in package_dirs():
        assert any(m == package or m.startswith(package + ".") for m in graph.modules), package
    # the firmware's own name, and a module reached only through the mapping
    assert graph.modules["wristband.packet"] == ROOT / "firmware/wristband/packet.py"
    assert graph.modules["crowdpulse.gateway.batch"] == ROOT / "gateway/batch.py"
    # imports inside functions count: the relay command loads the relay lazily
    assert any(
        u.importer == "crowdpulse.commands.relay" and u.target == "crowdpulse.relay.forwarder"
        for u in graph.uses
    )


def _copy_tree(dest: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    for folder in {p.relative_to(ROOT).parts[0] for p in package_dirs().values()}:
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))


def _plant(root: Path, file: str, line: str) -> str:
    """Add `line` at the end of `file` (in a function: a lazy import counts); where it is."""
    path = root / file
    head = path.read_text() + "\n\ndef _probe():\n"
    path.write_text(head + f"    {line}\n")
    return f"{file}:{len(head.splitlines()) + 1}: "


# (importer, what it uses) -> file, the forbidden line, and the rule that must name it
PLANTS = {
    ("wristband.config", "crowdpulse.gateway.venue"): (
        "firmware/wristband/config.py",
        "from crowdpulse.gateway import venue",
        "imports nothing of the host",
    ),
    ("crowdpulse.relay.uplink", "crowdpulse.selector.library.Track"): (
        "relay/uplink.py",
        "from crowdpulse.selector.library import Track",
        "only the gateway imports the selector",
    ),
    ("crowdpulse.tools.flash", "crowdpulse.tools.link._exec_error"): (
        "tools/flash.py",
        "from crowdpulse.tools.link import _exec_error",
        "public APIs only",
    ),
    ("crowdpulse.gateway.api", "crowdpulse.commands.demo"): (
        "gateway/api.py",
        "import crowdpulse.commands.demo",
        "no package imports a command",
    ),
}


def test_the_contract_fails_on_a_forbidden_import(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert set(breaches(Graph(tmp_path))) == set(breaches(Graph()))  # the copy is faithful
    where = {key: _plant(tmp_path, file, line) for key, (file, line, _) in PLANTS.items()}
    found = breaches(Graph(tmp_path))
    new = {k: v for k, v in found.items() if k not in KNOWN}
    assert set(new) == set(PLANTS), _report(new)
    for key, (_, _, rule) in PLANTS.items():
        assert any(w.startswith(where[key]) and rule in w for w in new[key]), new[key]


def test_the_architecture_page_lists_the_known_breaches() -> None:
    graph = Graph()
    page = (ROOT / "docs/architecture.md").read_text()
    for wheres in breaches(graph).values():
        for where in wheres:
            assert f"`{where.split(': ')[0]}`" in page, where
