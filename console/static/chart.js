// The sentiment chart: venue and zones over the last minutes, the recovery
// threshold, and a marker where each track started. Plain <canvas>.

const KEEP_MS = 10 * 60_000 + 30_000;
export const VENUE = "_venue";
const ZONE_COLOURS = ["#4cc9f0", "#ff9f43", "#f472b6", "#a3e635", "#facc15", "#60a5fa", "#fb7185", "#2dd4bf"];
const C = {
  venue: "#f4f7fb", grid: "#222a36", axis: "#8b96a8", threshold: "#ff5f5f",
  below: "rgba(255, 95, 95, 0.06)", marker: "#c49bff", now: "#3ee08f",
};

export class SentimentChart {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.ctx = canvas.getContext("2d");
    this.series = new Map(); // key -> {label, colour, width, pts: [[t, v|null], ...]}
    this.windowMs = 10 * 60_000;
    this.threshold = null;
    this.markers = []; // [{t, label}]
    this.offsetMs = 0; // server clock - local clock
    this.dirty = true;
    this.addSeries(VENUE, "venue", C.venue, 2.6);
    new ResizeObserver(() => this.invalidate()).observe(canvas.parentElement);
    setInterval(() => this.invalidate(), 1000); // time moves on even without data
  }

  now() {
    return Date.now() + this.offsetMs;
  }

  addSeries(key, label, colour, width = 1.6) {
    if (this.series.has(key)) return this.series.get(key);
    const s = { label, colour, width, pts: [] };
    this.series.set(key, s);
    this.renderLegend();
    return s;
  }

  /** Ensure a line per zone; returns the zone's colour. */
  zone(name) {
    if (!this.series.has(name)) {
      const i = this.series.size - 1;
      this.addSeries(name, name, ZONE_COLOURS[i % ZONE_COLOURS.length]);
    }
    return this.series.get(name).colour;
  }

  renderLegend() {
    if (!this.legend) return;
    this.legend.replaceChildren(...[...this.series.values()].map((s) => {
      const span = document.createElement("span");
      const i = document.createElement("i");
      i.style.background = s.colour;
      span.append(i, s.label);
      return span;
    }));
  }

  /** History from /api/history: replaces what is older than the live points. */
  setHistory(key, points) {
    const s = this.series.get(key);
    if (!s) return;
    const clean = points.filter((p) => Array.isArray(p) && Number.isFinite(p[0]));
    const lastHist = clean.length ? clean[clean.length - 1][0] : -Infinity;
    const live = s.pts.filter((p) => p[0] > lastHist);
    s.pts = clean.concat(live);
    this.trim(s);
    this.invalidate();
  }

  /** One live snapshot from the WebSocket. */
  append(snap) {
    if (!Number.isFinite(snap.t)) return;
    this.offsetMs = snap.t - Date.now();
    this.push(VENUE, snap.t, snap.score);
    for (const z of snap.zones || []) {
      this.zone(z.zone);
      this.push(z.zone, snap.t, z.score);
    }
    this.invalidate();
  }

  push(key, t, v) {
    const s = this.series.get(key);
    const last = s.pts.length ? s.pts[s.pts.length - 1][0] : -Infinity;
    if (t <= last) return;
    s.pts.push([t, Number.isFinite(v) ? v : null]);
    if (s.pts.length % 200 === 0) this.trim(s);
  }

  trim(s) {
    const cut = this.now() - KEEP_MS;
    let i = 0;
    while (i < s.pts.length && s.pts[i][0] < cut) i += 1;
    if (i) s.pts.splice(0, i);
  }

  setThreshold(v) {
    if (v !== this.threshold) {
      this.threshold = Number.isFinite(v) ? v : null;
      this.invalidate();
    }
  }

  setMarkers(markers) {
    this.markers = markers;
    this.invalidate();
  }

  setWindow(minutes) {
    this.windowMs = minutes * 60_000;
    this.invalidate();
  }

  invalidate() {
    if (this.dirty && this.raf) return;
    this.dirty = true;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  draw() {
    this.dirty = false;
    const box = this.canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const W = Math.max(50, Math.floor(box.width));
    const H = Math.max(50, Math.floor(box.height));
    if (this.canvas.width !== W * dpr || this.canvas.height !== H * dpr) {
      this.canvas.width = W * dpr;
      this.canvas.height = H * dpr;
    }
    const g = this.ctx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const L = 30, R = 8, T = 18, B = 20;
    const pw = W - L - R, ph = H - T - B;
    const t1 = this.now(), t0 = t1 - this.windowMs;
    const x = (t) => L + ((t - t0) / this.windowMs) * pw;
    const y = (v) => T + (1 - v / 100) * ph;

    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    // below the threshold: a faint red floor
    if (this.threshold !== null) {
      g.fillStyle = C.below;
      g.fillRect(L, y(this.threshold), pw, T + ph - y(this.threshold));
    }
    // horizontal grid and labels
    g.lineWidth = 1;
    for (const v of [0, 25, 50, 75, 100]) {
      g.strokeStyle = C.grid;
      g.beginPath();
      g.moveTo(L, Math.round(y(v)) + 0.5);
      g.lineTo(L + pw, Math.round(y(v)) + 0.5);
      g.stroke();
      g.fillStyle = C.axis;
      g.textAlign = "right";
      g.fillText(String(v), L - 6, y(v));
    }
    // time ticks at round clock times
    const step = this.windowMs >= 600_000 ? 120_000 : this.windowMs >= 180_000 ? 30_000 : 15_000;
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const xx = Math.round(x(t)) + 0.5;
      g.strokeStyle = C.grid;
      g.beginPath();
      g.moveTo(xx, T);
      g.lineTo(xx, T + ph);
      g.stroke();
      g.fillStyle = C.axis;
      const d = new Date(t);
      const label = step >= 60_000
        ? `${pad(d.getHours())}:${pad(d.getMinutes())}`
        : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
      if (xx > L + 18 && xx < L + pw - 18) g.fillText(label, xx, T + ph + 5);
    }
    // track changes
    g.save();
    g.setLineDash([4, 4]);
    g.textAlign = "left";
    g.textBaseline = "middle";
    const visible = this.markers.filter((m) => m.t >= t0 && m.t <= t1).sort((a, b) => a.t - b.t);
    const xs = visible.map((m) => Math.round(x(m.t)) + 0.5);
    // labels go right of their line; the last one goes left when the right edge is too close
    const n = visible.length;
    const lastLeft = n > 0 && L + pw - xs[n - 1] < 90 && xs[n - 1] - (n > 1 ? xs[n - 2] : L) > 60;
    visible.forEach((m, i) => {
      g.strokeStyle = C.marker;
      g.beginPath();
      g.moveTo(xs[i], T - 2);
      g.lineTo(xs[i], T + ph);
      g.stroke();
      g.fillStyle = C.marker;
      if (i === n - 1 && lastLeft) {
        const room = xs[i] - (n > 1 ? xs[i - 1] : L) - 8;
        g.textAlign = "right";
        g.fillText(fit(g, m.label, n > 1 ? room / 2 : room), xs[i] - 4, T - 8);
        g.textAlign = "left";
        return;
      }
      let room = (i + 1 < n ? xs[i + 1] : L + pw) - xs[i] - 8;
      if (i === n - 2 && lastLeft) room /= 2;
      if (room > 24) g.fillText(fit(g, m.label, room), xs[i] + 4, T - 8);
    });
    g.restore();
    // the threshold
    if (this.threshold !== null) {
      const yy = Math.round(y(this.threshold)) + 0.5;
      g.save();
      g.strokeStyle = C.threshold;
      g.setLineDash([8, 5]);
      g.lineWidth = 1.5;
      g.beginPath();
      g.moveTo(L, yy);
      g.lineTo(L + pw, yy);
      g.stroke();
      g.restore();
      const label = `recovery ${this.threshold}`;
      g.textAlign = "left";
      g.textBaseline = "bottom";
      g.fillStyle = "rgba(17, 21, 28, 0.85)";
      g.fillRect(L + 2, yy - 16, g.measureText(label).width + 6, 14);
      g.fillStyle = C.threshold;
      g.fillText(label, L + 5, yy - 3);
    }
    // lines: zones first, the venue on top
    let drawn = 0;
    g.save();
    g.beginPath();
    g.rect(L, T - 1, pw, ph + 2);
    g.clip();
    const order = [...this.series.entries()].sort((a, b) => (a[0] === VENUE) - (b[0] === VENUE));
    for (const [key, s] of order) {
      g.strokeStyle = s.colour;
      g.lineWidth = s.width;
      g.lineJoin = "round";
      g.beginPath();
      let pen = false;
      let lastX = -1, lastV = null;
      for (const [t, v] of s.pts) {
        if (t < t0 - 2000) continue;
        if (v === null) {
          pen = false;
          continue;
        }
        drawn += 1;
        const xx = x(t), yy = y(v);
        if (pen) g.lineTo(xx, yy);
        else g.moveTo(xx, yy);
        pen = true;
        lastX = xx;
        lastV = v;
      }
      g.stroke();
      if (key === VENUE && lastV !== null && lastX >= L) {
        g.fillStyle = C.venue;
        g.beginPath();
        g.arc(lastX, y(lastV), 4, 0, Math.PI * 2);
        g.fill();
      }
    }
    g.restore();
    this.canvas.dataset.points = String(drawn);
  }
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function fit(g, text, width) {
  if (g.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && g.measureText(`${s}…`).width > width) s = s.slice(0, -1);
  return `${s}…`;
}
