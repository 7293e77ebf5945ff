// The gateway's own account of its health (GET /api/health, gateway/health.py):
// broker connection (and why not), relays heard, reports flowing, bands rejected.
// The console says "live" only while reports flow; otherwise it says what is wrong,
// each problem with its fix, in a bar under the header.

import { getJSON } from "./api.js";

const POLL_MS = 2000;

export class Health {
  /** onChange(health or null): called after every poll */
  constructor(onChange) {
    this.onChange = onChange;
    this.timer = 0;
    this.last = null;
  }

  start() {
    clearTimeout(this.timer);
    this.poll();
  }

  async poll() {
    try {
      this.last = await getJSON("/api/health");
    } catch {
      this.last = null; // the gateway is away: the live connection says so
    }
    this.onChange(this.last);
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }
}

/** The problem bar: one line per problem, with its fix; hidden when all is well. */
export function renderHealth(box, health) {
  const problems = (health && health.problems) || [];
  box.hidden = problems.length === 0;
  box.replaceChildren(...problems.map((p) => {
    const li = document.createElement("li");
    li.className = p.level === "fail" ? "fail" : "warn";
    const what = document.createElement("b");
    what.textContent = p.what;
    const fix = document.createElement("span");
    fix.textContent = p.fix ? ` — ${p.fix}` : "";
    li.append(what, fix);
    return li;
  }));
}
