"""Fast mode is calibrated against the twin, and twin mode is the firmware's DSP.

- The twin emitter's batched frame loop is bit-identical to the firmware's
  `Pipeline.process` on a rendered scene.
- `calibrate()` measures every constant of `sim.emit.Calibration` from the twin
  on synthesized scenes (sim/scene.py), band by band, after the DSP's 20 s
  warm-up, with the PA at five levels from a quiet lounge (72 dB) to a front
  row (102 dB); the shipped constants must match what it measures.
- For each crowd situation at each level (the bar's 80 dB among them) the fast
  `Emitter`'s field distributions match the twin's on the same situation, and the twin's event flag comes where the fast
  mode's reactions say a band reports at once.
- The gateway's sentiment from a fast-mode night matches a twin-mode night of
  the same crowd (the emitters draw from spawned generators, so the crowd, the
  tracks and the radio are identical).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import curve_fit

from crowdpulse.gateway.core import Engine
from crowdpulse.sim import emit, scenario, scene, twin
from crowdpulse.sim.crowd import Actions
from crowdpulse.sim.emit import Calibration, Emitter
from crowdpulse.sim.runner import SimRun
from crowdpulse.sim.sinks import EngineSink
from crowdpulse.sim.twinemit import TwinEmitter
from wristband import packet as P

REF_DB = 94.0  # the middle of a dance floor's 88-98 dB (sim/scenarios)
BAR_DB = 80.0  # a bar or the back of a room: crowd sounds stand out far more
LEVELS = (72.0, BAR_DB, 88.0, REF_DB, 102.0)  # a quiet lounge to the front of a loud floor
QUIET = LEVELS[0]  # crowd sounds dominate the music here: their own levels are measured at it
BPM = 124.0
BANDS = 40  # per situation
WARM_S = 21.0  # the voice background's warm-up is 2048 frames
STEP_S = 0.25
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Situation:
    kind: str
    music_db: float = REF_DB
    music_on: bool = True
    own_clap: bool = False
    clap_share: float = 0.0
    cheer_share: float = 0.0  # the zone cheers
    own_cheer: float = 0.0  # this share of the wearers cheer too
    sing: bool = False
    seconds: float = 6.0

    @property
    def name(self) -> str:
        return f"{self.kind} {self.music_db:g}"


def _at(db: float) -> list[Situation]:
    return [Situation("music", db), Situation("clapping along", db, own_clap=True),
            Situation("applause around", db, clap_share=0.5),
            Situation("cheering", db, cheer_share=0.6, own_cheer=0.6, seconds=3.0),
            Situation("singing", db, sing=True, seconds=8.0)]


SITUATIONS = [s for db in LEVELS for s in _at(db)] + [
    Situation("cheer around", QUIET, cheer_share=0.6, seconds=3.0), Situation("silence", music_on=False)]


def _acts(sits: list[Situation], on: bool) -> tuple[Actions, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = len(sits) * BANDS
    clap, cheer, sing = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for g, s in enumerate(sits):
        sl = slice(g * BANDS, (g + 1) * BANDS)
        clap[sl], sing[sl] = on and s.own_clap, on and s.sing
        cheer[sl] = on & (np.arange(BANDS) < round(s.own_cheer * BANDS))  # an exact share: calibrate() divides by it
    zc = np.array([s.clap_share * on for s in sits])
    zv = np.array([s.cheer_share * on for s in sits])
    return Actions(clap, cheer, sing, np.full(n, 0.2)), zc, zv


def run_situations(fast: bool, sits: list[Situation] = SITUATIONS, seed: int = 7,
                   cal: Calibration | None = None) -> dict[str, U8]:
    """Codes (intervals x bands, 11) per situation: after WARM_S of music at the
    situation's level (or of the quiet room), the situation for its length, one
    report per 250 ms."""
    rng = np.random.default_rng(seed)
    n = len(sits) * BANDS
    music = np.repeat([s.music_db for s in sits], BANDS) + rng.normal(0, 1.0, n)
    em = Emitter(np.arange(n), music, rng, cal=cal) if fast else TwinEmitter(np.arange(n), music, rng)
    zone = np.repeat(np.arange(len(sits)), BANDS).astype(np.int32)
    iv, no = np.full(n, STEP_S), np.zeros(n, bool)
    if not fast:  # a steady scene first: the room between tracks has been quiet a while too
        quiet, zc, zv = _acts(sits, False)
        on = np.repeat([s.music_on for s in sits], BANDS)
        for _ in range(int(WARM_S / STEP_S)):
            for music_on in (True, False):
                sel = np.flatnonzero(on == music_on)
                em.codes(sel, quiet, zc, zv, zone, iv[sel], BPM, music_on, no[sel])
    act, zc, zv = _acts(sits, True)
    em.reactions(_acts(sits, False)[0], zv * 0, zone)
    started = em.reactions(act, zv, zone)
    out: dict[str, U8] = {}
    for g, s in enumerate(sits):
        idx = np.arange(g * BANDS, (g + 1) * BANDS)
        rows = []
        for k in range(int(s.seconds / STEP_S)):
            ev = started[idx] if k == 0 else no[idx]
            rows.append(em.codes(idx, act, zc, zv, zone, iv[idx], BPM, s.music_on, ev))
        out[s.name] = np.array(rows)
    return out


def field(c: U8, name: str) -> npt.NDArray[np.float64]:
    col = {"laeq": 1, "lafmax": 2, "claps": 3, "voice": 5, "vexc": 6, "onsets": 7}[name]
    v = c[..., col].astype(np.float64)
    if name in ("laeq", "lafmax", "voice"):
        return np.asarray(P.LEVEL_OFFSET_DB + v * P.LEVEL_STEP_DB)
    return v * {"claps": 1.0 / STEP_S, "vexc": P.EXCESS_STEP_DB, "onsets": P.ONSET_STEP_HZ}[name]


def _logistic(x: npt.NDArray[np.float64], top: float, mid: float, width: float) -> npt.NDArray[np.float64]:
    return np.asarray(top / (1.0 + np.exp(-(x - mid) / width)))


def calibrate(tw: dict[str, U8]) -> Calibration:
    """Every constant of the fast model, measured on the twin: the crowd's sounds
    where they dominate (QUIET), how each field's response to them falls as the
    music rises (all LEVELS), the music's own statistics at REF_DB."""
    def mean(kind: str, f: str, db: float = REF_DB) -> float:
        return float(np.mean(field(tw[f"{kind} {db:g}"], f)))

    def energy(kind: str, f: str = "laeq", db: float = QUIET) -> float:  # mean power of the 250 ms levels
        return float(np.mean(emit.power(field(tw[f"{kind} {db:g}"], f))))

    def added(kind: str, f: str = "laeq", db: float = QUIET) -> float:  # the crowd sound's power
        return energy(kind, f, db) - energy("music", f, db)

    m = tw[f"music {REF_DB:g}"]
    rate = BPM / 60
    cheer_db = float(emit.db(added("cheer around") / 0.6))
    own_cheer_db = float(emit.db((energy("cheering") - energy("cheer around")) / 0.6))
    levels = np.array(LEVELS)
    # the cheering scene's crowd power at each level (as the fast model adds it)
    cheer_pw = 0.6 * emit.power(cheer_db) + 0.6 * emit.power(own_cheer_db)
    # the voice excess rises with how far the crowd's voice band stands over the music's
    voice = {k: float(emit.db(added(k, "voice") / added(k))) for k in ("applause around", "cheer around", "singing")}
    vx, vy = [], []
    for k, pw in (("cheering", cheer_pw), ("applause around", added("applause around")),
                  ("singing", added("singing"))):
        for db in levels:
            y = mean(k, "vexc", db)
            if y > 1.0:  # where the excess is off its floor of 0
                vx.append(float(emit.db(1 + pw * emit.power(voice[{"cheering": "cheer around"}.get(k, k)]
                                                                  - db))))
                vy.append(y)
    slope, icpt = np.polyfit(vx, vy, 1)
    # over these few seconds the band's background crept up by this share of the rise
    # (emit.VOICE_RISE_S); the fast model adds that creep itself
    creep = float(np.mean(1 - np.exp(-np.arange(1, 13) * STEP_S / emit.VOICE_RISE_S)))
    slope /= 1 - creep
    # claps counted against how far a clap's exposure stands over the music
    clap_sel = float(emit.db(added("clapping along") / rate))
    detect = np.array([(mean("clapping along", "claps", db) - mean("music", "claps", db)) / rate for db in levels])
    (top, mid, width), _ = curve_fit(_logistic, clap_sel - levels, detect, p0=(1.0, 8.0, 3.0))
    # the music's onsets heard, against how far a crowd sound covers them
    music_hz = mean("music", "onsets")
    crowd_hz = mean("cheer around", "onsets", QUIET)
    heard = (np.array([mean("cheering", "onsets", db) for db in levels]) - crowd_hz) / (music_hz - crowd_hz)
    (o_mid, o_width), _ = curve_fit(lambda x, mid, w: _logistic(x, 1.0, mid, w),
                                       levels - emit.db(cheer_pw), heard, p0=(3.0, 3.0))
    app_pw = added("applause around")  # half the zone, as in the situation
    app_hz = np.array([mean("applause around", "onsets", db) for db in levels])
    shifts = np.arange(-10.0, 15.0, 0.1)  # applause covers beats as if this much louder
    err = [np.sum((crowd_hz + (music_hz - crowd_hz) * _logistic(levels - emit.db(app_pw) - s, 1.0, o_mid, o_width)
                   - app_hz) ** 2) for s in shifts]
    resid = field(m, "laeq") - field(m, "laeq").mean(axis=0)  # about each band's own level
    return Calibration(
        # the gateway averages level codes: their mean, not the energy mean, is what it reads
        music_window_db=float(np.mean([mean("music", "laeq", db) - db for db in levels])),
        level_noise_db=float(np.std(resid)),
        fmax_over_eq_db=float(np.mean(field(m, "lafmax") - field(m, "laeq"))),
        steady_fmax_db=float(np.median(field(tw[f"cheer around {QUIET:g}"], "lafmax")
                                       - field(tw[f"cheer around {QUIET:g}"], "laeq"))),
        applause_db=float(emit.db(added("applause around") / 0.5)),
        cheer_db=cheer_db, own_cheer_db=own_cheer_db,
        sing_db=float(emit.db(added("singing"))),
        clap_sel_db=clap_sel,
        applause_voice_db=voice["applause around"], cheer_voice_db=voice["cheer around"],
        sing_voice_db=voice["singing"], clap_voice_db=float(emit.db(added("clapping along", "voice")
                                                                    / added("clapping along"))),
        voice_below_laeq_db=float(np.median(field(m, "laeq") - field(m, "voice") + field(m, "vexc"))),
        voice_slope=float(slope), voice_floor_db=float(-icpt),
        excess_noise_db=mean("music", "vexc") / np.sqrt(2 / np.pi),  # the fast model's |N(0, s)|
        clap_detect=float(top), clap_mask_db=float(mid), clap_mask_width_db=float(width),
        neighbour_detect=(mean("applause around", "claps") - mean("music", "claps")) / 0.5,
        music_onsets_hz=music_hz, onset_mask_db=float(-o_mid), onset_mask_width_db=float(o_width),
        applause_onset_db=float(shifts[int(np.argmin(err))]), crowd_onsets_hz=crowd_hz,
        clap_onsets_per_beat=float(np.mean([(mean("clapping along", "onsets", db) - mean("music", "onsets", db))
                                            for db in levels]) / rate),
    )


