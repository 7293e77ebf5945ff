// crowdpulse console: wires the live connection to the panels and the controls.
// Plain ES modules, no build step, nothing from the network but the gateway.

import { auth, getJSON, notify, Unauthorised } from "./api.js";
import { SentimentChart, VENUE } from "./chart.js";
import { renderArc, wireControls } from "./controls.js";
import { Health, renderHealth } from "./health.js";
import { Live } from "./live.js";
import * as P from "./panels.js";

const $ = (id) => document.getElementById(id);

const model = {
  snap: null, // the last sentiment snapshot
  sel: null, // the last selector state
  tracks: new Map(), // id -> track, for names of vetoed tracks
  vetoed: new Set(),
  library: null,
  arcDraft: null, // the arc being edited, or null
  zonesLoaded: new Set(), // series whose history is loaded since the last (re)connect
  wsSelectorSeq: 0, // selector states pushed over the WebSocket so far
};

const chart = new SentimentChart($("chart"), $("legend"));

const live = new Live({
  onOpen: () => {
    model.zonesLoaded.clear();
    loadHistory();
  },
  onSentiment,
  onSelector: (st) => {
    model.wsSelectorSeq += 1;
    onSelector(st);
  },
  onStatus: (state, label) => {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = label;
  },
  onUnauthorised: () => showGate(auth.token ? "the saved token was refused" : ""),
});

// -- data in --------------------------------------------------------------------------------

function onSentiment(snap) {
  model.snap = snap;
  chart.append(snap);
  const sel = model.sel || {};
  P.renderSentiment(snap, sel.adaptive_flow && sel.adaptive_flow.threshold,
    sel.privacy && sel.privacy.k_anonymity, (z) => chart.zone(z));
  const missing = (snap.zones || []).some((z) => !model.zonesLoaded.has(z.zone));
  if (missing && live.ws) loadHistory();
}

function onSelector(state) {
  const { type: _type, ...st } = state;
  model.sel = st;
  remember(st);
  P.renderSelector(st, { vetoedIds: model.vetoed, titleOf });
  P.renderNow(st.now_playing, chart.now());
  P.renderPlayer(st.player);
  chart.setThreshold(st.adaptive_flow ? st.adaptive_flow.threshold : null);
  chart.setMarkers(markers(st));
  renderArc(ctx);
  if (model.library) P.renderLibrary(model.library, model.vetoed);
}

function remember(st) {
  const add = (t) => t && t.id && model.tracks.set(t.id, t);
  if (st.now_playing) add(st.now_playing.track);
  if (st.next) add(st.next.track);
  for (const q of st.queue || []) add(q.track);
  for (const s of st.suggestions || []) add(s.track);
  for (const h of st.history || []) add(h.track);
}

function titleOf(id) {
  const t = model.tracks.get(id);
  return t ? `${t.artist} - ${t.title}` : id;
}

function markers(st) {
  const seen = new Map();
  for (const h of st.history || []) seen.set(h.started_ms, h.track ? h.track.title : "");
  if (st.now_playing) seen.set(st.now_playing.started_ms, st.now_playing.track.title);
  return [...seen].filter(([t]) => Number.isFinite(t)).map(([t, label]) => ({ t, label }));
}

/**
 * Read the selector state over HTTP. The WebSocket pushes a new state on most
 * changes, but Adaptive Flow moving between normal and dipping (and the event
 * ending) happen without one; a read that a pushed state overtook is dropped.
 */
let reads = 0, readApplied = 0;
async function refreshSelector() {
  const seq = model.wsSelectorSeq;
  const mine = ++reads;
  try {
    const st = await getJSON("/api/selector");
    if (seq === model.wsSelectorSeq && mine > readApplied) {
      readApplied = mine;
      onSelector(st);
    }
  } catch {
    // the live connection shows what is wrong
  }
}

let historyBusy = false;
async function loadHistory() {
  if (historyBusy) return;
  historyBusy = true;
  try {
    const zones = [VENUE, ...((model.snap && model.snap.zones) || []).map((z) => z.zone)];
    for (const z of zones) if (z !== VENUE) chart.zone(z);
    await Promise.all(zones.map(async (z) => {
      const h = await getJSON(`/api/history?minutes=10&zone=${encodeURIComponent(z)}`);
      chart.setHistory(z, h.points || []);
      model.zonesLoaded.add(z);
    }));
  } catch (e) {
    if (!(e instanceof Unauthorised)) console.warn("history:", e);
  } finally {
    historyBusy = false;
  }
}

