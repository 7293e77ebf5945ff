// The artist's controls: buttons, the library search, the energy-arc editor,
// the token field and the "event over" confirmation.

import { auth, getJSON, notify, Unauthorised } from "./api.js";
import { renderLibrary } from "./panels.js";

const $ = (id) => document.getElementById(id);

/**
 * ctx: { act(body, button) -> Promise<result>, model, chart, onToken() }
 */
export function wireControls(ctx) {
  const { act, model } = ctx;

  // mode, lock
  for (const b of document.querySelectorAll(".modes button")) {
    b.addEventListener("click", () => act({ action: "mode", mode: b.dataset.mode }, b));
  }
  $("lock").addEventListener("click", (e) => act({ action: "lock", locked: !(model.sel && model.sel.locked) }, e.currentTarget));

  // next up
  const next = () => model.sel && model.sel.next && model.sel.next.track;
  $("approve").addEventListener("click", (e) => act({ action: "approve" }, e.currentTarget));
  $("skip").addEventListener("click", (e) => act({ action: "skip" }, e.currentTarget));
  $("unpin").addEventListener("click", (e) => act({ action: "unpin" }, e.currentTarget));
  $("next-playing").addEventListener("click", (e) => {
    const t = next();
    if (t) act({ action: "playing", track_id: t.id }, e.currentTarget);
  });
  $("next-veto").addEventListener("click", (e) => {
    const t = next();
    if (t) act({ action: "veto", track_id: t.id }, e.currentTarget);
  });
  $("next-veto-artist").addEventListener("click", (e) => {
    const t = next();
    if (t) act({ action: "veto_artist", artist: t.artist }, e.currentTarget);
  });

  // rows in the queue, suggestions, library and vetoes
  const onRow = (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const li = b.closest("li");
    const kind = b.dataset.act;
    if (kind === "remove") act({ action: "remove", index: Number(li.dataset.index) }, b);
    else if (kind === "veto_artist") act({ action: "veto_artist", artist: li.dataset.artist }, b);
    else if (kind === "unveto_artist") act({ action: "unveto_artist", artist: b.dataset.artist }, b);
    else if (kind === "unveto") act({ action: "unveto", track_id: b.dataset.trackId }, b);
    else act({ action: kind, track_id: li.dataset.trackId }, b);
  };
  for (const id of ["queue", "suggestions", "library"]) $(id).addEventListener("click", onRow);
  $("vetoes").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const body = b.dataset.act === "unveto_artist"
      ? { action: "unveto_artist", artist: b.dataset.artist }
      : { action: "unveto", track_id: b.dataset.trackId };
    act(body, b);
  });

  $("veto-artist-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("veto-artist");
    const artist = input.value.trim();
    if (!artist) return;
    const res = await act({ action: "veto_artist", artist }, e.submitter);
    if (res.ok) input.value = "";
  });

  // chart range
  for (const b of document.querySelectorAll(".range button")) {
    b.addEventListener("click", () => {
      for (const o of document.querySelectorAll(".range button")) o.setAttribute("aria-pressed", String(o === b));
      ctx.chart.setWindow(Number(b.dataset.range));
    });
  }

  wireToken(ctx);
  wireEventOver(ctx);
  wireLibrary(ctx);
  wireArc(ctx);
}

// -- token ------------------------------------------------------------------------------

function wireToken(ctx) {
  const form = $("token-form");
  const input = $("token");
  input.value = auth.token;
  const mark = () => {
    form.dataset.set = String(!!auth.token);
    if (auth.token) form.dataset.missing = "false";
  };
  mark();
  const save = (value) => {
    auth.token = value.trim();
    input.value = auth.token;
    mark();
    notify("ok", auth.token ? "token saved" : "token cleared", auth.token ? "on this browser only" : "controls are refused until you enter it");
    ctx.onToken();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save(input.value);
  });
  $("token-clear").addEventListener("click", () => save(""));
  $("gate-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save($("gate-token").value);
  });
}

// -- event over ---------------------------------------------------------------------------

function wireEventOver(ctx) {
  const dlg = $("confirm-over");
  $("event-over").addEventListener("click", () => {
    dlg.returnValue = "";
    dlg.showModal();
  });
  dlg.addEventListener("close", () => {
    if (dlg.returnValue === "yes") ctx.act({ action: "event_over" }, $("event-over"));
  });
}

// -- library ---------------------------------------------------------------------------------

