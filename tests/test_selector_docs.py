"""docs/selector.md's stated figures are the code's: the sample library, the
mixing rules, Adaptive Flow, the model's prior, the venue file's defaults,
the Mixxx poll and the bench's set-up.  (The bench's results are asserted in
test_selector_service.py.)"""

from __future__ import annotations

import inspect
from pathlib import Path

from crowdpulse.bench import select as bench
from crowdpulse.gateway.venue import parse
from crowdpulse.selector import nowplaying, rules
from crowdpulse.selector.flow import Flow
from crowdpulse.selector.library import sample_library
from crowdpulse.selector.model import EngagementModel, Features


def test_the_sample_library() -> None:
    lib = sample_library()
    assert len(lib) == 80 and len({t.genre for t in lib}) == 6


def test_mixing_rules_and_their_relaxation() -> None:
    r = rules.Rules()
    assert r.bpm_window == 0.06 and r.artist_separation_s == 3600 and r.allow_energy_boost
    assert "bpm_ok(prev.bpm, cand.bpm, 0.15)" in inspect.getsource(rules)  # the relaxed tempo step


def test_adaptive_flow() -> None:
    f = Flow()
    assert (f.threshold, f.dwell_s, f.margin, f.cooldown_s) == (40.0, 20.0, 10.0, 300.0)


def test_the_models_prior() -> None:
    feats = Features([t.genre for t in sample_library()])
    mean = EngagementModel(feats, seed=1).mean
    assert mean[feats.names.index("bias")] == 35.0  # a passive room
    assert mean[feats.names.index("recovery")] == 6.0  # favourites lift a crowd


def test_venue_file_defaults(tmp_path: Path) -> None:
    (tmp_path / "venue.key").write_text("ab" * 32)
    cfg = parse(
        {
            "venue": "v",
            "keys": {"venue_key_file": "venue.key"},
            "zones": [{"name": "floor", "bands": ["B0001"]}],
        },
        tmp_path,
    )
    assert (cfg.selector_mode, cfg.threshold, cfg.dwell_s, cfg.cooldown_s) == (
        "assist",
        40.0,
        20.0,
        300.0,
    )
    assert (cfg.artist_separation_min, round(cfg.bpm_window, 4)) == (60.0, 0.06)


def test_mixxx_is_read_every_2_s_from_its_set_log() -> None:
    from crowdpulse.selector import player_mixxx

    assert player_mixxx.POLL_S == 2.0
    assert "self._stop.wait(POLL_S)" in inspect.getsource(player_mixxx.MixxxPlayer)
    assert nowplaying.SET_LOG == 2


def test_the_bench_forces_an_unloved_track_every_25_minutes() -> None:
    assert bench.SHOCK_EVERY_S == 25 * 60