// -- actions out ------------------------------------------------------------------------------

const SAID = {
  mode: (b) => `mode: ${b.mode}`,
  approve: () => "approved: the top suggestion joins the queue",
  skip: () => "skipped for 30 min",
  pin: (b) => `pinned: ${titleOf(b.track_id)}`,
  unpin: () => "unpinned",
  veto: (b) => `vetoed: ${titleOf(b.track_id)}`,
  unveto: (b) => `veto lifted: ${titleOf(b.track_id)}`,
  veto_artist: (b) => `artist vetoed: ${b.artist}`,
  unveto_artist: (b) => `artist veto lifted: ${b.artist}`,
  lock: (b) => (b.locked ? "queue locked" : "queue unlocked"),
  arc: () => "energy arc saved",
  playing: (b) => `playing now: ${titleOf(b.track_id)}`,
  remove: () => "removed from the queue",
  event_over: () => "event over: bands stop listening",
};

async function act(body, button) {
  if (button) {
    button.disabled = true;
    button.classList.add("busy");
  }
  let res;
  try {
    res = await live.act(body);
  } catch (e) {
    res = { ok: false, error: String((e && e.message) || e) };
  } finally {
    if (button) {
      button.classList.remove("busy");
      button.disabled = false;
    }
  }
  if (res.state) onSelector(res.state);
  else if (model.sel) P.renderSelector(model.sel, { vetoedIds: model.vetoed, titleOf });
  if (res.ok && !res.state) {
    // the WebSocket pushes every selector change, but not every gateway change
    // does (event_over): read the state once to be sure the page shows it
    refreshSelector();
  }
  if (res.ok) {
    $("token-form").dataset.missing = "false";
    notify("ok", "done", (SAID[body.action] || (() => body.action))(body));
  } else if (/token/i.test(res.error || "") || res.status === 401) {
    $("token-form").dataset.missing = "true";
    notify("error", "Refused: token required.",
      auth.token ? "The gateway did not accept this token; check it (top right)." : "Enter the console token (top right) to use the controls.");
  } else {
    notify("error", "Refused:", res.error || "the gateway said no");
  }
  return res;
}

// -- start, and the token gate --------------------------------------------------------------------

function showGate(why) {
  $("gate").hidden = false;
  $("gate").querySelector("p").textContent = why
    ? `This venue needs the console token even to view: ${why}. Enter it below.`
    : "This venue needs the console token even to view. Enter it below.";
  $("token-form").dataset.missing = "true";
  $("conn").dataset.state = "unauthorised";
  $("conn").textContent = "token required";
  $("gate-token").focus();
}

async function start() {
  $("gate").hidden = true;
  live.stop();
  try {
    await getJSON("/api/state", { withToken: false });
    auth.viewNeedsToken = false;
  } catch (e) {
    if (e instanceof Unauthorised) {
      auth.viewNeedsToken = true;
      if (!auth.token) {
        showGate("");
        return;
      }
    }
  }
  try {
    const [snap, sel] = await Promise.all([getJSON("/api/state"), getJSON("/api/selector")]);
    if (snap && Array.isArray(snap.zones)) {
      model.snap = snap;
      onSentiment(snap);
    }
    onSelector(sel);
    ctx.searchLibrary();
  } catch (e) {
    if (e instanceof Unauthorised) {
      showGate("the saved token was refused");
      return;
    }
    // the gateway is away: the live connection retries and shows it
  }
  live.start();
}

const ctx = { act, model, chart, onToken: () => {
  if (auth.viewNeedsToken || !$("gate").hidden) start();
} };
wireControls(ctx);

setInterval(() => {
  if (live.ws && live.ws.readyState === WebSocket.OPEN && !document.hidden) refreshSelector();
}, 3000);

setInterval(() => {
  if (model.sel) {
    P.renderNow(model.sel.now_playing, chart.now());
    P.renderEvent(model.sel.event || {}, chart.now());
  }
}, 1000);

const health = new Health((h) => {
  live.setHealth(h);
  renderHealth($("health"), h);
});

window.crowdpulse = { model, live, chart, health };
start();
health.start();
