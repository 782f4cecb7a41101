// The console's connections: the node it listens to (its primary, or
// after a switch the secondary) and a standby stream to a second member,
// the event stream with resume by position, operations with idempotency
// keys, and the failover (notice, error icon, switch; automatic after a
// grace when the preference says so). See console/DESIGN.md.

export const API = "/console/api/v1";
export const MAXSEQ = Number.MAX_SAFE_INTEGER;

// Positions: "INDEX" (after every event of that Raft index) or
// "INDEX.SEQ" (after that event).
export function parsePos(s) {
  const [i, q] = String(s).split(".");
  return { index: Number(i), seq: q === undefined ? MAXSEQ : Number(q) };
}
export function fmtPos(p) { return p.seq === MAXSEQ ? String(p.index) : `${p.index}.${p.seq}`; }
export function after(a, b) { return a.index > b.index || (a.index === b.index && a.seq > b.seq); }

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "network";
    this.field = body && body.field;
  }
  get retryable() { return this.status === 0 || this.status === 503 || this.status === 504; }
}

// request calls the API of the node at base ("" = this page's node).
export async function request(base, token, method, path, body, { timeout = 8000, key } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  try {
    const r = await fetch(base + API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal, cache: "no-store", credentials: "omit", mode: "cors",
    });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text } }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, { code: "network", message: e.name === "AbortError" ? "timeout" : String(e.message || e) });
  } finally {
    clearTimeout(timer);
  }
}

// requestBlob GETs a binary resource of the API (a voicemail recording)
// with the session's token, as a Blob: an <audio> element cannot send
// the Authorization header itself, so the page fetches and hands it a
// blob: URL.
export async function requestBlob(base, token, path, { timeout = 30000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  try {
    const r = await fetch(base + API + path, {
      headers: token ? { Authorization: "Bearer " + token } : {},
      signal: ctl.signal, cache: "no-store", credentials: "omit", mode: "cors",
    });
    if (!r.ok) {
      const text = await r.text();
      let data;
      try { data = JSON.parse(text); } catch { data = { message: text } }
      throw new ApiError(r.status, data);
    }
    return await r.blob();
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, { code: "network", message: e.name === "AbortError" ? "timeout" : String(e.message || e) });
  } finally {
    clearTimeout(timer);
  }
}

// newKey is an idempotency key (crypto.randomUUID needs a secure
// context; getRandomValues does not).
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function wsBase(base) {
  const u = new URL(base || location.origin);
  return (u.protocol === "https:" ? "wss://" : "ws://") + u.host;
}

// Stream is one WebSocket event stream from a position.
class Stream {
  constructor(link, token, since, h) {
    this.link = link; this.h = h; this.closed = false; this.resumeMsg = false;
    const url = `${wsBase(link.base)}${API}/events?since=${encodeURIComponent(since)}&access_token=${encodeURIComponent(token)}`;
    this.ws = new WebSocket(url);
    this.ws.onmessage = (e) => {
      if (this.closed) return;
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      switch (m.type) {
        case "hello": this.h.hello?.(m); break;
        case "events": this.h.events?.(m.events || [], m.position); break;
        case "position": this.h.position?.(m.since); break;
        case "reset": this.h.resetMsg = m.message; break;
        case "resume": this.resumeMsg = true; break;
      }
    };
    this.ws.onclose = (e) => {
      if (this.closed) return;
      this.closed = true;
      if (e.code === 4000) this.h.reset?.();
      else if (e.code === 4001) this.h.resume?.();
      else this.h.down?.(e.code); // the node died or stops (1001 after "resume")
    };
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    try { this.ws.close(1000); } catch { /* already closing */ }
  }
}