@pytest.fixture(scope="module")
def twin_codes() -> dict[str, U8]:
    return run_situations(fast=False)


@pytest.fixture(scope="module")
def fast_codes() -> dict[str, U8]:
    return run_situations(fast=True)


def test_batched_kernel_is_the_firmware_pipeline() -> None:
    rng = np.random.default_rng(3)
    em = TwinEmitter(np.arange(3), np.array([80.0, 94.0, 104.0]), rng)
    act = Actions(np.array([True, True, False]), np.array([False, True, True]), np.zeros(3, bool), np.zeros(3))
    idx = np.arange(3)
    frames = np.full(3, 25, np.int64)
    pipes = [twin.pipeline() for _ in idx]
    for k in range(12):  # 3 s, with claps, cheering and a clipping band
        audio = em.audio(idx, act, np.array([0.3, 0.3, 0.3]), np.array([0.2, 0.2, 0.2]), frames, BPM, True)
        got = em.codes(idx, act, np.full(1, 0.3), np.full(1, 0.2), np.zeros(3, np.int32), np.full(3, STEP_S),
                       BPM, True, np.zeros(3, bool))
        for j, p in enumerate(pipes):
            ev = False
            for f in range(25):
                p.process(audio[j, f * 160:(f + 1) * 160])
                ev |= p.event()
            want = bytes(p.finish(250, P.MOTION_ABSENT, P.BATTERY_UNKNOWN, P.FLAG_EVENT if ev else 0))
            assert bytes(got[j]) == want, (k, j)
    assert got[2, 10] & P.FLAG_CLIPPED  # the loud band clipped: the comparison covered it


