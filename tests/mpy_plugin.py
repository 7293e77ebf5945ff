"""Run the files in tests/mpy/ under the real MicroPython as well as CPython.

Each `test_*` function in `tests/mpy/test_*.py` becomes a second pytest item,
`name[micropython]`, whose result comes from running the file in the MicroPython
unix port.  The terminal summary says how many ran there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from crowdpulse import mpy

MPY_DIR = Path(__file__).resolve().parent / "mpy"
_STATS = {"passed": 0, "failed": 0}


class MicroPythonFile(pytest.File):
    def collect(self) -> Any:
        tree = ast.parse(self.path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield MicroPythonItem.from_parent(
                    self, name=f"{node.name}[micropython]", func=node.name
                )

    def results(self) -> dict[str, str]:
        cached: dict[str, str] | None = getattr(self, "_results", None)
        if cached is None:
            proc = mpy.run(
                MPY_DIR / "runner.py", [self.path.stem], extra_path=[MPY_DIR], timeout=900
            )
            out = proc.stdout.decode(errors="replace")
            cached = {}
            current = None
            for line in out.splitlines():
                m = re.match(r"@@MPY (PASS|FAIL) (\w+)", line)
                if m:
                    current = m.group(2)
                    cached[current] = "" if m.group(1) == "PASS" else "FAIL\n"
                elif current and cached[current]:
                    cached[current] += line + "\n"
            cached["__stderr__"] = proc.stderr.decode(errors="replace") + out[-2000:]
            self._results = cached
        return cached


class MicroPythonItem(pytest.Item):
    def __init__(self, *, func: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.func = func
        self.add_marker(pytest.mark.micropython)

    def runtest(self) -> None:
        parent = self.parent
        assert isinstance(parent, MicroPythonFile)
        results = parent.results()
        if self.func not in results:
            _STATS["failed"] += 1
            raise AssertionError("did not run under MicroPython:\n" + results["__stderr__"])
        if results[self.func]:
            _STATS["failed"] += 1
            raise AssertionError("failed under MicroPython:\n" + results[self.func])
        _STATS["passed"] += 1

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"micropython: {self.name}"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if (
        file_path.parent == MPY_DIR
        and file_path.name.startswith("test_")
        and file_path.suffix == ".py"
    ):
        return MicroPythonFile.from_parent(
            parent, path=file_path, name=f"{file_path.name}::micropython"
        )
    return None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    total = _STATS["passed"] + _STATS["failed"]
    if total:
        terminalreporter.write_sep(
            "=",
            f"MicroPython: {total} tests ran under the real MicroPython unix port, "
            f"{_STATS['passed']} passed, {_STATS['failed']} failed",
        )
