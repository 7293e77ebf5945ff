"""The report's plots, drawn by matplotlib (Agg) as inline SVG.

Text stays text in the SVG (svg.fonttype "none"): the browser draws it with
its own fonts, so nothing is embedded or fetched.  Each figure gets its own id
salt so that two SVGs in one page never share an element id.
"""

from __future__ import annotations

import datetime as dt
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from crowdpulse.report.data import NightData, Series  # noqa: E402

MAX_POINTS = 1500  # per line: a long night is averaged into bins
SPAN = ("#e8eef7", "#f4ecf6")  # alternating track spans
VENUE_C, FLOW_C, ARTIST_C, LINE_C = "#1b2838", "#c0392b", "#2471a3", "#c0392b"
ZONE_C = ("#117a65", "#b9770e", "#6c3483", "#1f618d", "#922b21", "#5d6d7e")


def _svg(fig: Figure, salt: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(
            buf,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # the XML prolog and doctype have no place inside HTML


def _when(t: np.ndarray) -> np.ndarray:
    tz = dt.datetime.now().astimezone().tzinfo
    return np.array([dt.datetime.fromtimestamp(x, tz) for x in t])


def _binned(s: Series) -> tuple[np.ndarray, np.ndarray]:
    if len(s.t) <= MAX_POINTS:
        return s.t, s.score
    edges = np.linspace(s.t[0], s.t[-1], MAX_POINTS + 1)
    idx = np.clip(np.searchsorted(edges, s.t, side="right") - 1, 0, MAX_POINTS - 1)
    ok = ~np.isnan(s.score)
    n = np.bincount(idx[ok], minlength=MAX_POINTS)
    total = np.bincount(idx[ok], weights=s.score[ok], minlength=MAX_POINTS)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return (edges[:-1] + edges[1:]) / 2, mean


def _spans(ax: Axes, night: NightData, labels: bool) -> None:
    for i, p in enumerate(night.tracks):
        a, b = _when(np.array([p.start, p.end]))
        ax.axvspan(a, b, color=SPAN[i % 2], zorder=0, lw=0)
        if labels and p.end - p.start >= (night.end - night.start) / 60:
            ax.text(
                a,
                0.98,
                f" {p.title}",
                transform=ax.get_xaxis_transform(),
                rotation=90,
                va="top",
                ha="left",
                fontsize=7,
                color="#34495e",
                clip_on=True,
            )


def _axes(ax: Axes, night: NightData) -> None:
    ax.set_ylim(0, 100)
    ax.set_xlim(*_when(np.array([night.start, night.end])))
    ax.axhline(night.threshold, color=LINE_C, ls="--", lw=0.8, zorder=1)
    ax.xaxis.set_major_formatter(
        mdates.DateFormatter("%H:%M", tz=dt.datetime.now().astimezone().tzinfo)
    )
    ax.grid(axis="y", color="#d5d8dc", lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def venue_plot(night: NightData) -> str:
    fig, ax = plt.subplots(figsize=(11, 4.2))
    _spans(ax, night, labels=True)
    t, s = _binned(night.venue_series)
    ax.plot(_when(t), s, color=VENUE_C, lw=1.4, label="venue score", zorder=3)
    _axes(ax, night)
    for events, y, marker, color, name in (
        (night.flow, 6, "^", FLOW_C, "Adaptive Flow"),
        (night.overrides, 2, "D", ARTIST_C, "the artist"),
    ):
        if events:
            ax.scatter(
                _when(np.array([e.t for e in events])),
                [y] * len(events),
                marker=marker,
                s=36,
                color=color,
                zorder=4,
                label=name,
                clip_on=False,
            )
    ax.set_ylabel("sentiment (0-100)")
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncol=3)
    return _svg(fig, "venue")


def zone_plot(night: NightData) -> str:
    n = max(1, len(night.zones))
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.7 * n + 0.6), sharex=True, squeeze=False)
    for i, (zone, series) in enumerate(night.zones.items()):
        ax = axes[i][0]
        _spans(ax, night, labels=False)
        t, s = _binned(series)
        ax.plot(_when(t), s, color=ZONE_C[i % len(ZONE_C)], lw=1.2)
        _axes(ax, night)
        ax.set_ylabel(zone, rotation=0, ha="right", va="center")
    return _svg(fig, "zones")


def response_plot(night: NightData) -> str:
    ranked = sorted(
        (p for p in night.tracks if p.response is not None), key=lambda p: p.response or 0.0
    )
    fig, ax = plt.subplots(figsize=(11, 0.32 * max(len(ranked), 3) + 0.8))
    ax.barh(
        [f"{p.artist} - {p.title}" for p in ranked],
        [p.response or 0.0 for p in ranked],
        color=[VENUE_C if (p.response or 0) >= night.threshold else FLOW_C for p in ranked],
    )
    ax.axvline(night.threshold, color=LINE_C, ls="--", lw=0.8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("the crowd's response: mean venue score while the track played (from 30 s in)")
    ax.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig, "tracks")
