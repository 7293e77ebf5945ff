"""The track library: CSV, tagged audio, playlists, Rekordbox XML, keys, the sample."""

from __future__ import annotations

import hashlib
import json
import struct
import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, POPM, TBPM, TCON, TIT2, TKEY, TPE1, TXXX
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from crowdpulse.selector import library
from crowdpulse.selector.camelot import CAMELOT_KEYS, to_open_key, to_standard
from crowdpulse.selector.library import (
    ImportResult,
    Track,
    estimate_energy,
    load,
    sample_library,
    to_camelot,
    track_id,
)

ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def _by_title(result: ImportResult) -> dict[str, Track]:
    return {t.title: t for t in result.tracks}


# --- keys ----------------------------------------------------------------------

# The circle of fifths, walked from C major (8B) and A minor (8A): an independent
# reference for the wheel, not the formula the module uses.
_MAJORS = ["C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F"]
_MINORS = ["Am", "Em", "Bm", "F#m", "C#m", "G#m", "D#m", "A#m", "Fm", "Cm", "Gm", "Dm"]
WHEEL = {
    **{name: f"{(7 + i) % 12 + 1}B" for i, name in enumerate(_MAJORS)},
    **{name: f"{(7 + i) % 12 + 1}A" for i, name in enumerate(_MINORS)},
}


def test_the_reference_wheel_is_the_camelot_wheel() -> None:
    assert WHEEL["C"] == "8B" and WHEEL["Am"] == "8A"
    assert (
        WHEEL["B"] == "1B"
        and WHEEL["G#m"] == "1A"
        and WHEEL["E"] == "12B"
        and WHEEL["C#m"] == "12A"
    )
    assert sorted(WHEEL.values()) == sorted(CAMELOT_KEYS)


@pytest.mark.parametrize("name", sorted(WHEEL))
def test_every_standard_key_converts(name: str) -> None:
    assert to_camelot(name) == WHEEL[name]


@pytest.mark.parametrize(
    ("notation", "camelot"),
    [
        # standard, both modes, spelled many ways
        ("Am", "8A"),
        ("A minor", "8A"),
        ("A min", "8A"),
        ("a MINOR", "8A"),
        ("Amin", "8A"),
        ("A-minor", "8A"),
        ("A min.", "8A"),
        ("C", "8B"),
        ("C major", "8B"),
        ("Cmaj", "8B"),
        ("C#m", "12A"),
        ("Dbm", "12A"),
        ("Db", "3B"),
        ("Dbmaj", "3B"),
        ("C# major", "3B"),
        ("F#", "2B"),
        ("Gb major", "2B"),
        ("Gb", "2B"),
        ("F#m", "11A"),
        ("Gbm", "11A"),
        ("Ebm", "2A"),
        ("D#m", "2A"),
        ("E flat minor", "2A"),
        ("F-sharp", "2B"),
        ("f sharp minor", "11A"),
        ("Bb", "6B"),
        ("bb", "6B"),
        ("Bbm", "3A"),
        ("bbm", "3A"),
        ("A#m", "3A"),
        ("B", "1B"),
        ("Bm", "10A"),
        ("Abm", "1A"),
        ("G#m", "1A"),
        ("Ab", "4B"),
        ("G#", "4B"),
        # enharmonics that cross a letter
        ("Cb", "1B"),
        ("E#m", "4A"),
        ("Fb", "12B"),
        ("B#", "8B"),
        # unicode sharps and flats
        ("C\u266fm", "12A"),
        ("D\u266d", "3B"),
        ("G\u266d major", "2B"),
        ("E\u266d minor", "2A"),
        # Camelot already
        ("8A", "8A"),
        ("08a", "8A"),
        ("8 A", "8A"),
        ("12b", "12B"),
        ("1A", "1A"),
        (" 10B ", "10B"),
        # Open Key (Traktor): 1d is C major, 1m is A minor
        ("1m", "8A"),
        ("1d", "8B"),
        ("6m", "1A"),
        ("6d", "1B"),
        ("10m", "5A"),
        ("12d", "7B"),
        ("01m", "8A"),
        # Mixed In Key and other combined forms, when the parts agree
        ("8A - Am", "8A"),
        ("Am/8A", "8A"),
        ("8A (Am)", "8A"),
        ("1A Abm", "1A"),
        ("2B - F#", "2B"),
    ],
)
def test_key_notations(notation: str, camelot: str) -> None:
    assert to_camelot(notation) == camelot