def test_scene_levels_read_back_on_the_twin(twin_codes: dict[str, U8]) -> None:
    """The scene's dB SPL -> dBFS conversion agrees with the DSP's calibration: the
    energy mean of the 250 ms LAeqs is the music's LAeq (their median is lower,
    music is louder on its beats)."""
    def energy_db(c: U8) -> float:
        return float(10 * np.log10(np.mean(10 ** (field(c, "laeq") / 10))))

    for db in LEVELS:
        assert abs(energy_db(twin_codes[f"music {db:g}"]) - db) <= 0.75, db
    assert abs(np.median(field(twin_codes[f"silence {REF_DB:g}"], "laeq")) - scene.Levels().floor_db) <= 1.5


def test_shipped_constants_are_the_measured_ones(twin_codes: dict[str, U8]) -> None:
    measured, shipped = calibrate(twin_codes), Calibration()
    tol = {"clap_detect": 0.1, "neighbour_detect": 0.15, "music_onsets_hz": 0.5, "crowd_onsets_hz": 0.5,
           "clap_onsets_per_beat": 0.1, "voice_slope": 0.1, "level_noise_db": 0.3, "excess_noise_db": 0.3}
    for f in fields(Calibration):
        got, want = getattr(measured, f.name), getattr(shipped, f.name)
        assert abs(got - want) <= tol.get(f.name, 1.0), f"{f.name}: twin {got:.2f}, emit.py {want:.2f}"


