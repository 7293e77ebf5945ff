"""The acoustic model of the floor: what a band on a wrist hears, and how loud.

One model for every simulator mode.  The twin's scene (sim/world/scene.py) mixes
its sounds at these levels and runs them through the DSP twin; the fast
emitter (sim/bands/emit.py) adds their powers with constants measured on that twin;
the faithful mode feeds the same scene to the real firmware.  Every number
here is taken from a published measurement, and docs/sim.md gives each one
with its source (tests/test_acoustics.py checks that the two agree).  Where
the literature gives a range, the model takes a central value and `RANGES`
holds the range, which the accuracy bench sweeps (bench/sweep.py).

Levels are A-weighted dB SPL at the band's microphone, on the wearer's
wrist: LAeq for steady sounds; for one clap, the level over the 30 ms after
its onset.  "The whole zone cheering" means every present person in the
band's zone cheering; a share of them gives that share of the power.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Fields that are crowd sounds: the sweep's crowd-to-PA offset moves them together.
CROWD_FIELDS = ("applause_db", "cheer_db", "own_voice_db", "sing_db", "clap_db")


@dataclass(frozen=True)
class Floor:
    """A dance floor as a band on a wrist hears it (central values; sources in docs/sim.md)."""

    # the PA: a dance floor's LAeq at the band (clubbers' personal exposure ~98 dB(A))
    pa_db: float = 98.0
    # the crowd around the band, LAeq at the wrist
    applause_db: float = 90.0  # the whole zone clapping
    cheer_db: float = 95.0  # the whole zone cheering and shouting
    own_voice_db: float = 89.0  # the wearer shouting, ~0.45 m from the mouth
    sing_db: float = 86.0  # the wearer and neighbours singing along (loud vocal effort)
    # the wearer's own claps, ~0.25 m from the wrist: level over the 30 ms after the onset
    clap_db: float = 102.0
    clap_spread_db: float = 4.0  # one clap to the next: clap_db +- this, uniformly
    clap_jitter_ms: float = 15.0  # sd of a clap's asynchrony to the beat
    # the room between tracks: the microphone's self-noise and the ventilation
    quiet_db: float = 35.0
    # the wrist on a body among bodies: a fixed offset per band on the PA's sound
    body_sd_db: float = 2.0
    pa_delay_max_ms: float = 60.0  # the PA's sound arrives up to ~20 m late
    # the music reference's line input: the mix's LAeq on the band's scale, with the
    # ADC's gain set so the bass-heavy mix never reaches full scale (120 on that scale)
    line_db: float = 88.0
    # the wearer's wrist (bands with an IMU)
    clap_jolt_g: float = 4.0  # a clap's jolt, as the 100 Hz accelerometer samples it ...
    clap_jolt_spread_g: float = 2.0  # ... +- this, uniformly
    # the sweep: every crowd sound moved by this against the PA (0 = the model)
    crowd_offset_db: float = 0.0

    @property
    def crowd_to_pa_db(self) -> float:
        """A whole zone cheering against the PA, dB (the quantity the sweep moves)."""
        return self.cheer_db - self.pa_db

    def shifted(self, crowd_db: float) -> Floor:
        """The same floor with every crowd sound crowd_db louder (negative: quieter)."""
        moved = {name: getattr(self, name) + crowd_db for name in CROWD_FIELDS}
        return replace(self, crowd_offset_db=self.crowd_offset_db + crowd_db, **moved)


# What the literature leaves open: (low, high) around the model's value.  The accuracy
# bench sweeps pa_db and crowd_offset_db over these; the others are documented ranges.
RANGES: dict[str, tuple[float, float]] = {
    "pa_db": (88.0, 104.0),
    "crowd_offset_db": (-6.0, 6.0),
    "applause_db": (88.5, 95.0),
    "cheer_db": (89.0, 101.0),
    "own_voice_db": (85.0, 95.0),
    "clap_db": (98.0, 106.0),
    "body_sd_db": (0.0, 3.4),
}

# Each field's sources, by the names docs/sim.md's table cites them under (its row
# gives the numbers and the full references).
SOURCES: dict[str, tuple[str, ...]] = {
    "pa_db": ("Williams", "Sørensen", "Twardella", "2017-1244", "DIN 15905-5"),
    "applause_db": ("Kok", "Guinness", "concert hall"),
    "cheer_db": ("Cranston", "football stadium", "Lee & Han", "Hayne"),
    "own_voice_db": ("ANSI S3.5-1997", "Webster", "Pearsons", "van Heusden"),
    "sing_db": ("ANSI S3.5-1997",),
    "clap_db": ("Guinness", "Repp 1987", "Peltola"),
    "clap_spread_db": ("de Vos",),
    "clap_jitter_ms": ("Repp 2005",),
    "quiet_db": ("INMP441",),
    "body_sd_db": ("Giardino", "Muldoon", "Roberts"),
    "pa_delay_max_ms": ("343 m/s",),
    "line_db": ("EBU R 68",),
    "clap_jolt_g": ("No measurement found",),
    "clap_jolt_spread_g": ("No measurement found",),
    "crowd_offset_db": ("the sweep",),
}
# fields documented in another field's row (value "central ± spread")
SPREAD_OF = {"clap_spread_db": "clap_db", "clap_jolt_spread_g": "clap_jolt_g"}


def levels() -> dict[str, float]:
    """The model's central values by field name (docs and tests read them here)."""
    floor = Floor()
    return {f.name: float(getattr(floor, f.name)) for f in fields(Floor)}
