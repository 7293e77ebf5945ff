"""The source tree's import graph, read with `ast` from the folders pyproject.toml maps.

pyproject's `[tool.setuptools] package-dir` is the one declaration of which
folder holds which import name (gateway/ -> crowdpulse.gateway, ...); this
module reads it, so the layer contract (test_layers.py) and the install-role
checks (test_install_roles.py) see the tree exactly as an install does.
Every import counts, also one inside a function: a lazy import still runs.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Code that runs under MicroPython: on the band, or as a script the host hands to
# the unix port.  Its imports of `machine`, `bluetooth`, ... are not host packages.
MICROPYTHON = ("wristband", "crowdpulse.firmware", "crowdpulse.scripts")


@dataclass(frozen=True)
class Use:
    """`importer` (at path:line) uses `target`, or the name `name` taken from it."""

    importer: str
    path: Path
    line: int
    target: str
    name: str | None = None


def within(module: str, prefixes: Iterable[str]) -> bool:
    """True when `module` is one of `prefixes` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """Import name -> folder, as pyproject.toml declares them."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return {
        name: root / folder for name, folder in data["tool"]["setuptools"]["package-dir"].items()
    }


def find_modules(dirs: dict[str, Path]) -> dict[str, Path]:
    """Every module of the mapped packages: import name -> file."""
    mapped = {folder.resolve() for folder in dirs.values()}
    found: dict[str, Path] = {}

    def walk(package: str, folder: Path) -> None:
        for path in sorted(folder.glob("*.py")):
            found[package if path.name == "__init__.py" else f"{package}.{path.stem}"] = path
        for sub in sorted(folder.iterdir()):
            # a sub-folder mapped under a name of its own (firmware/wristband) is walked as that
            if sub.is_dir() and sub.resolve() not in mapped and (sub / "__init__.py").exists():
                walk(f"{package}.{sub.name}", sub)

    for package, folder in dirs.items():
        walk(package, folder)
    return found


class Graph:
    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.modules = find_modules(package_dirs(root))
        self.tops = {name.split(".")[0] for name in self.modules}
        self.uses = [use for name, path in self.modules.items() for use in self._read(name, path)]

    def internal(self, module: str) -> bool:
        return module.split(".")[0] in self.tops

    def where(self, use: Use) -> str:
        return f"{use.path.relative_to(self.root)}:{use.line}"

    def _read(self, name: str, path: Path) -> Iterator[Use]:
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        bound: dict[str, str] = {}  # local name -> internal module or object it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from self._import(name, path, node, bound)
            elif isinstance(node, ast.ImportFrom):
                yield from self._import_from(name, path, package, node, bound)
        yield from self._private_uses(name, path, tree, bound)

    def _import(
        self, name: str, path: Path, node: ast.Import, bound: dict[str, str]
    ) -> Iterator[Use]:
        for alias in node.names:
            yield Use(name, path, node.lineno, alias.name)
            if alias.asname:
                bound[alias.asname] = alias.name

    def _import_from(
        self, name: str, path: Path, package: str, node: ast.ImportFrom, bound: dict[str, str]
    ) -> Iterator[Use]:
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            use = (
                Use(name, path, node.lineno, sub)
                if sub in self.modules
                else Use(name, path, node.lineno, base, alias.name)
            )
            yield use
            bound[alias.asname or alias.name] = sub

    def _private_uses(
        self, name: str, path: Path, tree: ast.Module, bound: dict[str, str]
    ) -> Iterator[Use]:
        """`mod._helper`, where `mod` names an internal module or object: private use too."""
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and is_private(node.attr)
                and self.internal(bound.get(node.value.id, "?"))
            ):
                target = bound[node.value.id]
                if target not in self.modules:  # a name taken from a module: that module
                    target = target.rpartition(".")[0]
                yield Use(name, path, node.lineno, target, node.attr)

    def closure(self, roots: Iterable[str]) -> set[str]:
        """The internal modules that importing `roots` (and everything inside them) runs."""
        todo = [m for m in self.modules if within(m, roots)]
        seen: set[str] = set()
        by_importer: dict[str, list[Use]] = {}
        for use in self.uses:
            by_importer.setdefault(use.importer, []).append(use)
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            parent = module.rpartition(".")[0]
            if parent in self.modules:
                todo.append(parent)  # importing a.b runs a/__init__.py first
            todo += [u.target for u in by_importer.get(module, []) if u.target in self.modules]
        return seen

    def third_party(self, roots: Iterable[str]) -> dict[str, list[Use]]:
        """Top-level names of the non-stdlib modules the host code in `roots`' closure imports."""
        found: dict[str, list[Use]] = {}
        modules = {m for m in self.closure(roots) if not within(m, MICROPYTHON)}
        for use in self.uses:
            top = use.target.split(".")[0]
            if (
                use.importer in modules
                and top
                and not self.internal(use.target)
                and top not in sys.stdlib_module_names
                and top != "__future__"
            ):
                found.setdefault(top, []).append(use)
        return found
