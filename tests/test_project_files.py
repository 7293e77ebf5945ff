"""The project's own files say what is true: licence, changelog, contributing
guide, architecture page and pre-commit hooks."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from import_graph import ROOT, package_dirs

import wristband
from crowdpulse.cli import COMMANDS
from crowdpulse.commands.bench import BENCHES

BIN = Path(sys.executable).parent


def test_the_licence_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The crowdpulse authors" in text


def test_the_changelog_keeps_its_format_and_the_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "keepachangelog.com" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings and headings[0] == "Unreleased"
    assert f"fw={wristband.VERSION}" in text
    for section in re.findall(r"^### (.+)$", text, re.M):
        assert section in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_contributing_names_commands_that_exist() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    benches = set(re.findall(r"crowdpulse bench (\w+) --json", text))
    assert benches == set(BENCHES), benches ^ set(BENCHES)
    for path in re.findall(
        r"`((?:firmware|tools|tests|crowdpulse|docs)/[\w/.]+\.(?:py|md))`", text
    ):
        assert (ROOT / path).exists(), path
    assert "python3 dev.py test" in text and "pre-commit install" in text


def test_the_architecture_page_maps_every_folder_and_command() -> None:
    text = (ROOT / "docs/architecture.md").read_text()
    assert text.count("```\n") == 2  # one drawing of the flow
    for folder in {p.relative_to(ROOT).parts[0] for p in package_dirs().values()}:
        assert f"| `{folder}/` |" in text, folder
    for extra in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]:
        assert f"[{extra}]" in text, extra
    for command in ("relay", "demo", "bench", "report", "doctor"):  # the commands it names
        assert command in COMMANDS


def test_pre_commit_runs_the_projects_own_tools() -> None:
    proc = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "types-and-layers"} <= set(hooks)
    for hook in hooks.values():
        program = hook["entry"].split()[0]
        assert program.startswith(".venv/bin/"), program  # installed by dev.py, no download
        assert (BIN / Path(program).name).exists(), program
    checks = hooks["types-and-layers"]["entry"]
    for test in ("tests/test_quality.py", "tests/test_layers.py", "tests/test_install_roles.py"):
        assert test in checks and (ROOT / test).exists()