@pytest.mark.parametrize("sit", SITUATIONS, ids=[s.name for s in SITUATIONS])
def test_fast_fields_match_the_twin(sit: Situation, twin_codes: dict[str, U8],
                                    fast_codes: dict[str, U8]) -> None:
    tw, fa = twin_codes[sit.name], fast_codes[sit.name]

    def gap(f: str, stat: str = "mean") -> float:
        if stat == "mean":
            return abs(float(np.mean(field(tw, f))) - float(np.mean(field(fa, f))))
        # levels: the mean (what the gateway averages) and the quartiles (the shape).  Not
        # the median: clapping along at 124 BPM puts a clap in half the 250 ms windows,
        # 20 dB apart in a quiet room, and a median of two equal modes is anywhere between
        q = np.array([25, 75])
        return max(abs(float(np.mean(field(tw, f))) - float(np.mean(field(fa, f)))),
                   float(np.max(np.abs(np.percentile(field(tw, f), q) - np.percentile(field(fa, f), q)))))

    assert gap("laeq", "level") <= 1.5
    assert gap("lafmax", "level") <= 2.0
    assert gap("vexc") <= 2.0
    assert gap("voice", "level") <= 2.0
    assert gap("claps") <= max(0.3, 0.25 * float(field(tw, "claps").mean()))