function wireLibrary(ctx) {
  const input = $("lib-q");
  let timer = 0;
  let seq = 0;
  const search = async () => {
    const mine = ++seq;
    try {
      const res = await getJSON(`/api/library?q=${encodeURIComponent(input.value.trim())}`);
      if (mine !== seq) return; // a newer search is on its way
      ctx.model.library = res;
      for (const t of res.tracks || []) ctx.model.tracks.set(t.id, t);
      renderLibrary(res, ctx.model.vetoed);
    } catch (e) {
      if (!(e instanceof Unauthorised)) notify("error", "library", String(e.message || e));
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  ctx.searchLibrary = search;
}

// -- energy arc ---------------------------------------------------------------------------------

function wireArc(ctx) {
  const list = $("arc-points");
  const model = ctx.model;

  const current = () => (model.arcDraft ?? (model.sel ? model.sel.energy_arc : []) ?? []).map((p) => [...p]);
  const edit = (fn) => {
    const pts = current();
    fn(pts);
    model.arcDraft = pts;
    renderArc(ctx);
  };

  list.addEventListener("change", (e) => {
    const li = e.target.closest("li");
    if (!li) return;
    const i = Number(li.dataset.i);
    const col = e.target.dataset.col === "m" ? 0 : 1;
    edit((pts) => {
      pts[i][col] = Number(e.target.value);
    });
  });
  list.addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    const i = Number(b.closest("li").dataset.i);
    edit((pts) => pts.splice(i, 1));
  });
  $("arc-add").addEventListener("click", () => edit((pts) => {
    const lastMin = pts.length ? Math.max(...pts.map((p) => p[0])) : -30;
    pts.push([lastMin + 30, pts.length ? pts[pts.length - 1][1] : 0.5]);
  }));
  $("arc-reset").addEventListener("click", () => {
    model.arcDraft = null;
    renderArc(ctx);
  });
  $("arc-save").addEventListener("click", async (e) => {
    const pts = current();
    const bad = pts.find((p) => !(Number.isFinite(p[0]) && p[0] >= 0 && Number.isFinite(p[1]) && p[1] >= 0 && p[1] <= 1));
    if (bad) {
      notify("error", "energy arc", "minutes must be 0 or more and energy between 0 and 1");
      return;
    }
    pts.sort((a, b) => a[0] - b[0]);
    const res = await ctx.act({ action: "arc", points: pts }, e.currentTarget);
    if (res.ok) {
      model.arcDraft = null;
      renderArc(ctx);
    }
  });
  renderArc(ctx);
  new ResizeObserver(() => drawArc($("arc-preview"), current())).observe($("arc-preview").parentElement);
}

export function renderArc(ctx) {
  const model = ctx.model;
  const pts = model.arcDraft ?? (model.sel ? model.sel.energy_arc : []) ?? [];
  const key = JSON.stringify([pts, model.arcDraft !== null]);
  const list = $("arc-points");
  $("arc-dirty").textContent = model.arcDraft !== null ? "unsaved" : "";
  $("arc-now").textContent = pts.length ? `${pts.length} point${pts.length > 1 ? "s" : ""}` : "";
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    if (!pts.length) {
      list.innerHTML = '<li class="empty">no arc: suggestions follow the crowd only</li>';
    } else {
      list.replaceChildren(...pts.map((p, i) => {
        const li = document.createElement("li");
        li.dataset.i = i;
        li.innerHTML = '<input type="number" data-col="m" min="0" max="720" step="5" aria-label="minute">'
          + '<span>min</span><input type="number" data-col="e" min="0" max="1" step="0.05" aria-label="energy">'
          + '<button type="button" title="remove this point">✕</button>';
        const [m, , en] = li.children;
        m.value = String(p[0]);
        en.value = String(p[1]);
        return li;
      }));
    }
  }
  drawArc($("arc-preview"), pts);
}

function drawArc(canvas, pts) {
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(20, canvas.clientWidth), H = Math.max(20, canvas.clientHeight);
  canvas.width = W * dpr;
  canvas.height = H * dpr;
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  const P = 6;
  const maxM = Math.max(60, ...pts.map((p) => p[0]));
  const x = (m) => P + (m / maxM) * (W - 2 * P);
  const y = (e) => H - P - e * (H - 2 * P);
  g.strokeStyle = "#222a36";
  g.lineWidth = 1;
  for (const e of [0, 0.5, 1]) {
    g.beginPath();
    g.moveTo(P, y(e));
    g.lineTo(W - P, y(e));
    g.stroke();
  }
  if (!pts.length) return;
  const sorted = [...pts].sort((a, b) => a[0] - b[0]);
  g.strokeStyle = "#ffc53d";
  g.lineWidth = 2;
  g.beginPath();
  sorted.forEach((p, i) => (i ? g.lineTo(x(p[0]), y(p[1])) : g.moveTo(x(p[0]), y(p[1]))));
  g.stroke();
  g.fillStyle = "#ffc53d";
  for (const p of sorted) {
    g.beginPath();
    g.arc(x(p[0]), y(p[1]), 3, 0, Math.PI * 2);
    g.fill();
  }
}
