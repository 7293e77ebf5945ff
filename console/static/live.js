// The live connection: one WebSocket to /ws, reconnected with backoff, that
// carries sentiment (10 Hz), selector state and the artist's actions.

import { auth, getJSON, postAction, Unauthorised } from "./api.js";

const STALE_MS = 3000;
const ACTION_TIMEOUT_MS = 8000;
const MAX_BACKOFF_MS = 5000; // at the booth, back within seconds of the gateway

export class Live {
  /**
   * handlers: onSentiment(snap), onSelector(state), onOpen(), onStatus(state, label),
   * onUnauthorised()
   */
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = 0;
    this.retryAt = 0;
    this.lastData = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.stopped = true;
    this.status = "";
    this.health = null; // the last /api/health: "live" only while reports flow
    setInterval(() => this.tickStatus(), 500);
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
  }

  restart() {
    this.stop();
    this.start();
  }

  url() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const q = auth.viewNeedsToken && auth.token ? `?token=${encodeURIComponent(auth.token)}` : "";
    return `${proto}://${location.host}/ws${q}`;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setStatus("connecting", "connecting…");
    let opened = false;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lastData = Date.now();
      this.tickStatus();
      this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "sentiment") {
        this.lastData = Date.now();
        this.h.onSentiment(msg);
      } else if (msg.type === "selector") {
        this.h.onSelector(msg);
      } else if (msg.type === "action_result") {
        const p = this.pending.get(msg.id);
        if (p) {
          this.pending.delete(msg.id);
          clearTimeout(p.timer);
          p.resolve({ ok: !!msg.ok, error: msg.error });
        }
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return; // stopped on purpose
      this.ws = null;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.resolve({ ok: false, error: "connection lost before the answer; check the log" });
        this.pending.delete(id);
      }
      if (this.stopped) return;
      if (!opened) this.probe();
      else this.retry();
    };
  }

  /** The socket never opened: is it the token, or is the gateway away? */
  async probe() {
    try {
      await getJSON("/api/state");
      this.retry();
    } catch (e) {
      if (e instanceof Unauthorised) {
        auth.viewNeedsToken = true;
        this.stopped = true;
        this.setStatus("unauthorised", "token required");
        this.h.onUnauthorised();
      } else {
        this.retry();
      }
    }
  }

  retry() {
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.tickStatus();
  }

  tickStatus() {
    if (this.stopped) return;
    if (!this.ws) {
      const s = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      this.setStatus("offline", `offline · retry in ${s} s`);
    } else if (this.ws.readyState === WebSocket.OPEN) {
      const quiet = Date.now() - this.lastData;
      const h = this.health;
      if (quiet > STALE_MS) this.setStatus("stale", `no data ${Math.round(quiet / 1000)} s`);
      else if (!h) this.setStatus("connecting", "checking…");
      else if (!h.live) this.setStatus(h.status === "down" ? "down" : "quiet", h.summary);
      else if (h.status !== "ok") this.setStatus("warn", `live · ${h.problems.length} to check`);
      else this.setStatus("live", "live");
    }
  }

  /** The gateway's health (health.js): the status follows it at once. */
  setHealth(health) {
    this.health = health;
    this.tickStatus();
  }

  setStatus(state, label) {
    const key = `${state}|${label}`;
    if (key === this.status) return;
    this.status = key;
    this.h.onStatus(state, label);
  }

  /** One selector action; resolves {ok, error, state?}. */
  act(body) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return postAction(body);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ ok: false, error: "no answer from the gateway; check the log" });
      }, ACTION_TIMEOUT_MS);
      this.pending.set(id, { resolve, timer });
      const msg = { type: "action", id, ...body };
      if (auth.token) msg.token = auth.token;
      ws.send(JSON.stringify(msg));
    });
  }
}
