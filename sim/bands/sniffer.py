"""A passive observer with a BLE sniffer: can it follow a band from one on-air id to the next?

It gets what a sniffer in the room records of every band: each advertising
event's time (µs), the advertiser's address and the report bytes.  It knows
the protocol (docs/protocol.md) and the epoch schedule, not the keys.  At
each epoch boundary it pairs the ids that end there with the ids that begin
there, once per strategy, each the simplest way to exploit one thing that
might run on from an id to the next:

  address     the same advertiser address on both
  seq         the new id's first seq just after the old id's last
  gap         the new id starts a typical pause after the old id stopped
  clock       the band's clock error: where it stops and starts against the boundary
  report      the report cadence runs on: first new report one interval after the last old one
  frame       the phase of report adverts within the 10 ms audio frame
  scan        the phase of the gaps that scanning leaves in the adverts
  features    the reported sound levels just before and just after

Each strategy scores every (old, new) pair and takes the best one-to-one
pairing (scipy's linear_sum_assignment); ties are broken at random.  Its
accuracy is the share of old ids paired with their true successor, which
only the gateway (holding the keys) knows: chance is 1/N for N bands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from wristband import packet

STRATEGIES = ("address", "seq", "gap", "clock", "report", "frame", "scan", "features")
FRAME_MS = 10.0
TAIL_MS = 30_000  # how much of an id's end (or start) the timing and level strategies read
LEVELS = ("laeq_db", "voice_db", "mid_db", "low_db", "top_db")  # packet.Report's
Levels = tuple[float, ...]


class Heard(Protocol):
    """One advertising event: time (ms, to the µs), advertiser address, report bytes."""

    t_ms: float
    address: bytes
    report: bytes


@dataclass
class Identity:
    """Everything heard under one on-air id."""

    onair: int
    times: list[float] = field(default_factory=list)
    addresses: set[bytes] = field(default_factory=set)
    reports: list[tuple[float, int, Levels]] = field(
        default_factory=list
    )  # first heard, seq, levels

    @property
    def first(self) -> float:
        return self.times[0]

    @property
    def last(self) -> float:
        return self.times[-1]


def identities(adverts: Sequence[Heard]) -> dict[int, Identity]:
    """Group a capture by on-air id; a report counts once, when first heard."""
    out: dict[int, Identity] = {}
    decoded: dict[bytes, packet.Report | None] = {}
    seen: dict[int, bytes] = {}
    for a in sorted(adverts, key=lambda a: a.t_ms):
        if a.report not in decoded:
            try:
                decoded[a.report] = packet.Report(a.report)  # what anyone can read: no key needed
            except packet.PacketError:
                decoded[a.report] = None
        r = decoded[a.report]
        if r is None:
            continue
        ident = out.setdefault(r.onair, Identity(r.onair))
        ident.times.append(a.t_ms)
        ident.addresses.add(a.address)
        if seen.get(r.onair) != a.report:
            seen[r.onair] = a.report
            ident.reports.append((a.t_ms, r.seq, tuple(float(getattr(r, f)) for f in LEVELS)))
    return out


@dataclass
class Boundary:
    edge_ms: int
    old: list[Identity]
    new: list[Identity]


def boundaries(ids: dict[int, Identity], edges_ms: Sequence[int], window_ms: int) -> list[Boundary]:
    """At each boundary: the ids that end near it after living before it, and
    the ids that begin near it and live on after it."""
    half = window_ms / 2
    out = []
    for e in edges_ms:
        old = [i for i in ids.values() if abs(i.last - e) < half and i.first < e - half]
        new = [i for i in ids.values() if abs(i.first - e) < half and i.last > e + half]
        out.append(Boundary(e, old, new))
    return out


# -- what each strategy reads from an id's end and an id's start --------------------
def _circ(a: npt.NDArray[np.float64], period: float) -> npt.NDArray[np.float64]:
    """Distance from 0 on a circle of this period."""
    r = np.mod(a, period)
    return np.minimum(r, period - r)


def _phase(times: Sequence[float], period: float) -> float:
    """Circular mean of times modulo period (nan if none)."""
    if not times:
        return math.nan
    ang = 2 * math.pi * np.asarray(times) / period
    return float(np.angle(np.mean(np.exp(1j * ang))) * period / (2 * math.pi)) % period


def _restarts(i: Identity, tail: bool) -> list[float]:
    """First-heard times of the id's reports near its end (tail) or start."""
    times = [t for t, _s, _b in i.reports]
    return [t for t in times if (t > i.last - TAIL_MS if tail else t < i.first + TAIL_MS)]


