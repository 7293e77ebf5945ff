// Rendering: every panel has a fixed size; these only change text and rows.

const $ = (id) => document.getElementById(id);
const DASH = "—";

/** Set text only when it changed (10 Hz updates stay cheap). */
export function text(el, value, title) {
  const node = typeof el === "string" ? $(el) : el;
  const v = value === null || value === undefined ? DASH : String(value);
  if (node.textContent !== v) node.textContent = v;
  if (title !== undefined && node.title !== title) node.title = title;
}

function attr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

export const fmt = {
  score: (v) => (Number.isFinite(v) ? v.toFixed(1) : DASH),
  trend: (v) => (Number.isFinite(v) ? `${v > 0 ? "+" : ""}${v.toFixed(1)}/min` : DASH),
  pct: (v) => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : DASH),
  clock: (ms) => {
    const d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  },
  mmss: (s) => {
    if (!Number.isFinite(s) || s < 0) return "0:00";
    const m = Math.floor(s / 60);
    return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  },
};

export function trackMeta(t) {
  if (!t) return "";
  const parts = [`${Math.round(t.bpm)} BPM`, t.key, `energy ${Number(t.energy).toFixed(2)}`];
  if (t.genre) parts.push(t.genre);
  if (t.recovery) parts.push("crowd favourite");
  return parts.join(" · ");
}

// -- sentiment ----------------------------------------------------------------------

export function renderSentiment(snap, threshold, kAnon, colourOf) {
  const score = $("score");
  text(score, fmt.score(snap.score));
  let band = "none";
  if (Number.isFinite(snap.score)) {
    const th = Number.isFinite(threshold) ? threshold : 40;
    band = snap.score < th ? "low" : snap.score < th + 20 ? "mid" : "high";
  }
  attr(score, "data-band", band);

  const tr = snap.trend_per_min;
  const dir = !Number.isFinite(tr) ? "flat" : tr > 1 ? "up" : tr < -1 ? "down" : "flat";
  attr($("trend"), "data-dir", dir);
  text("trend-arrow", { up: "↑", down: "↓", flat: "→" }[dir]);
  text("trend-value", fmt.trend(tr));
  text("confidence", fmt.pct(snap.confidence));
  $("confidence-bar").style.width = `${Math.round((snap.confidence || 0) * 100)}%`;
  renderEvidence(snap.evidence);
  text("bands", Number.isFinite(snap.bands) ? snap.bands : DASH);
  text("mics", Number.isFinite(snap.bands) ? snap.bands : DASH);
  text("muted", Number.isFinite(snap.muted) ? snap.muted : DASH);
  if (snap.venue) text("venue", snap.venue);

  renderZones(snap.zones || [], kAnon, colourOf);
  renderRelays(snap.relays || []);
}

// what the score stands on (docs/sentiment.md): the music reference, or the
// bands' own evidence only, which the confidence already discounts
function renderEvidence(ev) {
  const el = $("evidence");
  if (!ev) return;
  const words = { live: "music reference", silent: "bands only: reference silent",
                  none: "bands only: no reference" };
  text(el, words[ev.reference] || ev.reference, ev.why);
  attr(el, "data-reference", ev.reference);
}

function renderZones(zones, kAnon, colourOf) {
  const body = $("zones");
  while (body.children.length < zones.length) {
    const tr = document.createElement("tr");
    tr.innerHTML = '<td><span class="swatch"></span><span class="zn"></span></td>'
      + '<td class="r num"></td><td class="r num held"></td><td class="r num delivery"></td>'
      + '<td class="r num score-cell"></td>';
    body.append(tr);
  }
  while (body.children.length > zones.length) body.lastElementChild.remove();
  zones.forEach((z, i) => {
    const cells = body.children[i].children;
    attr(body.children[i], "data-zone", z.zone);
    cells[0].querySelector(".swatch").style.background = colourOf(z.zone);
    text(cells[0].querySelector(".zn"), z.zone, z.zone);
    text(cells[1], z.bands);
    const held = Number.isFinite(z.held) ? z.held : null;
    text(cells[2], fmt.pct(held), held === null ? "" : `${fmt.pct(held)} of the reports made were held back on purpose `
      + "by the rate control (each advert carries only the latest report)");
    const ok = Number.isFinite(z.delivery) ? z.delivery : null;
    text(cells[3], fmt.pct(ok), ok === null ? "" : `${fmt.pct(ok)} of the reports put on the air reached the gateway`
      + ` (${fmt.pct(z.loss)} lost on the way)`);
    cells[3].classList.toggle("lossy", ok !== null && ok < 0.25);
    const hidden = !Number.isFinite(z.score);
    const trend = Number.isFinite(z.trend_per_min) ? `trend ${fmt.trend(z.trend_per_min)}` : "";
    const carried = Number.isFinite(z.carried)
      ? `; the venue score counts it at ${z.carried.toFixed(1)}, its last score moved as the other zones moved`
      : "";
    text(cells[4], hidden ? DASH : z.score.toFixed(1),
      hidden ? `no score: fewer than ${kAnon ?? "k"} bands reporting (k-anonymity)${carried}` : trend);
    cells[4].classList.toggle("hidden-score", hidden);
  });
}

