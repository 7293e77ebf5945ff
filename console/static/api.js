// The gateway's open API (docs/protocol.md §7-8): the token, HTTP reads, notices.

const TOKEN_KEY = "crowdpulse.console.token";

export const auth = {
  /** true once the venue answered 401 to a read: then /ws needs ?token= too */
  viewNeedsToken: false,

  get token() {
    try {
      return localStorage.getItem(TOKEN_KEY) || "";
    } catch {
      return "";
    }
  },

  set token(value) {
    try {
      if (value) localStorage.setItem(TOKEN_KEY, value);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      // private mode without storage: the token lives until the page closes
    }
  },
};

export class Unauthorised extends Error {
  constructor() {
    super("token required");
  }
}

function headers(withToken) {
  const h = { Accept: "application/json" };
  if (withToken && auth.token) h.Authorization = `Bearer ${auth.token}`;
  return h;
}

/** GET a JSON document from the gateway; Unauthorised on 401. */
export async function getJSON(path, { withToken = true, signal } = {}) {
  const r = await fetch(path, { headers: headers(withToken), cache: "no-store", signal });
  if (r.status === 401) throw new Unauthorised();
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

/** POST one selector action (used when the WebSocket is down). */
export async function postAction(body) {
  const h = headers(true);
  h["Content-Type"] = "application/json";
  const r = await fetch("/api/selector/action", {
    method: "POST", headers: h, body: JSON.stringify(body), cache: "no-store",
  });
  let data = {};
  try {
    data = await r.json();
  } catch {
    data = {};
  }
  if (r.status === 401) return { ok: false, error: "token required", status: 401 };
  if (!r.ok) return { ok: false, error: data.error || `HTTP ${r.status}`, status: r.status };
  return { ok: true, state: data.state };
}

// -- notices: non-blocking messages in the corner ------------------------------------

const MAX_NOTICES = 3;

export function notify(kind, title, text = "", ms = kind === "error" ? 9000 : 2500) {
  const box = document.getElementById("notices");
  if (kind !== "error") {
    for (const old of box.querySelectorAll(".notice:not(.error)")) old.remove(); // one at a time
  }
  const n = document.createElement("div");
  n.className = `notice ${kind}`;
  n.setAttribute("role", kind === "error" ? "alert" : "status");
  const b = document.createElement("b");
  b.textContent = title;
  const s = document.createElement("span");
  s.textContent = text;
  const x = document.createElement("button");
  x.type = "button";
  x.textContent = "✕";
  x.title = "dismiss";
  x.addEventListener("click", () => n.remove());
  n.append(b, s, x);
  box.append(n);
  while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
  setTimeout(() => n.remove(), ms);
  return n;
}