def _scan_gaps(i: Identity, tail: bool) -> list[float]:
    """Where the adverts stop for longer than the advertising rhythm explains."""
    t = np.asarray(i.times)
    t = t[t > i.last - 4 * TAIL_MS] if tail else t[t < i.first + 4 * TAIL_MS]
    if len(t) < 10:
        return []
    d = np.diff(t)
    typical = float(np.median(d))
    return [float(x) for x in t[1:][d > 2.5 * typical]]


def _levels(i: Identity, tail: bool) -> npt.NDArray[np.float64]:
    rows = [
        lv for t, _s, lv in i.reports if (t > i.last - 10_000 if tail else t < i.first + 10_000)
    ]
    if not rows:
        return np.full(len(LEVELS), np.nan)
    return np.asarray(np.mean(rows, axis=0), np.float64)


def _interval(ids: Sequence[Identity]) -> float:
    gaps = [b[0] - a[0] for i in ids for a, b in zip(i.reports, i.reports[1:], strict=False)]
    return float(np.median(gaps)) if gaps else 250.0


def _cost_address(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    return np.array([[0.0 if o.addresses & n.addresses else 1.0 for n in b.new] for o in b.old])


def _cost_seq(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    last = np.array([o.reports[-1][1] for o in b.old], np.int64)
    first = np.array([n.reports[0][1] for n in b.new], np.int64)
    return ((first[None, :] - last[:, None]) & 0xFFFF).astype(np.float64)


def _cost_gap(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    gap = np.array([[n.first - o.last for n in b.new] for o in b.old])
    typical = float(np.median(np.where(gap > 0, gap, np.inf).min(axis=1)))
    return np.where(gap > 0, np.abs(gap - typical), 1e12)


def _cost_clock(b: Boundary, all_b: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    """A band's clock error shows where its ids stop against each boundary: the
    old id's stop here against the new id's stop at the next boundary (and the
    starts, at this boundary and the one before)."""
    nxt = {e.edge_ms: k for k, e in enumerate(all_b)}
    k = nxt[b.edge_ms]
    epoch_ms = packet.EPOCH_S * 1000
    stop_old = np.array([o.last - b.edge_ms for o in b.old])
    stop_new = np.array(
        [n.last - (b.edge_ms + epoch_ms) if k + 1 < len(all_b) else math.nan for n in b.new]
    )
    start_old = np.array([o.first - (b.edge_ms - epoch_ms) if k > 0 else math.nan for o in b.old])
    start_new = np.array([n.first - b.edge_ms for n in b.new])
    cost = np.zeros((len(b.old), len(b.new)))
    used = False
    for x, y in ((stop_old, stop_new), (start_old, start_new)):
        d = np.abs(x[:, None] - y[None, :])
        if np.isfinite(d).any():
            cost += np.nan_to_num(d, nan=0.0)
            used = True
    return cost if used else np.zeros_like(cost)


def _cost_report(b: Boundary, all_b: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    period = _interval(b.old + b.new)
    last = np.array([o.reports[-1][0] for o in b.old])
    first = np.array([n.reports[0][0] for n in b.new])
    return _circ(first[None, :] - last[:, None], period)


def _cost_frame(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    po = np.array([_phase(_restarts(o, True), FRAME_MS) for o in b.old])
    pn = np.array([_phase(_restarts(n, False), FRAME_MS) for n in b.new])
    return np.nan_to_num(_circ(pn[None, :] - po[:, None], FRAME_MS), nan=FRAME_MS)


def _cost_scan(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    """Scans every 30 s from one phase would show as gaps 30 s apart across the switch."""
    so = [_scan_gaps(o, True) for o in b.old]
    sn = [_scan_gaps(n, False) for n in b.new]
    cost = np.full((len(so), len(sn)), 15_000.0)
    for x, gaps_o in enumerate(so):
        for y, gaps_n in enumerate(sn):
            if gaps_o and gaps_n:
                cost[x, y] = float(_circ(np.array([gaps_n[0] - gaps_o[-1]]), 30_000.0)[0])
    return cost


def _cost_features(b: Boundary, _all: Sequence[Boundary]) -> npt.NDArray[np.float64]:
    lo = np.array([_levels(o, True) for o in b.old])
    ln = np.array([_levels(n, False) for n in b.new])
    d = np.sqrt(np.nansum((lo[:, None, :] - ln[None, :, :]) ** 2, axis=2))
    return np.asarray(np.nan_to_num(d, nan=1e6), np.float64)


COSTS: dict[str, Callable[[Boundary, Sequence[Boundary]], npt.NDArray[np.float64]]] = {
    "address": _cost_address,
    "seq": _cost_seq,
    "gap": _cost_gap,
    "clock": _cost_clock,
    "report": _cost_report,
    "frame": _cost_frame,
    "scan": _cost_scan,
    "features": _cost_features,
}


@dataclass
class Result:
    strategy: str
    correct: int
    trials: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.trials if self.trials else 0.0


def link(cost: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The best one-to-one pairing old -> new (index into new, -1 if none); ties at random."""
    if cost.size == 0:
        return np.full(cost.shape[0], -1, np.int64)
    scale = float(np.abs(cost[np.isfinite(cost)]).max()) if np.isfinite(cost).any() else 1.0
    noisy = np.where(np.isfinite(cost), cost, 1e18) + rng.uniform(
        0, 1e-9 * (scale + 1.0), cost.shape
    )
    rows, cols = linear_sum_assignment(noisy)
    out = np.full(cost.shape[0], -1, np.int64)
    out[rows] = cols
    return out


def observe(
    adverts: Sequence[Heard],
    edges_ms: Sequence[int],
    window_ms: int,
    truth: dict[int, int],
    strategies: Sequence[str] = STRATEGIES,
    seed: int = 0,
) -> list[Result]:
    """Each strategy's linking accuracy over every boundary in the capture."""
    ids = identities(adverts)
    bounds = boundaries(ids, edges_ms, window_ms)
    rng = np.random.default_rng(seed)
    out = []
    for name in strategies:
        correct = trials = 0
        for b in bounds:
            if not b.old or not b.new:
                continue
            pick = link(COSTS[name](b, bounds), rng)
            for o, j in zip(b.old, pick, strict=True):
                trials += 1
                correct += int(j >= 0 and truth.get(b.new[j].onair, -1) == truth.get(o.onair, -2))
        out.append(Result(name, correct, trials))
    return out


def chance_bound(bands: int, boundaries: int, z: float = 3.5) -> float:
    """Accuracy a blind pairing stays under: 1/N plus z standard deviations.

    A random pairing of N ids gets on average one right, with variance one
    (fixed points of a random permutation), so over K boundaries the count of
    right pairs has mean K and standard deviation sqrt(K)."""
    k = boundaries
    return (k + z * math.sqrt(k)) / (bands * k)


def study(
    bands: int = 30, boundaries: int = 6, seed: int = 1, legacy: bool = False, window_s: int = 60
) -> dict[str, Any]:
    """A night of the firmware on the air (crowdpulse.sim.bands.radiotwin), observed."""
    from crowdpulse.sim.bands import radiotwin

    night = radiotwin.night(
        bands=bands, boundaries=boundaries, seed=seed, legacy=legacy, window_s=window_s
    )
    results = observe(night.adverts, night.boundaries_ms, night.window_ms, night.truth)
    quiet = night.quiet_ms
    return {
        "bands": bands,
        "boundaries": boundaries,
        "seed": seed,
        "legacy": legacy,
        "chance": round(1 / bands, 4),
        "bound": round(chance_bound(bands, boundaries), 4),
        "quiet_mean_ms": round(sum(quiet) / len(quiet)) if quiet else 0,
        "strategies": {
            r.strategy: {"linked": r.correct, "of": r.trials, "accuracy": round(r.accuracy, 4)}
            for r in results
        },
    }
