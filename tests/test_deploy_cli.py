"""`crowdpulse deploy`: the broker's files from the venue file, and one line for
what cannot go into them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from flash_helpers import Run

from crowdpulse.deploy import render_acl
from crowdpulse.keys import load_venue_key, write_new_key
from crowdpulse.tools import bandconfig

ROOT = Path(__file__).resolve().parent.parent


def _venue(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "deploy/venue.example.toml", tmp_path / "venue.toml")
    write_new_key(tmp_path / "venue.key")
    return tmp_path / "venue.toml"


def test_passwords_are_kept_across_runs_and_bands_get_theirs_before_flashing(
    crowdpulse: Callable[..., Run], tmp_path: Path
) -> None:
    cfg, notes = _venue(tmp_path), tmp_path / "mqtt-users.txt"
    first = crowdpulse(
        "deploy",
        "passwords",
        "--config",
        cfg,
        "--relays",
        "stage-left,bar",
        "--readers",
        "dashboard",
        "--out",
        notes,
    )
    assert first.code == 0 and "wrote 455 MQTT users" in first.err, first
    assert notes.stat().st_mode & 0o777 == 0o600
    before = dict(line.split(":", 1) for line in notes.read_text().split())
    again = crowdpulse(
        "deploy",
        "passwords",
        "--config",
        cfg,
        "--relays",
        "stage-left,bar,door",
        "--readers",
        "dashboard",
        "--out",
        notes,
    )
    after = dict(line.split(":", 1) for line in notes.read_text().split())
    assert again.code == 0 and "5 passwords kept" in again.err
    assert all(
        after[u] == before[u] for u in ("gateway", "console", "dashboard", "stage-left", "bar")
    )
    assert len(after["door"]) == 48 and after["door"] not in before.values()
    key = load_venue_key(tmp_path / "venue.key")
    assert after["B0450"] == bandconfig.mqtt_password(key, "B0450")


def test_acl_is_the_renderers_and_mistakes_are_one_line(
    crowdpulse: Callable[..., Run], tmp_path: Path
) -> None:
    cfg = _venue(tmp_path)
    acl = crowdpulse(
        "deploy", "acl", "--config", cfg, "--relays", "stage-left,bar", "--readers", "dashboard"
    )
    assert acl.code == 0 and acl.out == render_acl(
        "club-x", ["stage-left", "bar"], "gateway", "console", ["dashboard"]
    )
    clash = crowdpulse("deploy", "acl", "--config", cfg, "--relays", "B0007")
    assert clash.code == 2 and "'B0007' is both a relay id and a band id" in clash.err
    cfg.write_text(cfg.read_text().replace("k_anonymity", "k_anonimity"))
    typo = crowdpulse("deploy", "passwords", "--config", cfg, "--out", tmp_path / "x.txt")
    assert typo.code == 2 and "did you mean k_anonymity?" in typo.err
    for run in (clash, typo):
        assert len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err


def test_token_is_made_once(crowdpulse: Callable[..., Run], tmp_path: Path) -> None:
    cfg = _venue(tmp_path)
    made = crowdpulse("deploy", "token", "--config", cfg)
    token = (tmp_path / "console.token").read_text()
    again = crowdpulse("deploy", "token", "--config", cfg)
    assert made.code == 0 and again.code == 0 and "left as it is" in again.err
    assert (
        tmp_path / "console.token"
    ).read_text() == token and token.strip() not in made.out + made.err
