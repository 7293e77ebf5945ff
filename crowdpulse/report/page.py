"""The report as one self-contained HTML page: inline styles, inline SVG, no
script, no link, no font, no image from anywhere."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np

from crowdpulse import __version__
from crowdpulse.report import plots
from crowdpulse.report.data import Event, NightData

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b2838; margin: 0;
       background: #fbfcfc; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; }
.facts { color: #4d5656; margin: 0; }
figure { margin: 0; } figure svg { width: 100%; height: auto; }
figcaption { color: #4d5656; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e8e8; vertical-align: top; }
td.n, th.n { text-align: right; }
.low { color: #c0392b; } .key { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.privacy { background: #eef6f1; border-left: 4px solid #117a65; padding: 8px 16px; }
footer { color: #808b96; font-size: 12px; margin-top: 32px; }
"""  # noqa: E501 - CSS sent as written, one rule a line; wrapping would change the page


def _tz() -> dt.tzinfo | None:
    return dt.datetime.now().astimezone().tzinfo


def _hm(t: float) -> str:
    return dt.datetime.fromtimestamp(t, _tz()).strftime("%H:%M")


def _dur(seconds: float) -> str:
    m = int(round(seconds / 60))
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min" if m else f"{seconds:.0f} s"


def _times(n: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n} times")


def _e(text: object) -> str:
    return html.escape(str(text))


def render(night: NightData) -> str:
    scores = night.venue_series.score[~np.isnan(night.venue_series.score)]
    mean = f"{float(np.mean(scores)):.0f}" if len(scores) else "—"
    peak = f"{float(np.max(scores)):.0f}" if len(scores) else "—"
    date = dt.datetime.fromtimestamp(night.start, _tz()).strftime("%A %d %B %Y")
    fired = sum(e.action in ("queue recovery", "suggest recovery") for e in night.flow)
    parts = [
        f"<header><h1>{_e(night.venue)}: the night of {_e(date)}</h1>",
        f'<p class="facts">{_hm(night.start)}–{_hm(night.end)} ({_e(_tz())}), '
        f"{_dur(night.end - night.start)}; {len(night.tracks)} tracks, {len(night.zones)} zones; "
        f"venue score mean {mean}, peak {peak}; "
        f"Adaptive Flow fired {_times(fired)}; "
        f"{len(night.overrides)} action{'' if len(night.overrides) == 1 else 's'} "
        "by the artist.</p></header>",
        '<section id="venue"><h2>The venue over the night</h2>',
        f'<figure id="plot-venue" class="plot">{plots.venue_plot(night)}'
        "<figcaption>The venue score (0–100); each track is a shaded span with its title; "
        f"the dashed line is the recovery threshold ({night.threshold:.0f}). "
        "Triangles: Adaptive Flow; diamonds: the artist's overrides "
        "(listed below).</figcaption></figure></section>",
        '<section id="zones"><h2>Every zone</h2>',
        f'<figure id="plot-zones" class="plot">{plots.zone_plot(night)}'
        "<figcaption>Each zone's score; gaps are times when fewer bands than the "
        "anonymity threshold reported there.</figcaption></figure>"
        "</section>",
        '<section id="tracks"><h2>Tracks ranked by the crowd\'s response</h2>',
        f'<figure id="plot-tracks" class="plot">{plots.response_plot(night)}</figure>',
        _track_table(night),
        "</section>",
        '<section id="events"><h2>Adaptive Flow and the artist</h2>',
        _event_table(night),
        "</section>",
        _privacy(night),
        f"<footer>crowdpulse report {_e(__version__)}, made "
        f"{dt.datetime.now(_tz()).strftime('%Y-%m-%d %H:%M')}.</footer>",
    ]
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>crowdpulse · {_e(night.venue)} · {_e(date)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def _track_table(night: NightData) -> str:
    ranked = sorted(
        night.tracks, key=lambda p: -1.0 if p.response is None else p.response, reverse=True
    )
    rows = []
    for i, p in enumerate(ranked, 1):
        resp = "—" if p.response is None else f"{p.response:.1f}"
        change = "—" if p.response is None or p.before is None else f"{p.response - p.before:+.1f}"
        low = (
            ' class="n low"'
            if p.response is not None and p.response < night.threshold
            else ' class="n"'
        )
        rows.append(
            f'<tr><td class="n">{i}</td><td>{_e(p.title)}</td><td>{_e(p.artist)}</td>'
            f'<td>{_hm(p.start)}</td><td class="n">{(p.end - p.start) / 60:.1f}</td>'
            f'<td{low}>{resp}</td><td class="n">{change}</td></tr>'
        )
    return (
        '<table id="track-table"><thead><tr><th class="n">#</th><th>title</th><th>artist</th>'
        '<th>started</th><th class="n">minutes</th><th class="n">response</th>'
        '<th class="n">vs. before</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
        '<p class="facts">Response: the mean venue score while the track played, from 30 s in (the '
        "first half minute still belongs to the track before); — when too little was measured. "
        "vs. before: against the venue score when it started.</p>"
    )


def _event_table(night: NightData) -> str:
    events: list[tuple[Event, str]] = [(e, "Adaptive Flow") for e in night.flow]
    events += [(e, "the artist" if e.who == "artist" else e.who) for e in night.overrides]
    if not events:
        return "<p>No Adaptive Flow event and no override tonight.</p>"
    rows = "".join(
        f"<tr><td>{_hm(e.t)}</td><td>{_e(who)}</td>"
        f"<td>{_e(e.action)}</td><td>{_e(e.reason)}</td></tr>"
        for e, who in sorted(events, key=lambda p: p[0].t)
    )
    return (
        '<table id="event-table"><thead>'
        "<tr><th>time</th><th>who</th><th>what</th><th>why</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _privacy(night: NightData) -> str:
    kept = (
        f"kept for {night.retention_hours:g} hours, then deleted"
        if night.retention_hours is not None
        else "kept for the gateway's retention period, then deleted"
    )
    k = f"{night.k_anonymity}" if night.k_anonymity is not None else "the anonymity threshold"
    return (
        '<section id="privacy" class="privacy"><h2>Privacy: what was kept, and for how long</h2>'
        "<p>This report was made from the gateway's database alone. "
        "It held, per zone and for the venue, one row a second: "
        f"the score, its confidence and trend, and how many bands reported, {kept}; "
        "and the selector's history of tracks and its log of decisions and overrides. "
        "<strong>Nothing per band was kept</strong>: no band id, no report, no sound. "
        "Sound never left the wristbands. "
        f"A zone with fewer than {k} reporting bands had no score, "
        "so no figure here describes one or two people.</p></section>"
    )
