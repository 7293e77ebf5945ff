"""What the development set is made of: sources in Debian packages, and the nights.

Every recording was made by people outside this project and ships in Debian
main.  A source is one recording, converted to 16 kHz mono; a few are the sum
of several files (a Frets on Fire song is a backing track plus its guitar
stem).  Licences are read from each package's /usr/share/doc/PKG/copyright,
which `fetch` keeps beside the converted files.  docs/recordings.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

MUSIC, CROWD, RAIN, VOICE = "music", "crowd", "rain", "voice"
CACHE_ENV = "CROWDPULSE_RECORDINGS"  # where the set is cached (docs/recordings.md)
DEVICES = 30  # bands hearing each night, as issue 11 tried it


@dataclass(frozen=True)
class Source:
    name: str  # file stem in the cache: <name>.wav
    package: str
    paths: tuple[str, ...]  # inside the package; summed when several
    kind: str
    member: str = ""  # a file inside the c4group archive paths[0], when set


@dataclass(frozen=True)
class Package:
    name: str
    licence: str  # as the package's copyright file states it for the files used


PACKAGES = {
    p.name: p
    for p in (
        Package("etw-data", "GPL-2+ (Eat the Whistle, Gabriele Greco)"),
        Package("tuxfootball", "GPL-2+ (Tux Football, Jason Wood, Christoph Brill)"),
        Package("lincity-ng-data", "GPL-2+ (LinCity-NG; sound and music dual GPL / CC BY-SA 2.0)"),
        Package(
            "fretsonfire-songs-sectoid",
            "MIT/Expat-style permission (Carlos Viola Iborra, 'Sectoid')",
        ),
        Package("pocketsphinx-testdata", "BSD-2-Clause (Carnegie Mellon University)"),
        Package(
            "openclonk-data",
            "CC BY 3.0 (OpenClonk sound effects, default of Sound.ocg/authors.txt)",
        ),
    )
}
# The c4group tool (OpenClonk's own archiver) ships in this package.
C4GROUP_PACKAGE = "openclonk"

_ETW = "usr/share/games/etw"
_TUX = "usr/share/games/tuxfootball/sound"
_LINCITY = "usr/share/games/lincity-ng/music/default"
_SECTOID = "usr/share/games/fretsonfire/data/songs/sectoid"
_SPHINX = "usr/share/pocketsphinx/test/data"
_LIBRIVOX = "sense_and_sensibility_01_austen_64kb"


def _sectoid(name: str, title: str) -> Source:
    d = f"{_SECTOID}/{title}"
    return Source(name, "fretsonfire-songs-sectoid", (f"{d}/song.ogg", f"{d}/guitar.ogg"), MUSIC)


SOURCES: tuple[Source, ...] = (
    # music beds: electronic (LinCity-NG's soundtrack) and rock with drums (Sectoid)
    Source(
        "lincity-pronobozo", "lincity-ng-data", (f"{_LINCITY}/01 - pronobozo - lincity.ogg",), MUSIC
    ),
    Source(
        "lincity-city-blues",
        "lincity-ng-data",
        (f"{_LINCITY}/02 - Robert van Herk - City Blues.ogg",),
        MUSIC,
    ),
    Source(
        "lincity-contemplations",
        "lincity-ng-data",
        (f"{_LINCITY}/03 - Robert van Herk - Architectural Contemplations.ogg",),
        MUSIC,
    ),
    _sectoid("sectoid-chaosland", "Escape from chaosland"),
    _sectoid("sectoid-war-of-freedom", "War of freedom"),
    _sectoid("sectoid-metal-madness", "Metal madness"),
    # crowds: stadium chants, claps and roars (Eat the Whistle), cheers (Tux Football)
    *(
        Source(f"etw-crowd{i:02d}", "etw-data", (f"{_ETW}/crowd/crowd{i:02d}.wav",), CROWD)
        for i in range(1, 18)
    ),
    Source("etw-crowd", "etw-data", (f"{_ETW}/snd/crowd.wav",), CROWD),
    Source("tux-cheer", "tuxfootball", (f"{_TUX}/crowdcheer.wav",), CROWD),
    Source("tux-ooh", "tuxfootball", (f"{_TUX}/crowdooh.wav",), CROWD),
    Source("tux-boo", "tuxfootball", (f"{_TUX}/crowdboo.wav",), CROWD),
    # confusers: rain (inside OpenClonk's Sound.ocg) and read speech
    Source(
        "openclonk-rain",
        "openclonk-data",
        ("usr/share/games/openclonk/Sound.ocg",),
        RAIN,
        member="Liquids.ocg/StereoRain.ogg",
    ),
    *(
        Source(
            f"librivox-{n}",
            "pocketsphinx-testdata",
            (f"{_SPHINX}/librivox/{_LIBRIVOX}-{n}.wav",),
            VOICE,
        )
        for n in ("0870", "0880", "0890", "0920", "0930")
    ),
    *(
        Source(f"cards-{n}", "pocketsphinx-testdata", (f"{_SPHINX}/cards/{n}.wav",), VOICE)
        for n in ("001", "002", "003", "004", "005")
    ),
)

BY_NAME = {s.name: s for s in SOURCES}

# Pools a night's event draws from, in an order the night's seed shuffles.
# The boo is fetched but joins no night: a booing crowd is a reaction whose
# sentiment should fall, and the targets are for crowds that cheer.
POOLS: dict[str, tuple[str, ...]] = {
    "etw": tuple(f"etw-crowd{i:02d}" for i in range(1, 18)) + ("etw-crowd",),
    "tuxfootball": ("tux-cheer", "tux-ooh"),
    "rain": ("openclonk-rain",),
    "voice": tuple(s.name for s in SOURCES if s.kind == VOICE),
}

FULL, LIGHT = "full crowd", "light crowd"
CONFUSER_RAIN, CONFUSER_VOICE = "rain", "near voice"
# Event level against the music over the event's own segment, A-weighted dB.
# Confusers sit at the full crowd's level: only their character, not their
# loudness, may tell them from a crowd (docs/recordings.md says why).
LEVEL_DB = {FULL: 3.0, LIGHT: -6.0, CONFUSER_RAIN: 3.0, CONFUSER_VOICE: 3.0}


@dataclass(frozen=True)
class NightPlan:
    name: str
    bed: str  # a MUSIC source
    event: str  # a key of LEVEL_DB
    pool: str  # a key of POOLS


ELECTRONIC = ("lincity-pronobozo", "lincity-contemplations", "lincity-city-blues")
ROCK = ("sectoid-chaosland", "sectoid-war-of-freedom", "sectoid-metal-madness")

# Every bed carries a full and a light crowd (from the two crowd recordings in
# turn); rain and the near voice each visit one electronic and one rock bed.
NIGHTS: tuple[NightPlan, ...] = (
    NightPlan("e1-full-etw", ELECTRONIC[0], FULL, "etw"),
    NightPlan("e1-light-tux", ELECTRONIC[0], LIGHT, "tuxfootball"),
    NightPlan("e2-full-tux", ELECTRONIC[1], FULL, "tuxfootball"),
    NightPlan("e2-light-etw", ELECTRONIC[1], LIGHT, "etw"),
    NightPlan("r1-full-tux", ROCK[0], FULL, "tuxfootball"),
    NightPlan("r1-light-etw", ROCK[0], LIGHT, "etw"),
    NightPlan("r2-full-etw", ROCK[1], FULL, "etw"),
    NightPlan("r2-light-tux", ROCK[1], LIGHT, "tuxfootball"),
    NightPlan("e3-rain", ELECTRONIC[2], CONFUSER_RAIN, "rain"),
    NightPlan("r3-rain", ROCK[2], CONFUSER_RAIN, "rain"),
    NightPlan("e1-voice", ELECTRONIC[0], CONFUSER_VOICE, "voice"),
    NightPlan("r2-voice", ROCK[1], CONFUSER_VOICE, "voice"),
)
NIGHT_BY_NAME = {n.name: n for n in NIGHTS}


def packages_for(sources: list[Source]) -> list[str]:
    return sorted({s.package for s in sources})
