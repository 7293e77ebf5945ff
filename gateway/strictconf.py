"""Strict configuration files: every key the parser never asked for is an error.

The parser of a file is the one list of the keys that file may hold: each
table it reads is wrapped here and remembers the keys asked for (`get`, `[]`,
`in`), present or not.  After parsing, any key left unasked is a typo, or a key
from another version, or a table in the wrong place; `unknown()` names the
first one with a "did you mean" (difflib) from the keys that table does know,
or from another table that knows it.  So `k_anonimity = 1` or `[[zone]]` stops
the gateway with one line, instead of silently taking the default.
"""

from __future__ import annotations

import difflib
from typing import Any


class Table(dict[str, Any]):
    """A TOML table that records which keys its parser asked for."""

    def __init__(self, data: dict[str, Any], path: str, registry: list[Table]) -> None:
        super().__init__()
        self.path = path  # "" for the file itself, "sentiment", "zones[1]", ...
        self.asked: set[str] = set()
        self.registry = registry
        registry.append(self)
        for k, v in data.items():
            dict.__setitem__(self, k, _wrap(v, _join(path, k), registry))

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        if key not in self.keys() and isinstance(default, dict):
            # an absent table is still a table whose keys the parser knows
            return Table(default, _join(self.path, key), self.registry)
        return dict.get(self, key, default)

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return dict.__contains__(self, key)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _wrap(value: Any, path: str, registry: list[Table]) -> Any:
    if isinstance(value, Table):
        return value
    if isinstance(value, dict):
        return Table(value, path, registry)
    if isinstance(value, list):
        return [_wrap(v, f"{path}[{i}]", registry) for i, v in enumerate(value)]
    return value


def track(data: dict[str, Any]) -> Table:
    """The parsed file, as tracked tables."""
    return data if isinstance(data, Table) else Table(data, "", [])


def _shape(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"table [{key}]"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"table [[{key}]]"
    return f"key {key}"


def _generic(path: str) -> str:
    """zones[1] -> zones: tables of one array share their keys."""
    return ".".join(part.split("[")[0] for part in path.split("."))


def unknown(root: Table, typos_only: bool = False) -> str | None:
    """One line for the first key no parser asked for, or None when all are known.
    `typos_only`: only a key close to a known one (after a parse that stopped
    early, keys of tables it never reached are not known to be wrong)."""
    known: dict[str, set[str]] = {}
    for t in root.registry:
        known.setdefault(_generic(t.path), set()).update(t.asked)
    for t in root.registry:
        for key in t:
            if key in t.asked or key in known.get(_generic(t.path), ()):
                continue
            where = f" in [{t.path}]" if t.path else ""
            line = f"unknown {_shape(key, t[key])}{where}"
            close = difflib.get_close_matches(
                key, sorted(known.get(_generic(t.path), ())), n=1, cutoff=0.6
            )
            home = sorted(p for p, keys in known.items() if key in keys and p != _generic(t.path))
            if close:
                return f"{line}: did you mean {_shape(close[0], t[key]).split(' ', 1)[1]}?"
            if typos_only:
                continue
            if home:
                return (
                    f"{line}: it belongs in [{home[0]}]"
                    if home[0]
                    else f"{line}: it belongs at the top"
                )
            return f"{line}: not a crowdpulse setting (see deploy/venue.example.toml)"
    return None