let relaysKey = "";
function renderRelays(relays) {
  const key = JSON.stringify(relays);
  if (key === relaysKey) return;
  relaysKey = key;
  const box = $("relays");
  if (!relays.length) {
    box.innerHTML = '<span class="none" title="No relay has published its status or a batch">no relay</span>';
    return;
  }
  const on = relays.filter((r) => r.state === "online").length;
  const head = document.createElement("span");
  head.textContent = `relays ${on}/${relays.length}`;
  box.replaceChildren(head, ...relays.map((r) => {
    const s = document.createElement("span");
    s.className = "relay";
    s.dataset.state = r.state;
    const n = Number.isFinite(r.bands) ? r.bands : null;
    s.textContent = n === null ? r.relay : `${r.relay} · ${n}`;
    s.title = `${r.relay}: ${r.state}` + (n === null ? "" : `; hears ${n} bands (last 10 s)`);
    return s;
  }));
}

// -- the selector --------------------------------------------------------------------

function trackLi(t, { ix, exp, tag, buttons, vetoed }) {
  const li = document.createElement("li");
  li.dataset.trackId = t.id;
  li.dataset.artist = t.artist;
  if (vetoed) li.classList.add("is-vetoed");
  if (ix !== undefined) {
    const n = document.createElement("span");
    n.className = "ix";
    n.textContent = ix;
    li.append(n);
  }
  const what = document.createElement("div");
  what.className = "what";
  const title = document.createElement("div");
  title.className = "title";
  if (tag) {
    const tg = document.createElement("span");
    tg.className = "tag";
    tg.textContent = tag;
    title.append(tg);
  }
  title.append(`${t.title}`);
  const sub = document.createElement("div");
  sub.className = "sub";
  sub.textContent = `${t.artist} · ${Math.round(t.bpm)} BPM · ${t.key} · e ${Number(t.energy).toFixed(2)}`;
  what.append(title, sub);
  what.title = `${t.artist} - ${t.title}\n${trackMeta(t)}`;
  li.append(what);
  if (exp !== undefined) {
    const e = document.createElement("span");
    e.className = "exp";
    // the model's value can leave 0-100 (arc penalty, early uncertainty): show it on the scale
    e.textContent = Number.isFinite(exp) ? Math.max(0, Math.min(100, exp)).toFixed(0) : DASH;
    e.title = `expected crowd response (model value ${Number.isFinite(exp) ? exp.toFixed(1) : "none"})`;
    li.append(e);
  }
  for (const [act, label, cls, tip] of buttons) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.act = act;
    b.textContent = label;
    b.title = tip;
    if (cls) b.className = cls;
    li.append(b);
  }
  return li;
}

const B = {
  playing: ["playing", "▶", "", "Playing now: this track started"],
  pin: ["pin", "pin", "", "Pin: plays next, whatever the queue or the model says"],
  veto: ["veto", "veto", "warn", "Veto: never suggest or queue this track"],
  remove: ["remove", "✕", "", "Take it out of the queue"],
};

function empty(list, message) {
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = message;
  list.replaceChildren(li);
}

const last = {};
function changed(key, value) {
  const s = JSON.stringify(value);
  if (last[key] === s) return false;
  last[key] = s;
  return true;
}