@pytest.mark.parametrize(
    "notation",
    [
        "",
        "   ",
        "o",
        "H",
        "Hm",
        "X#m",
        "13A",
        "0B",
        "8C",
        "13m",
        "0d",
        "A minorish",
        "Am/Bm",
        "8A - Bm",
        "C##",
        "major",
        "m",
        "128",
    ],
)
def test_unknown_key_notations_are_none(notation: str) -> None:
    assert to_camelot(notation) is None


@pytest.mark.parametrize("key", CAMELOT_KEYS)
def test_all_24_keys_round_trip(key: str) -> None:
    assert to_camelot(key) == key
    assert to_camelot(key.lower()) == key
    assert to_camelot(to_standard(key)) == key
    assert to_camelot(to_open_key(key)) == key
    minor = key.endswith("A")
    assert to_standard(key).endswith("m") == minor and to_open_key(key).endswith("m") == minor


@pytest.mark.parametrize(
    ("sharp", "flat"), [("C#", "Db"), ("D#", "Eb"), ("F#", "Gb"), ("G#", "Ab"), ("A#", "Bb")]
)
def test_enharmonic_spellings_agree_in_both_modes(sharp: str, flat: str) -> None:
    assert to_camelot(sharp) == to_camelot(flat) is not None
    assert to_camelot(sharp + "m") == to_camelot(flat + "m") is not None
    assert to_camelot(sharp) != to_camelot(sharp + "m")


def test_relative_keys_share_a_number() -> None:
    for major, minor in [("C", "Am"), ("G", "Em"), ("Eb", "Cm"), ("F#", "D#m"), ("Bb", "Gm")]:
        a, b = to_camelot(major), to_camelot(minor)
        assert a is not None and b is not None
        assert a[:-1] == b[:-1] and a[-1] == "B" and b[-1] == "A"


def test_library_re_exports_to_camelot() -> None:
    from crowdpulse.selector import camelot

    assert library.to_camelot is camelot.to_camelot


# --- ids, dicts, energy -----------------------------------------------------------


def test_track_ids_are_stable_and_normalised() -> None:
    expected = "t-" + hashlib.sha1(b"velvet harbour|tidal lanterns").hexdigest()[:12]
    assert track_id("Velvet Harbour", "Tidal Lanterns") == expected
    assert track_id("  VELVET harbour ", " tidal LANTERNS") == expected
    assert track_id("Velvet Harbour", "Tidal Lanterns (Dub)") != expected


def test_as_dict_is_json_ready() -> None:
    t = sample_library()[0]
    d = t.as_dict()
    assert set(d) == {f.name for f in fields(Track)}
    assert json.loads(json.dumps(d)) == d
    assert Track(**d) == t  # type: ignore[arg-type]


def test_energy_estimate_rule() -> None:
    assert estimate_energy(124, "House") == 0.6
    assert estimate_energy(130, "Deep House") == pytest.approx(0.58)
    assert estimate_energy(174, "Drum & Bass") == 0.75
    assert estimate_energy(174, "drum and bass") == 0.75
    assert estimate_energy(120, "") == 0.5
    assert estimate_energy(140, "polka") == 0.6
    # faster is more, within a genre; the tempo part is limited
    assert estimate_energy(128, "techno") > estimate_energy(124, "techno")
    assert estimate_energy(200, "house") == pytest.approx(0.75)
    # genres order sensibly at their own tempos
    assert (
        estimate_energy(70, "ambient")
        < estimate_energy(95, "hip hop")
        < estimate_energy(124, "house")
        < estimate_energy(130, "techno")
        < estimate_energy(150, "hardstyle")
    )
    for bpm in (30, 60, 100, 140, 180, 300):
        for genre in ("", "ambient", "house", "drum & bass", "hardcore", "hip hop", "pop"):
            assert 0.1 <= estimate_energy(bpm, genre) <= 0.95


# --- CSV -----------------------------------------------------------------------------


GOOD_CSV = """\
Title,ARTIST,Bpm,Key,Energy,Genre,Duration,Recovery,Comment
Tidal Lanterns,Velvet Harbour,124,Am,0.7,House,4:32,yes,ignored column
Black Relay,Null Meridian,132.5,8B,0.85,Techno,395,no,
Hyperlane,Flux Pilot,174,1m,,Drum & Bass,3:05.5,TRUE,
Inkwell,Deacon Quill,"92,5",F# minor,0,Hip Hop,1:02:03,0,
"Paper Boats, on the Canal",Lantern Society,121,Db,1,house,300,,

Sugar Rush,The Sequin Society,116,G\u266d major,0.5,disco,4:00,1,
"""