// Conn keeps the console connected. Callbacks (all optional):
// onState(doc), onEvents(events), onRole(), onTrouble({from,to,auto,graceMs}),
// onSwitched({from,to,pos,ms}), onReload(), onError(err).
export class Conn {
  constructor(token, cb, prefs) {
    this.token = token; this.cb = cb; this.prefs = prefs;
    this.listening = { id: "", base: "" }; // this page's node first
    this.standby = null;
    this.role = "PRIMARY";
    this.last = null;       // position of the stream: nothing missed up to here
    this.members = [];
    this.down = new Map();  // member id → when it failed under this console
    this.misses = 0;
    this.trouble = null;    // the failure being reported, until the switch
    this.retries = 0;
    this.stateSeq = 0; this.shownSeq = 0; this.shownSince = null;
    this.main = null; this.side = null;
  }

  async start() {
    const doc = await this.readState("linearizable");
    this.last = parsePos(doc.since);
    this.listening.id = doc.node_id;
    this.openMain();
    this.cb.onRole?.();
    this.health = setInterval(() => this.check(), 2000);
    await this.refreshMembers().catch(() => {});
    this.pickStandby();
  }

  stop() {
    clearInterval(this.health);
    clearTimeout(this.autoTimer);
    this.main?.close(); this.side?.close();
  }

  // api calls the node the console listens to.
  api(method, path, body, opts) { return request(this.listening.base, this.token, method, path, body, opts); }

  // blob GETs a binary resource from the node the console listens to.
  blob(path) { return requestBlob(this.listening.base, this.token, path); }