export function renderSelector(st, { vetoedIds, titleOf }) {
  // mode, lock
  for (const m of ["auto", "assist", "manual"]) attr($(`mode-${m}`), "aria-pressed", String(st.mode === m));
  const lock = $("lock");
  attr(lock, "aria-pressed", String(!!st.locked));
  text(lock, st.locked ? "queue locked" : "queue unlocked");

  // flow
  const af = st.adaptive_flow || {};
  text("threshold", Number.isFinite(af.threshold) ? af.threshold : DASH);
  const fs = $("flow-state");
  attr(fs, "data-state", af.state || "normal");
  let tip = "normal · dipping (below the threshold) · recovering (a recovery pick is due or playing) · cooldown";
  if (af.state === "dipping" && af.below_since_ms) tip = `below ${af.threshold} since ${fmt.clock(af.below_since_ms)}; a recovery pick after ${af.dwell_s} s`;
  if (af.state === "cooldown" && af.cooldown_until_ms) tip = `the crowd came back; no new recovery pick until ${fmt.clock(af.cooldown_until_ms)}`;
  text(fs, af.state || DASH, tip);

  // next
  const nx = st.next;
  const next = $("next");
  attr(next, "data-track-id", nx ? nx.track.id : "");
  text("next-title", nx ? nx.track.title : "nothing to suggest", nx ? nx.track.title : "");
  text("next-artist", nx ? nx.track.artist : "", nx ? nx.track.artist : "");
  text("next-meta", nx ? trackMeta(nx.track) : "");
  text("next-reason", nx ? nx.reason : "", nx ? nx.reason : "");
  const kind = $("next-kind");
  attr(kind, "data-kind", nx ? nx.kind : "");
  text(kind, nx ? nx.kind : DASH);
  const hasSugg = (st.suggestions || []).length > 0;
  $("approve").disabled = !hasSugg;
  $("skip").disabled = !hasSugg;
  for (const id of ["next-playing", "next-veto", "next-veto-artist"]) $(id).disabled = !nx;
  $("unpin").disabled = !(nx && nx.kind === "pinned");

  // queue
  if (changed("queue", [st.queue, st.mode])) {
    const q = $("queue");
    text("queue-count", (st.queue || []).length);
    if (!st.queue || !st.queue.length) empty(q, st.mode === "assist" ? "empty: approve a suggestion" : "empty");
    else {
      q.replaceChildren(...st.queue.map((item, i) => {
        const li = trackLi(item.track, { ix: i + 1, buttons: [B.playing, B.veto, B.remove] });
        li.dataset.index = i;
        li.querySelector(".sub").textContent = `${item.track.artist} · ${item.by}: ${item.reason}`;
        return li;
      }));
    }
  }

  // suggestions
  if (changed("sugg", st.suggestions)) {
    const s = $("suggestions");
    if (!st.suggestions || !st.suggestions.length) empty(s, "no track fits the rules right now");
    else {
      s.replaceChildren(...st.suggestions.map((sg, i) => trackLi(sg.track, {
        ix: i + 1, exp: sg.expected, tag: sg.recovery ? "recovery" : "",
        buttons: [B.playing, B.pin, B.veto],
      })));
    }
  }

  // vetoes
  if (changed("veto", [st.vetoed_tracks, st.vetoed_artists])) {
    const box = $("vetoes");
    const chips = [];
    for (const a of st.vetoed_artists || []) chips.push(chip(`artist: ${a}`, "unveto_artist", { artist: a }));
    for (const id of st.vetoed_tracks || []) chips.push(chip(titleOf(id), "unveto", { track_id: id }));
    text("veto-count", chips.length);
    if (chips.length) box.replaceChildren(...chips);
    else box.innerHTML = '<span class="none">nothing vetoed</span>';
  }
  vetoedIds.clear();
  for (const id of st.vetoed_tracks || []) vetoedIds.add(id);

  // log
  if (changed("log", st.log)) {
    const log = $("log");
    const rows = (st.log || []).slice(-40).reverse().map((e) => {
      const li = document.createElement("li");
      li.innerHTML = '<span class="t"></span><span class="who"></span><span class="act"></span><span class="why"></span>';
      const [t, who, act, why] = li.children;
      t.textContent = fmt.clock(e.t);
      who.textContent = e.who;
      who.dataset.who = e.who;
      act.textContent = e.action;
      why.textContent = e.reason;
      li.title = `${fmt.clock(e.t)} ${e.who}: ${e.action}${e.reason ? ` (${e.reason})` : ""}`;
      return li;
    });
    if (rows.length) log.replaceChildren(...rows);
    else empty(log, "nothing yet");
  }

  // privacy, event
  const pv = st.privacy || {};
  text("retention", Number.isFinite(pv.retention_hours) ? `${pv.retention_hours} h` : DASH);
  text("kanon", Number.isFinite(pv.k_anonymity) ? `${pv.k_anonymity} bands` : DASH);
  renderEvent(st.event || {});
}