def test_csv_good_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "lib.csv", GOOD_CSV)
    result = load(path)
    assert result.errors == []
    got = _by_title(result)
    assert len(result.tracks) == 6
    t = got["Tidal Lanterns"]
    assert t == Track(
        id=track_id("Velvet Harbour", "Tidal Lanterns"),
        title="Tidal Lanterns",
        artist="Velvet Harbour",
        bpm=124.0,
        key="8A",
        energy=0.7,
        genre="House",
        duration_s=272.0,
        recovery=True,
        source=str(path),
    )
    assert (
        got["Black Relay"].bpm == 132.5
        and got["Black Relay"].duration_s == 395
        and not got["Black Relay"].recovery
    )
    hyper = got["Hyperlane"]
    assert hyper.key == "8A" and hyper.duration_s == 185.5 and hyper.recovery
    assert hyper.energy == estimate_energy(174, "Drum & Bass")  # empty energy: the estimate
    ink = got["Inkwell"]
    assert (
        ink.bpm == 92.5
        and ink.key == "11A"
        and ink.energy == 0.0
        and ink.duration_s == 3723
        and not ink.recovery
    )
    boats = got["Paper Boats, on the Canal"]
    assert boats.key == "3B" and boats.energy == 1.0 and not boats.recovery  # "1" on a 0-1 column
    assert got["Sugar Rush"].key == "2B" and got["Sugar Rush"].recovery


BAD_CSV = """\
title,artist,bpm,key,energy,genre,duration,recovery
Good One,Velvet Harbour,124,8A,0.5,house,4:00,no
Fast Typo,Velvet Harbour,fast,8A,0.5,house,4:00,no
Zero Tempo,Velvet Harbour,0,8A,0.5,house,4:00,no
Wrong Key,Velvet Harbour,124,H#,0.5,house,4:00,no
Loud,Velvet Harbour,124,8A,loud,house,4:00,no
Too Much,Velvet Harbour,124,8A,12,house,4:00,no
Negative,Velvet Harbour,124,8A,-0.2,house,4:00,no
Forever,Velvet Harbour,124,8A,0.5,house,long,no
Nothing,Velvet Harbour,124,8A,0.5,house,0,no
Bad Clock,Velvet Harbour,124,8A,0.5,house,3:75,no
Perhaps,Velvet Harbour,124,8A,0.5,house,4:00,maybe
,Velvet Harbour,124,8A,0.5,house,4:00,no
No Artist,,124,8A,0.5,house,4:00,no
Two Problems,Velvet Harbour,slow,Q,0.5,house,4:00,no
No Key,Velvet Harbour,124,,0.5,house,4:00,no
Good Two,Mira Solenne,122,5A,0.4,house,300,yes
good one,VELVET HARBOUR,125,9A,0.5,house,4:00,no
"""


def test_csv_bad_rows_are_named_and_good_rows_kept(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "bad.csv", BAD_CSV))
    assert [t.title for t in result.tracks] == ["Good One", "Good Two"]
    assert result.errors == [
        "bad.csv row 3: bpm 'fast' is not a number",
        "bad.csv row 4: bpm '0' is outside 30-300",
        "bad.csv row 5: key 'H#' is not a key notation (use e.g. 8A, Am, A minor, 1m)",
        "bad.csv row 6: energy 'loud' is not a number",
        "bad.csv row 7: energy '12' is outside 0-1 and 1-10",
        "bad.csv row 8: energy '-0.2' is outside 0-1 and 1-10",
        "bad.csv row 9: duration 'long' is not seconds or m:ss",
        "bad.csv row 10: duration '0' is not more than 0",
        "bad.csv row 11: duration '3:75' is not seconds or m:ss",
        "bad.csv row 12: recovery 'maybe' is not true/false/yes/no/1/0",
        "bad.csv row 13: no title",
        "bad.csv row 14: no artist",
        "bad.csv row 15: bpm 'slow' is not a number; "
        "key 'Q' is not a key notation (use e.g. 8A, Am, A minor, 1m)",
        "bad.csv row 16: no key",
        "bad.csv row 18: the same track as bad.csv row 2 (kept the first)",
    ]