_ONSETS = [s for s in SITUATIONS if s.music_on]


@pytest.mark.parametrize("sit", _ONSETS, ids=[s.name for s in _ONSETS])
def test_fast_onsets_match_the_twin(sit: Situation, twin_codes: dict[str, U8], fast_codes: dict[str, U8]) -> None:
    tw, fa = twin_codes[sit.name], fast_codes[sit.name]
    assert abs(float(field(tw, "onsets").mean()) - float(field(fa, "onsets").mean())) <= 1.0


def test_events_come_when_reactions_say(twin_codes: dict[str, U8]) -> None:
    """The band's own trigger fires when its wearer starts clapping or cheering
    (where fast mode reports at once), and stays quiet over steady music."""
    for name in (f"{k} {db:g}" for k in ("clapping along", "cheering") for db in (BAR_DB, REF_DB)):
        first = twin_codes[name][:3, :, 10] & P.FLAG_EVENT  # the band's trigger within 750 ms
        assert (first.any(axis=0)).mean() >= 0.8, name
    for db in LEVELS:
        assert (twin_codes[f"music {db:g}"][:, :, 10] & P.FLAG_EVENT).mean() <= 0.02, db


def _night(mode: str, seconds: float, devices: int = 150) -> dict[str, npt.NDArray[np.float64]]:
    """Sentiment once a second from the gateway, for one mode: the venue's and each zone's."""
    sc = scenario.load("normal")
    run = SimRun(sc, devices, bytes(16), 1_700_000_000.0, seed=11, speed=6.0, mode=mode)
    em = run.emitter
    child = np.random.default_rng(99)
    if mode == "fast":  # emit from a generator of its own, as TwinEmitter does
        run.emitter = Emitter(em.person, em.music_db, child, em.imu)
    engine = Engine("calib", run.registry)
    sink = EngineSink(engine)
    out: dict[str, list[float]] = {}
    while run.t < seconds:
        rows = len(run.truth.t_s)
        run.step(sink)
        now_ms = int((run.t0 + run.t) * 1000)
        sink.flush(now_ms)
        if len(run.truth.t_s) > rows:
            snap = engine.tick(now_ms)
            for key, score in [("venue", snap["score"]), *[(z["zone"], z["score"]) for z in snap["zones"]]]:
                out.setdefault(key, []).append(np.nan if score is None else float(score))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def nights() -> dict[str, dict[str, npt.NDArray[np.float64]]]:
    return {mode: _night(mode, 75.0) for mode in ("fast", "twin")}


@pytest.mark.parametrize("zone", ["venue", "floor", "bar"])
def test_gateway_sentiment_agrees_between_modes(zone: str, nights: dict[str, dict[str, npt.NDArray[np.float64]]]
                                                ) -> None:
    """The same crowd, fast and twin: the venue, the floor (88-98 dB) and the bar
    (76-84 dB), where crowd sounds stand out of the music far more."""
    fast, tw = nights["fast"][zone], nights["twin"][zone]
    settled = slice(25, None)  # past the band's and the gateway's warm-up
    diff = np.abs(fast[settled] - tw[settled])
    assert np.isfinite(diff).all()
    assert float(np.mean(diff)) <= 3.0, diff
    assert float(np.max(diff)) <= 8.0, diff
