"""The venue file: the shipped example loads; ranges, fleet files and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdpulse.gateway.venue import VenueConfigError, expand, load

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_example_loads(tmp_path: Path) -> None:
    cfg_text = (ROOT / "deploy/venue.example.toml").read_text()
    (tmp_path / "venue.toml").write_text(cfg_text)
    (tmp_path / "venue.key").write_text("ab" * 32)
    (tmp_path / "console.token").write_text("s3cret\n")
    cfg = load(tmp_path / "venue.toml")
    assert cfg.venue == "club-x" and len(cfg.bands) == 450
    assert cfg.bands[0] == ("B0001", "floor") and cfg.bands[-1] == ("B0450", "bar")
    assert cfg.console_token == "s3cret" and cfg.venue_key == bytes([0xAB]) * 32
    assert "venue_key" not in repr(cfg)


def test_ranges_keep_zero_padding() -> None:
    assert expand("B0008-B0011", "z") == ["B0008", "B0009", "B0010", "B0011"]
    assert expand("stage.7", "z") == ["stage.7"]
    with pytest.raises(VenueConfigError):
        expand("B9-B1", "z")


def test_fleet_file_rows_are_checked(tmp_path: Path) -> None:
    (tmp_path / "venue.key").write_text("cd" * 32)
    (tmp_path / "fleet.csv").write_text("band_id,zone\nB1,floor\nB2,nowhere\n")
    (tmp_path / "v.toml").write_text('venue = "v"\nfleet_file = "fleet.csv"\n[keys]\n'
                                     'venue_key_file = "venue.key"\n[[zones]]\nname = "floor"\n')
    with pytest.raises(VenueConfigError, match="row 3"):
        load(tmp_path / "v.toml")


@pytest.mark.parametrize("body,needle", [
    ('venue = "v"\n[keys]\nvenue_key_file = "k"\n', "zones"),
    ('venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1", "B1"]\n', "twice"),
    ('venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n'
     '[sentiment]\nk_anonymity = 0\n', "k_anonymity"),
    ('venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n'
     '[http]\nport = "eighty"\n', "http.port"),
])
def test_errors_name_the_key(tmp_path: Path, body: str, needle: str) -> None:
    (tmp_path / "k").write_text("ef" * 32)
    (tmp_path / "v.toml").write_text(body)
    with pytest.raises(VenueConfigError, match=needle):
        load(tmp_path / "v.toml")


def test_a_short_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("abcd")
    (tmp_path / "v.toml").write_text('venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n')
    with pytest.raises(VenueConfigError) as err:
        load(tmp_path / "v.toml")
    assert "abcd" not in str(err.value)


def test_a_band_can_be_marked_as_the_music_reference(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("ab" * 32)
    (tmp_path / "v.toml").write_text('venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "floor"\n'
                                     'bands = ["B1-B3"]\n[[bands]]\nid = "REF"\nzone = "floor"\nreference = true\n'
                                     '[[bands]]\nid = "B9"\nzone = "floor"\n')
    cfg = load(tmp_path / "v.toml")
    assert cfg.references == ["REF"]
    assert ("REF", "floor") in cfg.bands and ("B9", "floor") in cfg.bands


@pytest.mark.parametrize("bands,needle", [
    ('[[bands]]\nid = "REF"\nzone = "nowhere"\n', r"bands\[0\] needs id"),
    ('[[bands]]\nid = "R E F"\nzone = "floor"\n', r"bands\[0\] needs id"),
    ('[[bands]]\nid = "REF"\nzone = "floor"\nreference = "yes"\n', r"bands\[0\].reference must be bool"),
    ('bands = "REF"\n', r"\[\[bands\]\] must be an array"),
    ('[[bands]]\nid = "B1"\nzone = "floor"\n', "twice"),
])
def test_bad_single_bands_are_one_line(tmp_path: Path, bands: str, needle: str) -> None:
    (tmp_path / "k").write_text("ab" * 32)
    head = 'venue = "v"\n' + (bands if not bands.startswith("[[") else "")
    tail = bands if bands.startswith("[[") else ""
    (tmp_path / "v.toml").write_text(head + '[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "floor"\n'
                                     'bands = ["B1"]\n' + tail)
    with pytest.raises(VenueConfigError, match=needle):
        load(tmp_path / "v.toml")