def test_csv_energy_on_the_1_to_10_scale(tmp_path: Path) -> None:
    text = (
        "title,artist,bpm,key,energy,duration\n"
        "A,X,124,8A,7,240\nB,X,124,8A,10,240\nC,X,124,8A,1,240\nD,X,124,8A,0.5,240\nE,X,124,8A,6.5,240\n"
    )
    result = load(_write(tmp_path / "mik.csv", text))
    assert {t.title: t.energy for t in result.tracks} == {"A": 0.7, "B": 1.0, "C": 0.1, "E": 0.65}
    assert result.errors == [
        "mik.csv row 5: energy '0.5' is outside 1-10 (this file's energy column is 1-10)"
    ]
    low = load(
        _write(
            tmp_path / "low.csv",
            "title,artist,bpm,key,energy,duration\nA,X,90,8A,2,240\nB,X,90,8A,1,240\n",
        )
    )
    assert [t.energy for t in low.tracks] == [0.2, 0.1] and low.errors == []


def test_csv_without_optional_columns(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "min.csv", "title,artist,bpm,key,duration\nA,X,174,8A,240\n"))
    assert result.errors == []
    (t,) = result.tracks
    assert t.energy == estimate_energy(174, "") and t.genre == "" and not t.recovery


def test_csv_from_excel_semicolons_bom_and_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufefftitle;artist;bpm;key;energy;genre;duration;recovery\r\n"
        "Caf\u00e9 Lumi\u00e8re;Sugarglass;120,5;Am;0,6;pop;3:30;ja?\r\n"
        "Caf\u00e9 Noir;Sugarglass;118;C;0,4;pop;3:10;yes\r\n".encode("utf-8")
    )
    result = load(path)
    assert result.errors == ["excel.csv row 2: recovery 'ja?' is not true/false/yes/no/1/0"]
    (t,) = result.tracks
    assert (t.title, t.bpm, t.energy, t.key) == ("Caf\u00e9 Noir", 118.0, 0.4, "8B")
    path.write_bytes("title,artist,bpm,key,duration\nCaf\u00e9,X,120,8A,200\n".encode("cp1252"))
    assert [t.title for t in load(path).tracks] == ["Caf\u00e9"]


def test_csv_missing_columns_is_one_error(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "cols.csv", "title,artist,tempo\nA,B,120\n"))
    assert result.tracks == []
    assert result.errors == [
        "cols.csv: missing column(s) key, duration (the header row has: title, artist, tempo)"
    ]
    empty = load(_write(tmp_path / "empty.csv", ""))
    assert (
        empty.tracks == []
        and len(empty.errors) == 1
        and empty.errors[0].startswith("empty.csv: empty file")
    )


# --- audio files --------------------------------------------------------------------