  // op performs an operation; a retry after a timeout, a lost node or a
  // missing leader carries the same key (and may land on the new node).
  async op(name, body = {}) {
    const key = newKey();
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.api("POST", "/ops/" + name, body, { key });
        this.refresh();
        return res;
      } catch (e) {
        if (!(e instanceof ApiError) || !e.retryable || attempt >= 2) throw e;
        await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
      }
    }
  }

  async readState(consistency) {
    const seq = ++this.stateSeq;
    const doc = await this.api("GET", "/state?consistency=" + consistency);
    // Answers may overtake each other: never show an older state.
    const since = parsePos(doc.since);
    if (seq < this.shownSeq || (this.shownSince && after(this.shownSince, since))) return doc;
    this.shownSeq = seq; this.shownSince = since;
    this.cb.onState?.(doc);
    return doc;
  }

  // refresh re-reads the state soon (coalescing bursts of events).
  refresh() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.readState("stale").catch((e) => this.cb.onError?.(e));
    }, 40);
  }

  openMain() {
    this.main?.close();
    const s = new Stream(this.listening, this.token, fmtPos(this.last), {
      hello: () => { this.retries = 0; },
      events: (evs, position) => {
        const fresh = [];
        for (const ev of evs) {
          const p = { index: ev.index, seq: ev.seq };
          if (!after(p, this.last)) continue; // never twice
          this.last = p;
          fresh.push(ev);
        }
        if (position) this.advance(position);
        if (fresh.length) { this.cb.onEvents?.(fresh); this.refresh(); }
      },
      position: (since) => this.advance(since),
      reset: () => this.reload(),
      resume: () => { if (s === this.main) this.openMain(); },
      down: () => { if (s === this.main) this.mainDown(); },
    });
    this.main = s;
  }

  advance(p) {
    const q = parsePos(p);
    if (after(q, this.last)) this.last = q;
  }

  // reload follows a reset: the node no longer holds our position.
  async reload() {
    try {
      const doc = await this.readState("linearizable");
      this.last = parsePos(doc.since);
      this.cb.onReload?.();
      this.openMain();
    } catch (e) {
      this.mainDown();
    }
  }

  mainDown() {
    if (this.switching) return;
    if (this.retries < 1 && !this.trouble) {
      this.retries++;
      setTimeout(() => { if (!this.trouble && !this.switching) this.openMain(); }, 250);
      return;
    }
    this.failed();
  }

  // check polls the listening node (a hung node keeps its sockets open)
  // and keeps a standby.
  async check() {
    if (this.switching) return;
    try {
      const doc = await request(this.listening.base, this.token, "GET", "/cluster", undefined, { timeout: 2500 });
      this.misses = 0;
      this.setMembers(doc);
      if (!this.standby) this.pickStandby();
    } catch (e) {
      if (e.status === 401) { this.cb.onError?.(e); return; }
      if (++this.misses >= 2) this.failed();
    }
  }

  failed() {
    if (this.trouble || this.switching) return;
    const auto = !!this.prefs.auto;
    const graceMs = Math.max(0, Number(this.prefs.graceSeconds) || 0) * 1000;
    // at: the failure on the page's monotonic clock (the grace counts from
    // it); wall: the same moment in epoch ms, shown to tests and logs.
    this.trouble = { from: this.listening, to: this.standby, auto, graceMs, at: performance.now(), wall: Date.now() };
    this.cb.onTrouble?.(this.trouble);
    if (auto) this.autoTimer = setTimeout(() => this.switchOver(), graceMs);
  }

  async refreshMembers() {
    const doc = await this.api("GET", "/cluster", undefined, { timeout: 3000 });
    this.setMembers(doc);
  }

  setMembers(doc) {
    this.members = (doc.nodes || []).filter((n) => n.http_url);
  }

  // isDown: the member failed under this console in the last 10 s (the
  // cluster may still call it up for a few seconds).
  isDown(id) {
    const at = this.down.get(id);
    return at !== undefined && performance.now() - at < 10000;
  }

  // pickStandby opens the standby stream to another member: the leader
  // when the console does not listen to it, else the first member up.
  pickStandby() {
    const cands = this.members.filter((n) => n.id !== this.listening.id && n.state !== "down" && !this.isDown(n.id));
    cands.sort((a, b) => (b.leader ? 1 : 0) - (a.leader ? 1 : 0) || a.id.localeCompare(b.id));
    const n = cands[0];
    this.side?.close();
    this.side = null; this.standby = null;
    if (!n) { this.cb.onRole?.(); return; }
    const link = { id: n.id, base: n.http_url.replace(/\/+$/, "") };
    const s = new Stream(link, this.token, fmtPos(this.last), {
      hello: () => { this.standby = link; if (this.trouble && !this.trouble.to) { this.trouble.to = link; this.cb.onTrouble?.(this.trouble); } this.cb.onRole?.(); },
      reset: () => { if (s === this.side) this.pickStandby(); },
      resume: () => { if (s === this.side) this.pickStandby(); },
      down: () => {
        if (s !== this.side) return;
        this.side = null; this.standby = null; this.down.set(link.id, performance.now());
        this.cb.onRole?.();
      },
    });
    this.side = s;
    this.standby = link; // until its stream proves otherwise
  }

  // switchOver listens to the standby from the last position seen: the
  // new stream starts exactly after the last event shown.
  async switchOver() {
    if (this.switching) return;
    const to = this.standby;
    if (!to) {
      this.cb.onError?.(new ApiError(0, { message: "no secondary server yet" }));
      // Automatic mode keeps trying until a standby answers.
      if (this.trouble && this.trouble.auto) this.autoTimer = setTimeout(() => this.switchOver(), 1000);
      return;
    }
    this.switching = true;
    clearTimeout(this.autoTimer);
    const from = this.listening;
    const t0 = this.trouble ? this.trouble.at : performance.now();
    const pos = fmtPos(this.last);
    this.main?.close();
    this.side?.close();
    this.side = null; this.standby = null;
    this.down.set(from.id, performance.now());
    this.listening = to;
    this.role = "SECONDARY";
    this.trouble = null; this.retries = 0; this.misses = 0;
    this.openMain();
    this.cb.onRole?.();
    // Able to act: the new node answers a linearizable read (it has a leader).
    for (let i = 0; i < 40; i++) {
      try { await this.readState("linearizable"); break; } catch (e) {
        if (!(e instanceof ApiError) || !e.retryable) { this.cb.onError?.(e); break; }
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    const ms = Math.round(performance.now() - t0);
    this.switching = false;
    this.cb.onSwitched?.({ from, to, pos, ms });
    await this.refreshMembers().catch(() => {});
    this.pickStandby();
  }
}
