"""mypy over the tree as pyproject.toml maps it: every module under its installed name.

mypy cannot follow setuptools' editable import hook, and its command line
derives a module's name from the folders above it (gateway/x.py would be
`gateway.x`). Its build API takes each source with its module name instead, so
the names come from the one declaration, pyproject's package-dir, through
`import_graph.find_modules`: no copy of the layout, no second package list.

Run as `python tests/typecheck.py [--cache-dir DIR]`; exits 1 on any error.
"""

from __future__ import annotations

import sys
from pathlib import Path

from import_graph import ROOT, find_modules, package_dirs, within
from mypy import build
from mypy.main import process_options
from mypy.modulefinder import BuildSource

# The band's boot.py and main.py are package data run by MicroPython, not host modules.
NOT_HOST = ("crowdpulse.firmware",)


def sources(root: Path = ROOT) -> list[BuildSource]:
    modules = find_modules(package_dirs(root))
    return [
        BuildSource(str(path), name)
        for name, path in sorted(modules.items())
        if not within(name, NOT_HOST)
    ]


def check(root: Path = ROOT, cache_dir: str | None = None) -> list[str]:
    """mypy's messages for the whole mapped tree, with pyproject's settings."""
    args = ["--config-file", str(root / "pyproject.toml")]
    if cache_dir:
        args += ["--cache-dir", cache_dir]
    # process_options wants a target; the real ones replace it below
    _, options = process_options([*args, "-c", "pass"])
    result = build.build(sources(root), options)
    return result.errors


def main(argv: list[str]) -> int:
    cache = argv[argv.index("--cache-dir") + 1] if "--cache-dir" in argv else None
    errors = check(cache_dir=cache)
    for line in errors:
        print(line)
    print(f"mypy: {len(errors)} error(s) in {len(sources())} modules")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