def _tone(
    path: Path, seconds: float = 0.5, fmt: str | None = None, subtype: str | None = None
) -> Path:
    sr = 44100
    t = np.arange(int(sr * seconds)) / sr
    sf.write(
        str(path),
        (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        sr,
        format=fmt,
        subtype=subtype,
    )
    return path


def _flac(path: Path, **tags: str) -> Path:
    _tone(path)
    audio = FLAC(path)
    for name, value in tags.items():
        audio[name] = value
    audio.save()
    return path


def _id3_frames(audio: MP3 | WAVE | AIFF, frames: list[object]) -> None:
    audio.add_tags()
    assert isinstance(audio.tags, ID3)
    for frame in frames:
        audio.tags.add(frame)
    audio.save()


def _m4a(path: Path, seconds: int, tags: dict[str, list[object]]) -> Path:
    """A minimal MPEG-4 container (ftyp + moov/mvhd, no samples) that mutagen reads and tags."""

    def atom(name: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + name + payload

    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = atom(
        b"mvhd",
        bytes(4)
        + struct.pack(">IIII", 0, 0, 1000, seconds * 1000)
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )
    path.write_bytes(atom(b"ftyp", b"M4A " + bytes(4) + b"M4A mp42isom") + atom(b"moov", mvhd))
    audio = MP4(path)
    audio.add_tags()
    assert audio.tags is not None
    for name, value in tags.items():
        audio.tags[name] = value
    audio.save()
    return path


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """A folder of real audio files with real tags, of every supported kind."""
    root = tmp_path / "music"
    (root / "sub").mkdir(parents=True)
    # FLAC, Vorbis comments, Mixed In Key's comment with the energy
    _flac(
        root / "a.flac",
        TITLE="Tidal Lanterns",
        ARTIST="Velvet Harbour",
        BPM="124.00",
        INITIALKEY="Am",
        GENRE="House",
        COMMENT="8A - Energy 7",
    )
    # Ogg Vorbis, Open Key, custom ENERGY and RECOVERY tags
    _tone(root / "sub" / "b.ogg", fmt="OGG", subtype="VORBIS")
    ogg = OggVorbis(root / "sub" / "b.ogg")
    ogg["title"], ogg["artist"], ogg["bpm"], ogg["key"] = "Hyperlane", "Flux Pilot", "174", "1d"
    ogg["genre"], ogg["energy"], ogg["recovery"] = "Drum & Bass", "0.9", "yes"
    ogg.save()
    # MP3 with ID3v2: TBPM, TKEY, a 5-star POPM, no energy (-> estimate)
    mp3 = MP3(_tone(root / "c.mp3", fmt="MP3", subtype="MPEG_LAYER_III"))
    _id3_frames(
        mp3,
        [
            TIT2(encoding=3, text="Black Relay"),
            TPE1(encoding=3, text="Null Meridian"),
            TBPM(encoding=3, text="132"),
            TKEY(encoding=3, text="C#m"),
            TCON(encoding=3, text="Techno"),
            POPM(email="dj@example.org", rating=255),
        ],
    )
    # WAV with an ID3 chunk: Mixed In Key's EnergyLevel TXXX, "recovery" in a comment
    wav = WAVE(_tone(root / "d.wav", seconds=1.0))
    _id3_frames(
        wav,
        [
            TIT2(encoding=3, text="Allotment Anthem"),
            TPE1(encoding=3, text="MC Parsnip"),
            TBPM(encoding=3, text="96"),
            TKEY(encoding=3, text="Gb"),
            TXXX(encoding=3, desc="EnergyLevel", text="6"),
            COMM(encoding=3, lang="eng", desc="", text="crowd recovery track"),
        ],
    )
    # AIFF with ID3, a 4-star rating (not a favourite), no title tags (-> file name)
    aiff = AIFF(_tone(root / "Sugarglass - Glitter Weather.aiff", fmt="AIFF", subtype="PCM_16"))
    _id3_frames(
        aiff,
        [
            TBPM(encoding=3, text="128"),
            TKEY(encoding=3, text="8B"),
            TCON(encoding=3, text="Pop"),
            POPM(email="x", rating=196),
        ],
    )
    # M4A: tmpo and Mixed In Key's free-form initialkey
    _m4a(
        root / "e.m4a",
        215,
        {
            "\xa9nam": ["Confetti Heart"],
            "\xa9ART": ["Nova Jubilee"],
            "tmpo": [119],
            "\xa9gen": ["Pop"],
            "\xa9cmt": ["Energy 8"],
            "----:com.apple.iTunes:initialkey": [MP4FreeForm(b"Dbm")],
        },
    )
    # files that must become error lines
    _tone(root / "untagged.wav")
    _flac(root / "sub" / "nokey.flac", TITLE="No Key", ARTIST="Velvet Harbour", BPM="124")
    _flac(
        root / "sub" / "badbpm.flac",
        TITLE="Bad",
        ARTIST="Velvet Harbour",
        BPM="fast",
        INITIALKEY="Xq",
    )
    (root / "broken.mp3").write_bytes(b"this is not an mp3 at all" * 20)
    # not audio, or hidden: ignored
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (root / "notes.txt").write_text("hello")
    (root / ".hidden.flac").write_bytes(b"junk")
    return root


def test_folder_of_tagged_audio(music: Path) -> None:
    result = load(music)
    got = _by_title(result)
    assert sorted(got) == [
        "Allotment Anthem",
        "Black Relay",
        "Confetti Heart",
        "Glitter Weather",
        "Hyperlane",
        "Tidal Lanterns",
    ]

    flac = got["Tidal Lanterns"]
    assert (flac.artist, flac.bpm, flac.key, flac.genre, flac.energy, flac.recovery) == (
        "Velvet Harbour",
        124.0,
        "8A",
        "House",
        0.7,
        False,
    )
    assert flac.duration_s == pytest.approx(0.5) and flac.source == str(music / "a.flac")
    assert flac.id == track_id("Velvet Harbour", "Tidal Lanterns")

    ogg = got["Hyperlane"]
    assert (ogg.bpm, ogg.key, ogg.energy, ogg.recovery, ogg.genre) == (
        174.0,
        "8B",
        0.9,
        True,
        "Drum & Bass",
    )

    mp3 = got["Black Relay"]
    assert (mp3.artist, mp3.bpm, mp3.key, mp3.genre, mp3.recovery) == (
        "Null Meridian",
        132.0,
        "12A",
        "Techno",
        True,
    )
    assert mp3.energy == estimate_energy(132, "Techno") and mp3.duration_s > 0.4

    wav = got["Allotment Anthem"]
    assert (wav.key, wav.energy, wav.recovery) == ("2B", 0.6, True)
    assert wav.duration_s == pytest.approx(1.0)

    aiff = got["Glitter Weather"]
    assert (aiff.artist, aiff.key, aiff.recovery, aiff.genre) == ("Sugarglass", "8B", False, "Pop")

    m4a = got["Confetti Heart"]
    assert (m4a.artist, m4a.bpm, m4a.key, m4a.energy, m4a.duration_s) == (
        "Nova Jubilee",
        119.0,
        "12A",
        0.8,
        215.0,
    )

    errors = sorted(result.errors)
    assert len(errors) == 4, errors
    assert errors[0].startswith("music/broken.mp3: ")
    assert errors[1] == (
        "music/sub/badbpm.flac: bpm 'fast' is not a number; "
        "key 'Xq' is not a key notation (use e.g. 8A, Am, A minor, 1m)"
    )
    hint = " (analyse the track in your DJ software and let it write the tags)"
    assert errors[2] == "music/sub/nokey.flac: no key tag" + hint
    assert errors[3] == "music/untagged.wav: no BPM tag; no key tag" + hint


def test_key_from_a_mixed_in_key_comment_when_there_is_no_key_tag(tmp_path: Path) -> None:
    _flac(
        tmp_path / "x.flac",
        TITLE="Ferrous",
        ARTIST="Null Meridian",
        BPM="134",
        COMMENT="5A - Energy 9",
    )
    (t,) = load(tmp_path).tracks
    assert (t.key, t.energy) == ("5A", 0.9)


def test_empty_folder_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = load(tmp_path / "empty")
    assert result.tracks == [] and len(result.errors) == 1 and "no audio files" in result.errors[0]


def test_m3u_relative_absolute_and_missing(music: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    text = (
        "#EXTM3U\n"
        "#EXTINF:272,Velvet Harbour - Tidal Lanterns\n"
        "../music/a.flac\n"
        f"{music / 'c.mp3'}\n"
        "\n"
        "../music/missing.mp3\n"
        f"{(music / 'sub' / 'b.ogg').as_uri()}\n"
        "http://radio.example.org/stream.mp3\n"
        "../music/notes.txt\n"
        "../music/untagged.wav\n"
        "..\\music\\d.wav\n"
        "../music/a.flac\n"
    )
    result = load(_write(lists / "friday.m3u", text))
    assert [t.title for t in result.tracks] == [
        "Tidal Lanterns",
        "Black Relay",
        "Hyperlane",
        "Allotment Anthem",
    ]
    assert result.tracks[0].source == str(music / "a.flac")
    assert len(result.errors) == 5
    missing, stream, txt, untagged, repeat = result.errors
    assert missing == "friday.m3u line 6 (../music/missing.mp3): file not found"
    assert stream == "friday.m3u line 8 (http://radio.example.org/stream.mp3): not a local file"
    assert txt.startswith("friday.m3u line 9 (../music/notes.txt): not a supported audio file")
    assert untagged.startswith("friday.m3u line 10 (../music/untagged.wav): no BPM tag")
    assert repeat.startswith(
        "friday.m3u line 12 (../music/a.flac): the same track as friday.m3u line 3"
    )


def test_m3u8_with_unicode_names(tmp_path: Path) -> None:
    _flac(
        tmp_path / "Caf\u00e9 \u00dcber.flac",
        TITLE="Caf\u00e9 \u00dcber",
        ARTIST="Sugarglass",
        BPM="120",
        INITIALKEY="E\u266dm",
    )
    result = load(_write(tmp_path / "set.m3u8", "\ufeff#EXTM3U\nCaf\u00e9 \u00dcber.flac\n"))
    assert result.errors == []
    assert [(t.title, t.key) for t in result.tracks] == [("Caf\u00e9 \u00dcber", "2A")]


def test_empty_playlist_is_one_error(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "nothing.m3u", "#EXTM3U\n# only comments\n"))
    assert result.tracks == [] and result.errors == ["nothing.m3u: the playlist lists no files"]


# --- Rekordbox -------------------------------------------------------------------------


REKORDBOX_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<DJ_PLAYLISTS Version="1.0.0">
  <PRODUCT Name="rekordbox" Version="6.8.5" Company="AlphaTheta"/>
  <COLLECTION Entries="6">
    <TRACK TrackID="101" Name="Tidal Lanterns" Artist="Velvet Harbour" Composer="" Album="Harbour"
           Genre="House" Kind="MP3 File" Size="9437184" TotalTime="272" DiscNumber="0" TrackNumber="1"
           Year="2023" AverageBpm="124.00" DateAdded="2024-05-01" BitRate="320" SampleRate="44100"
           Comments="8A - Energy 8" PlayCount="3" Rating="255" Colour="0xFF007F"
           Location="file://localhost/Users/dj/Music/Tidal%20Lanterns.mp3" Remixer="" Tonality="Am"
           Label="" Mix="">
      <TEMPO Inizio="0.025" Bpm="124.00" Metro="4/4" Battito="1"/>
      <POSITION_MARK Name="" Type="0" Start="0.025" Num="0" Red="40" Green="226" Blue="20"/>
    </TRACK>
    <TRACK TrackID="102" Name="Mystery Key" Artist="Null Meridian" Genre="Techno" TotalTime="300"
           AverageBpm="130.00" Tonality="Xm?" Rating="0" Comments=""
           Location="file://localhost/Users/dj/Music/mystery.mp3"/>
    <TRACK TrackID="103" Name="Allotment Anthem" Artist="MC Parsnip" Genre="Hip Hop" TotalTime="201"
           AverageBpm="96.50" Tonality="F#m" Rating="102" Comments="energy: 0.35 - recovery pick"
           Location="file://localhost/C:/Users/dj/Music/allotment%20anthem.flac"/>
    <TRACK TrackID="104" Name="Not Analysed" Artist="Kinetic Fern" Genre="Drum &amp; Bass" TotalTime="250"
           AverageBpm="0.00" Tonality="" Rating="0"/>
    <TRACK TrackID="105" Name="Ferrous" Artist="Null Meridian" Genre="Techno" TotalTime="150"
           AverageBpm="134.00" Tonality="4A" Rating="204" Colour="0x0000FF" Comments="peak time"
           Location="file://localhost/Users/dj/Music/ferrous.aiff"/>
    <TRACK TrackID="106" Name="Hold the Tide" Artist="Mira Solenne" Genre="House" TotalTime="0"
           AverageBpm="124.00" Tonality="Dbm" Rating="0"/>
  </COLLECTION>
  <PLAYLISTS>
    <NODE Type="0" Name="ROOT" Count="1">
      <NODE Name="Friday" Type="1" KeyType="0" Entries="2">
        <TRACK Key="101"/>
        <TRACK Key="105"/>
      </NODE>
    </NODE>
  </PLAYLISTS>
</DJ_PLAYLISTS>
"""  # noqa: E501 (a Rekordbox export kept as written)


def test_rekordbox_collection(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "rekordbox.xml", REKORDBOX_XML))
    got = _by_title(result)
    assert sorted(got) == ["Allotment Anthem", "Ferrous", "Tidal Lanterns"]
    assert got["Tidal Lanterns"] == Track(
        id="rb-101",
        title="Tidal Lanterns",
        artist="Velvet Harbour",
        bpm=124.0,
        key="8A",
        energy=0.8,
        genre="House",
        duration_s=272.0,
        recovery=True,
        source="/Users/dj/Music/Tidal Lanterns.mp3",
    )
    anthem = got["Allotment Anthem"]
    assert (anthem.id, anthem.bpm, anthem.key, anthem.energy, anthem.recovery) == (
        "rb-103",
        96.5,
        "11A",
        0.35,
        True,
    )
    assert anthem.source == "C:/Users/dj/Music/allotment anthem.flac"
    ferrous = got["Ferrous"]
    assert (ferrous.key, ferrous.recovery) == ("4A", False)
    assert ferrous.energy == estimate_energy(134, "Techno")
    assert result.errors == [
        "rekordbox.xml track 102 (Null Meridian - Mystery Key): key 'Xm?' is not a key notation "
        "(use e.g. 8A, Am, A minor, 1m)",
        "rekordbox.xml track 104 (Kinetic Fern - Not Analysed): "
        "no BPM (analyse the track in Rekordbox); no key (analyse the track in Rekordbox)",
        "rekordbox.xml track 106 (Mira Solenne - Hold the Tide): duration '0' is not more than 0",
    ]


def test_xml_that_is_not_a_rekordbox_export(tmp_path: Path) -> None:
    other = load(_write(tmp_path / "feed.xml", "<?xml version='1.0'?><rss><channel/></rss>"))
    assert other.tracks == [] and len(other.errors) == 1
    assert other.errors[0].startswith("feed.xml: not a Rekordbox collection export")
    broken = load(_write(tmp_path / "broken.xml", "<DJ_PLAYLISTS><COLLECTION>"))
    assert broken.tracks == [] and len(broken.errors) == 1
    assert broken.errors[0].startswith("broken.xml: not valid XML")


# --- anything else -----------------------------------------------------------------------


def test_a_file_that_is_not_a_library_is_one_error(tmp_path: Path) -> None:
    result = load(_write(tmp_path / "notes.txt", "title,artist\n"))
    assert result.tracks == []
    assert result.errors == [
        "notes.txt: not a track library (use a folder of audio files, an .m3u/.m3u8 "
        "playlist, a .csv or a Rekordbox .xml export)"
    ]
    single = load(
        _flac(tmp_path / "single.flac", TITLE="x", ARTIST="y", BPM="120", INITIALKEY="8A")
    )
    assert single.tracks == [] and len(single.errors) == 1
    assert single.errors[0].startswith("single.flac: not a track library")
    nowhere = load(tmp_path / "nowhere.csv")
    assert nowhere.tracks == [] and nowhere.errors == [
        f"{tmp_path / 'nowhere.csv'}: no such file or folder"
    ]


def test_the_audio_test_files_are_real(music: Path) -> None:
    """Guards the fixtures: mutagen itself must recognise each kind."""
    kinds = {
        p.suffix: type(mutagen.File(p)).__name__
        for p in music.rglob("*")
        if p.suffix in {".flac", ".ogg", ".wav", ".aiff", ".m4a"} and not p.name.startswith(".")
    }
    kinds[".mp3"] = type(mutagen.File(music / "c.mp3")).__name__
    assert kinds == {
        ".flac": "FLAC",
        ".ogg": "OggVorbis",
        ".mp3": "MP3",
        ".wav": "WAVE",
        ".aiff": "AIFF",
        ".m4a": "MP4",
    }


# --- the sample library --------------------------------------------------------------------


def test_sample_library_loads_clean_from_the_package() -> None:
    data = resources.files("crowdpulse.selector").joinpath("data/sample_library.csv")
    assert data.is_file()
    assert load(ROOT / "selector" / "data" / "sample_library.csv").errors == []
    tracks = sample_library()
    assert tracks == sample_library() and tracks is not sample_library()


def test_the_sample_library_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-dir"]["crowdpulse.selector"] == "selector"
    patterns = config["tool"]["setuptools"]["package-data"]["crowdpulse.selector"]
    assert any(Path("data/sample_library.csv").match(p) for p in patterns)


def test_sample_library_has_the_promised_shape() -> None:
    tracks = sample_library()
    assert 75 <= len(tracks) <= 90
    assert len({t.id for t in tracks}) == len(tracks)
    genres = {t.genre for t in tracks}
    assert 5 <= len(genres) <= 7
    assert {"house", "techno", "disco", "drum & bass", "hip hop", "pop"} <= genres
    assert all(90 <= t.bpm <= 175 for t in tracks)
    assert {t.key for t in tracks} == set(CAMELOT_KEYS)
    energies = sorted(t.energy for t in tracks)
    assert all(0.2 <= e <= 0.95 for e in energies)
    assert energies[0] <= 0.25 and energies[-1] >= 0.9
    assert len({round(e, 1) for e in energies}) >= 7  # spread, not clumped
    assert all(150 <= t.duration_s <= 450 for t in tracks)
    assert 8 <= sum(t.recovery for t in tracks) <= 12
    assert len({t.genre for t in tracks if t.recovery}) >= 4  # favourites in many genres
    by_artist: dict[str, int] = {}
    for t in tracks:
        by_artist[t.artist] = by_artist.get(t.artist, 0) + 1
    assert len(by_artist) >= 10 and all(n >= 3 for n in by_artist.values())
    for genre in genres:  # each genre sits at its own tempo
        bpms = [t.bpm for t in tracks if t.genre == genre]
        assert len(bpms) >= 8 and max(bpms) - min(bpms) <= 30
    assert all(t.title and t.artist and t.source == "sample_library.csv" for t in tracks)
