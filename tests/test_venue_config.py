"""The venue file: the shipped example loads; ranges, fleet files and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crowdpulse.gateway import preflight
from crowdpulse.gateway.venue import VenueConfigError, expand, load
from crowdpulse.gateway.venuefile import VenueFile, Zone
from crowdpulse.keys import write_new_key

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


def test_the_shipped_example_loads_as_shipped_before_its_token_exists(tmp_path: Path) -> None:
    # deploy.md's order: the key is made first; nothing has made console.token yet
    shutil.copy(ROOT / "deploy/venue.example.toml", tmp_path / "venue.toml")
    write_new_key(tmp_path / "venue.key")
    cfg = load(tmp_path / "venue.toml")
    assert cfg.console_token is None and cfg.console_token_file == str(tmp_path / "console.token")
    assert preflight.token(cfg, "venue.toml", create=False).level == "fail"
    made = preflight.token(cfg, "venue.toml", create=True)
    assert made.level == "ok" and "created" in made.what
    assert (tmp_path / "console.token").stat().st_mode & 0o777 == 0o600
    assert load(tmp_path / "venue.toml").console_token == cfg.console_token


def _example(tmp_path: Path, change: tuple[str, str]) -> Path:
    text = (ROOT / "deploy/venue.example.toml").read_text()
    assert change[0] in text
    (tmp_path / "venue.toml").write_text(text.replace(*change, 1))
    (tmp_path / "venue.key").write_text("ab" * 32)
    return tmp_path / "venue.toml"


@pytest.mark.parametrize(
    "change,line",
    [
        (
            ("k_anonymity = 5", "k_anonimity = 1"),
            "unknown key k_anonimity in [sentiment]: did you mean k_anonymity?",
        ),
        (
            ('[[zones]]\nname = "bar"', '[[zone]]\nname = "bar"'),
            "unknown table [[zone]]: did you mean [[zones]]?",
        ),
        (
            ("B0001-B0400", "B0001-B040O"),
            "'B0001-B040O' is not a band range: both ends must be B<digits> "
            "(did you mean B0001-B0400?)",
        ),
        (
            ("B0001-B0400", "B001-B0400"),
            "band range 'B001-B0400': both ends need the same number of digits",
        ),
        (("B0401-B0450", "B0400-B0450"), "band B0400 is listed twice (zones floor and bar)"),
        (
            ("weight = 0.5", "weight = 0.5\nk_anonymity = 1"),
            "unknown key k_anonymity in [zones[1]]: it belongs in [sentiment]",
        ),
        (("[http]", "[htpp]"), "unknown table [htpp]: did you mean [http]?"),
        (
            ("view_requires_token = false", "view_requires_token = false\ncolour = 'red'"),
            "unknown key colour in [console]: not a crowdpulse setting",
        ),
        (
            ('venue_key_file = "venue.key"', 'venue_key_file = "other.key"'),
            "other.key does not exist; make the venue key with `crowdpulse packet keygen",
        ),
    ],
)
def test_each_venue_file_mistake_is_one_line_naming_the_fix(
    tmp_path: Path, change: tuple[str, str], line: str
) -> None:
    with pytest.raises(VenueConfigError) as err:
        load(_example(tmp_path, change))
    assert line in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "venue.toml"))


def test_a_zone_too_small_for_k_anonymity_is_a_warning_naming_the_fix(tmp_path: Path) -> None:
    cfg = load(_example(tmp_path, ("B0401-B0450", "B0401-B0403")))
    checks = {c.what.split(":")[0]: c for c in preflight.bands(cfg)}
    assert checks["zone floor"].level == "ok"
    assert checks["zone bar"].level == "warn" and "never show a score" in checks["zone bar"].what
    assert "k_anonymity" in checks["zone bar"].fix


def test_ranges_keep_zero_padding() -> None:
    assert expand("B0008-B0011", "z") == ["B0008", "B0009", "B0010", "B0011"]
    assert expand("stage.7", "z") == ["stage.7"]
    with pytest.raises(VenueConfigError):
        expand("B9-B1", "z")


def test_fleet_file_rows_are_checked(tmp_path: Path) -> None:
    (tmp_path / "venue.key").write_text("cd" * 32)
    (tmp_path / "fleet.csv").write_text("band_id,zone\nB1,floor\nB2,nowhere\n")
    (tmp_path / "v.toml").write_text(
        'venue = "v"\nfleet_file = "fleet.csv"\n[keys]\n'
        'venue_key_file = "venue.key"\n[[zones]]\nname = "floor"\n'
    )
    with pytest.raises(VenueConfigError, match="row 3"):
        load(tmp_path / "v.toml")


@pytest.mark.parametrize(
    "body,needle",
    [
        ('venue = "v"\n[keys]\nvenue_key_file = "k"\n', "zones"),
        (
            'venue = "v"\n[keys]\nvenue_key_file = "k"\n'
            '[[zones]]\nname = "a"\nbands = ["B1", "B1"]\n',
            "twice",
        ),
        (
            'venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n'
            "[sentiment]\nk_anonymity = 0\n",
            "k_anonymity",
        ),
        (
            'venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n'
            '[http]\nport = "eighty"\n',
            "http.port",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, body: str, needle: str) -> None:
    (tmp_path / "k").write_text("ef" * 32)
    (tmp_path / "v.toml").write_text(body)
    with pytest.raises(VenueConfigError, match=needle):
        load(tmp_path / "v.toml")


def test_a_short_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("abcd")
    (tmp_path / "v.toml").write_text(
        'venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "a"\nbands = ["B1"]\n'
    )
    with pytest.raises(VenueConfigError) as err:
        load(tmp_path / "v.toml")
    assert "abcd" not in str(err.value)


def test_a_band_can_be_marked_as_the_music_reference(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("ab" * 32)
    (tmp_path / "v.toml").write_text(
        'venue = "v"\n[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "floor"\n'
        'bands = ["B1-B3"]\n[[bands]]\nid = "REF"\nzone = "floor"\nreference = true\n'
        '[[bands]]\nid = "B9"\nzone = "floor"\n'
    )
    cfg = load(tmp_path / "v.toml")
    assert cfg.references == ["REF"]
    assert ("REF", "floor") in cfg.bands and ("B9", "floor") in cfg.bands


@pytest.mark.parametrize(
    "bands,needle",
    [
        ('[[bands]]\nid = "REF"\nzone = "nowhere"\n', r"bands\[0\] needs id"),
        ('[[bands]]\nid = "R E F"\nzone = "floor"\n', r"bands\[0\] needs id"),
        (
            '[[bands]]\nid = "REF"\nzone = "floor"\nreference = "yes"\n',
            r"bands\[0\].reference must be bool",
        ),
        ('bands = "REF"\n', r"\[\[bands\]\] must be an array"),
        ('[[bands]]\nid = "B1"\nzone = "floor"\n', "twice"),
    ],
)
def test_bad_single_bands_are_one_line(tmp_path: Path, bands: str, needle: str) -> None:
    (tmp_path / "k").write_text("ab" * 32)
    head = 'venue = "v"\n' + (bands if not bands.startswith("[[") else "")
    tail = bands if bands.startswith("[[") else ""
    (tmp_path / "v.toml").write_text(
        head + '[keys]\nvenue_key_file = "k"\n[[zones]]\nname = "floor"\nbands = ["B1"]\n' + tail
    )
    with pytest.raises(VenueConfigError, match=needle):
        load(tmp_path / "v.toml")


def test_a_written_venue_file_reads_back_as_written(tmp_path: Path) -> None:
    # gateway/venuefile.py makes every generated venue: what it writes, the reader reads
    write_new_key(tmp_path / "venue.key")
    lib = tmp_path / 'music "live"'
    lib.mkdir()
    spec = VenueFile(
        "club-x",
        "venue.key",
        [Zone("floor", ["S00001-S00003"]), Zone("bar", ["S00004"], weight=0.5)],
        http_port=18080,
        reference_band=("REF", "floor"),
        selector_mode="auto",
        library=str(lib),
        token="t0k",
        db_path=str(tmp_path / "gw.db"),
        player={"deck": True, "note": 'a "deck"'},
    )
    (tmp_path / "venue.toml").write_text(spec.text())
    cfg = load(tmp_path / "venue.toml")
    assert cfg.venue == "club-x" and cfg.http_port == 18080 and cfg.selector_mode == "auto"
    assert [(z.name, z.weight) for z in cfg.zones] == [("floor", 1.0), ("bar", 0.5)]
    assert cfg.bands[:4] == [
        ("S00001", "floor"),
        ("S00002", "floor"),
        ("S00003", "floor"),
        ("S00004", "bar"),
    ]
    assert cfg.band_references == ["REF"] and cfg.library == str(lib)
    assert cfg.console_token == "t0k" and cfg.db_path == str(tmp_path / "gw.db")
    assert cfg.player_deck and cfg.player_note == 'a "deck"'