function chip(label, act, data) {
  const c = document.createElement("span");
  c.className = "chip";
  const s = document.createElement("span");
  s.textContent = label;
  s.title = label;
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = "✕";
  b.title = "lift the veto";
  b.dataset.act = act;
  for (const [k, v] of Object.entries(data)) b.dataset[k === "track_id" ? "trackId" : k] = v;
  c.append(s, b);
  return c;
}

export function renderEvent(ev, now = Date.now()) {
  const w = ev.window;
  const badge = $("event-state");
  let state = "none", label = "no window set";
  if (ev.over) {
    state = "over";
    label = "event over";
  } else if (Array.isArray(w) && w.length === 2) {
    if (now < w[0]) label = "before the event";
    else if (now <= w[1]) {
      state = "live";
      label = "listening";
    } else label = "after the event";
  }
  attr(badge, "data-state", state);
  text(badge, label);
  if (Array.isArray(w) && w.length === 2) {
    const a = new Date(w[0]), b = new Date(w[1]);
    text("event-window", `${fmt.clock(w[0]).slice(0, 5)}–${fmt.clock(w[1]).slice(0, 5)}`,
      `microphones may listen from ${a.toLocaleString()} to ${b.toLocaleString()}`);
  } else {
    text("event-window", "not set", "the venue file has no [event] window");
  }
  const over = $("event-over");
  over.disabled = !!ev.over;
  text(over, ev.over ? "event is over" : "event over…");
}

export function renderNow(np, serverNow) {
  const box = $("now");
  if (!np) {
    attr(box, "data-track-id", "");
    text("now-title", "nothing yet");
    text("now-artist", "mark a track as playing (▶) in the queue, suggestions or library");
    text("now-meta", "");
    text("now-source", "");
    $("now-progress").style.width = "0";
    text("now-time", "");
    return;
  }
  const t = np.track;
  attr(box, "data-track-id", t.id);
  text("now-title", t.title, t.title);
  text("now-artist", t.artist, t.artist);
  text("now-meta", trackMeta(t));
  text("now-source", `since ${fmt.clock(np.started_ms).slice(0, 5)} · ${np.source}`);
  const el = Math.max(0, (serverNow - np.started_ms) / 1000);
  const dur = t.duration_s || 0;
  $("now-progress").style.width = dur ? `${Math.min(100, (100 * el) / dur).toFixed(1)}%` : "0";
  text("now-time", `${fmt.mmss(el)} / ${fmt.mmss(dur)}`);
}

export function renderPlayer(p) {
  const box = $("player");
  if (!p) {
    attr(box, "data-state", "none");
    text(box, "no player: mark what plays with ▶ (or set [player] in the venue file)", "");
    return;
  }
  const name = { mpd: "MPD", deck: "simulated deck", mixxx: "Mixxx" }[p.backend] || p.backend;
  const where = p.address && p.backend === "mpd" ? ` ${p.address}` : "";
  const note = p.note ? ` · ${p.note}` : "";
  if (p.connected) {
    attr(box, "data-state", "ok");
    text(box, `${name}${where}${p.can_queue ? "" : " · now playing only"}${note}`,
      p.can_queue ? "The selector plays through this player and follows what it plays"
        : "The selector follows what this player plays; picks stay suggestions");
  } else {
    attr(box, "data-state", "down");
    const retry = Number.isFinite(p.retry_in_s) ? ` · retry in ${Math.ceil(p.retry_in_s)} s` : "";
    text(box, `${name}${where} unreachable${p.error ? ` (${p.error})` : ""}${retry}`,
      "Your changes are kept and reach the player when it is back");
  }
}

export function renderLibrary(res, vetoedIds) {
  if (!changed("library", [res, [...vetoedIds]])) return;
  const list = $("library");
  const tracks = res.tracks || [];
  text("lib-count", res.total > tracks.length ? `${tracks.length}/${res.total}` : `${res.total ?? 0}`);
  if (!tracks.length) {
    empty(list, "no track matches");
    return;
  }
  list.replaceChildren(...tracks.map((t) => trackLi(t, {
    buttons: [B.playing, B.pin, B.veto], vetoed: vetoedIds.has(t.id),
  })));
}
