"""`crowdpulse flash --config venue.toml`: the venue name, key and zone come from the
venue file, and a band the venue does not know is refused before anything is
written (one line, exit 2; no band is needed to prove it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flash_helpers import Run

from crowdpulse.keys import write_new_key
from crowdpulse.tools import bandconfig
from crowdpulse.tools.bandconfig import ConfigError, Venue, zone_of


@pytest.fixture
def venue(tmp_path: Path) -> Path:
    write_new_key(tmp_path / "venue.key")
    cfg = tmp_path / "venue.toml"
    cfg.write_text(
        'venue = "club-x"\n[keys]\nvenue_key_file = "venue.key"\n'
        '[[zones]]\nname = "floor"\nbands = ["B0001-B0010"]\n'
        '[[zones]]\nname = "bar"\nbands = ["B0011-B0012"]\n'
    )
    return cfg


@pytest.mark.parametrize(
    "extra,line",
    [
        (["--band-id", "B0999"], "B0999 is not a band of venue club-x"),
        (["--band-id", "B0001", "--zone", "bar"], "B0001 is in zone floor in"),
        (["--band-id", "B0001", "--venue", "demo"], "--venue demo but"),
    ],
)
def test_flash_refuses_a_band_the_venue_file_does_not_have(
    crowdpulse: Callable[..., Run], venue: Path, tmp_path: Path, extra: list[str], line: str
) -> None:
    run = crowdpulse("flash", "--port", tmp_path / "no-such-port", "--config", venue, *extra)
    assert run.code == 2 and line in run.err, run
    assert len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err


def test_the_venue_file_gives_the_venue_key_and_zone(venue: Path) -> None:
    v = bandconfig.venue(str(venue), None, None)
    assert (v.name, v.named) == ("club-x", True)
    assert v.key == bytes.fromhex((venue.parent / "venue.key").read_text().strip())
    assert zone_of(v, "B0012", None) == "bar"
    demo = Venue("demo", v.key, False)
    with pytest.raises(ConfigError, match="--zone is needed"):
        zone_of(demo, "B0001", None)
