// The operator console: log-in, states, lines, operations, supervision,
// queues, directory, history, speed dials, preferences and the failover
// notice. Rendering follows the state document (GET state); the event
// stream says when it changed and fills the activity list (conn.js).
import { Conn, request, ApiError, fmtPos } from "./conn.js";
import { t, setLang, applyDom, languages } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const TOKEN = "tandem.console.token";
const LANG = "tandem.console.lang"; // the log-in page's language, a copy of the preference

// stored reads a JSON value from a storage; a damaged one reads as null.
function stored(storage, key) {
  try { return JSON.parse(storage.getItem(key) || "null"); } catch { return null; }
}

// Preferences live on the server, per user (committed through Raft, so
// the same on every member after a switch): the state document carries
// them and POST ops/preferences replaces them. These are the defaults of
// a user who never saved any; conn.js reads auto and graceSeconds here.
const DEFAULTS = { lang: (navigator.language || "en").slice(0, 2), auto: false, graceSeconds: 5, timeFormat: "clock",
  onIncoming: "none", ringTone: false, textSize: "normal", autoLogin: false, supGeneral: false, hidden: [], shortcuts: [],
  sdLineState: false, ownSpeedDials: false, speedDials: [] };
const prefs = Object.assign({}, DEFAULTS, { lang: localStorage.getItem(LANG) || DEFAULTS.lang });
let prefsSeen = "";       // the server's preferences last applied (JSON)
// prefsRevision is the revision of the preferences of the last state
// document (preferences_revision). A save names the revision it was made
// from; once another console of the same user saved since, the server
// refuses it (412 precondition_failed) and nothing is saved:
// savePreferences reloads and the operator applies again.
let prefsRevision = 0;
let conn = null;
let doc = null;           // the last state document
let session = null;       // {user, agent}
let selected = null;      // selected supervised call id
let dirResults = [], dirIndex = -1, dirTimer = null;

// ---- helpers -------------------------------------------------------------

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? ""));
  return e;
}
function say(msg) { $("status").textContent = msg; }
// The engine's refusal of a log-in while the phone is not registered
// (contactcenter.MsgPhoneNotConnected), shown in the chosen language.
const PHONE_NOT_CONNECTED = "your phone is not connected: check it or restart it";
function fail(e) {
  let m = e instanceof ApiError && e.code === "network" ? t("error.network", { message: e.message }) : (e.message || String(e));
  if (String(m).includes(PHONE_NOT_CONNECTED)) m = t("error.phoneNotConnected");
  $("error").textContent = m;
}
function clearError() { $("error").textContent = ""; }
function dur(ms) {
  if (!(ms >= 0)) return "";
  const s = Math.floor(ms / 1000), m = Math.floor(s / 60), h = Math.floor(m / 60);
  const p = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${p(m % 60)}:${p(s % 60)}` : `${p(m)}:${p(s % 60)}`;
}
const sinceNs = (ns) => (ns ? Date.now() - ns / 1e6 : NaN);

// fromServer applies the preferences of the state document (null: never
// saved, the defaults) when they or their revision changed (a set-up
// then starts from a list read at the new revision).
function fromServer(p) {
  const key = JSON.stringify([p || null, prefsRevision]);
  if (key === prefsSeen) return;
  prefsSeen = key;
  p = p || {};
  Object.assign(prefs, DEFAULTS, {
    lang: p.language || DEFAULTS.lang, auto: !!p.auto_failover,
    graceSeconds: p.failover_grace_seconds ?? DEFAULTS.graceSeconds,
    timeFormat: p.time_format || "clock", onIncoming: p.on_incoming || "none", ringTone: !!p.ring_tone,
    textSize: p.text_size || "normal", autoLogin: !!p.auto_login, supGeneral: !!p.supervision_general,
    hidden: p.hidden_columns || [], shortcuts: p.shortcuts || [],
    sdLineState: !!p.speed_dial_line_state, ownSpeedDials: !!p.own_speed_dials, speedDials: p.speed_dials || [] });
  localStorage.setItem(LANG, prefs.lang);
  setLang(prefs.lang); applyDom(); applyTextSize(); applyColumns(); renderTitle();
  if (document.body.dataset.ready) loadSpeedDials(); // set up on another console
}
function toServer(v) {
  return { language: v.lang, auto_failover: v.auto, failover_grace_seconds: v.graceSeconds, time_format: v.timeFormat,
    on_incoming: v.onIncoming, ring_tone: v.ringTone, text_size: v.textSize, auto_login: v.autoLogin,
    supervision_general: v.supGeneral, hidden_columns: v.hidden, shortcuts: v.shortcuts,
    speed_dial_line_state: v.sdLineState, own_speed_dials: v.ownSpeedDials, speed_dials: v.ownSpeedDials ? v.speedDials : [] };
}

// Columns: th[data-col] of table[data-list]; a hidden one ("list.col",
// a preference) hides its header and its cells in every row.
function applyColumns() {
  for (const table of document.querySelectorAll("table[data-list]")) {
    const ths = [...table.tHead.rows[0].cells];
    const off = ths.map((th) => th.dataset.col && prefs.hidden.includes(table.dataset.list + "." + th.dataset.col));
    ths.forEach((th, i) => { th.hidden = off[i]; });
    for (const tr of table.tBodies[0].rows) {
      if (tr.cells.length !== ths.length) continue; // an "empty" row spanning all
      [...tr.cells].forEach((td, i) => { td.hidden = off[i]; });
    }
  }
}

// run performs an operation and reports a refusal as the engine words it.
async function run(name, body) {
  clearError();
  try { return await conn.op(name, body); } catch (e) { fail(e); return null; }
}

// savePreferences saves next, made from the preferences read at
// revision rev: "saved"; "stale" when another console of the same user
// saved since (nothing saved; the current preferences are reloaded from
// the leader, linearizable, so the next try names their revision); null
// on another refusal (shown).
async function savePreferences(next, rev) {
  clearError();
  try {
    await conn.op("preferences", { preferences: toServer(next), revision: rev });
    return "saved";
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "precondition_failed")) { fail(e); return null; }
    const d = await conn.readState("linearizable").catch(() => null);
    // Shown unless a later read overtook it; its preferences are the
    // current ones either way.
    if (d && (d.preferences_revision || 0) > prefsRevision) { prefsRevision = d.preferences_revision; fromServer(d.preferences); }
    return "stale";
  }
}

// ---- modal dialogs -------------------------------------------------------

// ask shows a modal with optional fields; resolves to the values (or
// true) on OK, null on cancel. Enter confirms, Escape cancels.
function ask({ title, text = "", fields = [] }) {
  return new Promise((resolve) => {
    const modal = $("modal"), form = $("modal-form"), box = $("modal-fields");
    const back = document.activeElement;
    $("modal-title").textContent = title;
    $("modal-text").textContent = text;
    box.replaceChildren();
    const inputs = {};
    for (const f of fields) {
      const id = "modal-field-" + f.name;
      let input;
      if (f.type === "select") {
        input = el("select", { id });
        for (const o of f.options) input.append(el("option", { value: o.value }, o.label));
        input.value = f.value ?? "";
      } else if (f.type === "checkbox") {
        input = el("input", { id, type: "checkbox" });
        input.checked = !!f.value;
      } else if (f.type === "palette") { // radio buttons, one per colour (arrow keys move)
        input = el("fieldset", { id, class: "palette" }, el("legend", {}, f.label));
        for (const o of f.options) {
          const r = el("input", { type: "radio", name: id, value: o.value });
          r.checked = o.value === (f.value ?? "");
          input.append(el("label", { class: o.value ? "sd-" + o.value : "" }, r, " " + o.label));
        }
      } else if (f.type === "textarea") {
        input = el("textarea", { id, rows: 8 });
        input.value = f.value ?? "";
      } else {
        input = el("input", { id, type: f.type || "text", value: f.value ?? "" });
      }
      inputs[f.name] = input;
      if (f.type === "palette") box.append(input);
      else box.append(f.type === "checkbox" ? el("label", {}, input, " " + f.label) : el("label", { htmlFor: id }, f.label), f.type === "checkbox" ? "" : input);
    }
    const done = (v) => {
      modal.hidden = true;
      form.onsubmit = null; $("modal-cancel").onclick = null; modal.onkeydown = null;
      back?.focus?.();
      resolve(v);
    };
    form.onsubmit = (e) => {
      e.preventDefault();
      if (!fields.length) return done(true);
      const out = {};
      for (const f of fields) {
        out[f.name] = f.type === "checkbox" ? inputs[f.name].checked
          : f.type === "palette" ? (inputs[f.name].querySelector("input:checked")?.value ?? "") : inputs[f.name].value;
      }
      done(out);
    };
    $("modal-cancel").onclick = () => done(null);
    modal.onkeydown = (e) => {
      if (e.key === "Escape") { e.preventDefault(); done(null); }
      if (e.key === "Tab") { // keep focus in the dialog
        const f = [...modal.querySelectorAll("input,select,textarea,button")];
        const i = f.indexOf(document.activeElement);
        if (e.shiftKey && i <= 0) { e.preventDefault(); f[f.length - 1].focus(); }
        else if (!e.shiftKey && i === f.length - 1) { e.preventDefault(); f[0].focus(); }
      }
      e.stopPropagation();
    };
    modal.hidden = false;
    const first = fields.length ? inputs[fields[0].name] : $("modal-ok");
    (first.tagName === "FIELDSET" ? first.querySelector("input:checked") || first.querySelector("input") : first).focus();
  });
}

// ---- rendering -----------------------------------------------------------

function agent() { return doc && doc.agent ? doc.agent : {}; }
function call(id) { return (id && doc && doc.calls && doc.calls[id]) || null; }

function renderTitle() {
  if (!conn) return;
  const role = t("role." + conn.role), node = conn.listening.id || "";
  const text = t("title.full", { role, node });
  $("title").textContent = text;
  document.title = text;
  const sb = conn.standby ? conn.standby.id : "—";
  $("servers").textContent = t("servers.standby", { node: sb });
}

// Incoming calls: bring the window to the front or notify (preference),
// and ring in the browser while the call rings (preference; a tone made
// here, no sound file).
let lastOffer = "", ringer = null;
function incoming(offer) {
  const id = offer ? offer.id : "";
  if (id === lastOffer) return;
  lastOffer = id;
  stopRing();
  if (!offer) return;
  // Announced once (the lines themselves are not a live region: their
  // times change every second).
  const what = offer.medium === "email" ? t("line.incomingMail") : t("line.incoming");
  say(`${what}: ${offer.number || ""} ${offer.name || ""}`.trim());
  if (prefs.onIncoming === "focus") window.focus();
  if (prefs.onIncoming === "notify" && "Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification(what, { body: `${offer.number || ""} ${offer.name || ""}`.trim() });
  }
  if (prefs.ringTone) startRing();
}
function startRing() {
  try {
    const ctx = new AudioContext();
    const beep = () => {
      const o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 440; g.gain.value = 0.08;
      o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.4);
    };
    beep();
    ringer = { ctx, timer: setInterval(beep, 1500) };
  } catch { ringer = null; }
}
function stopRing() {
  if (!ringer) return;
  clearInterval(ringer.timer);
  ringer.ctx.close();
  ringer = null;
}
function applyTextSize() {
  document.documentElement.style.fontSize = { small: "13px", normal: "15px", large: "18px" }[prefs.textSize] || "15px";
}

function renderLine(box, c, opts = {}) {
  box.classList.toggle("ringing", !!opts.ringing);
  box.classList.toggle("held", !!c && c.state === "held");
  const mail = !!c && c.medium === "email";
  box.querySelector(".line-number").textContent = !c ? "" : mail ? t("mail.heading") : (c.number || c.target || c.id);
  box.querySelector(".line-name").textContent = c ? (c.name || "") : "";
  box.querySelector(".line-state").textContent = !c ? t("line.idle")
    : opts.ringing ? t(mail ? "line.incomingMail" : "line.incoming") : `${t("call.state." + c.state)} ${dur(sinceNs(c.answered_at || c.created))}`;
  box.querySelector(".line-note").textContent = c && c.note ? c.note : "";
  box.dataset.call = c ? c.id : "";
  box.dataset.state = c ? (opts.ringing ? "ringing" : c.state) : "idle";
}

function render() {
  if (!doc) return;
  const a = agent();
  const state = a.state || "disconnected";
  for (const s of ["disconnected", "paused", "connected"]) $("state-" + s).setAttribute("aria-pressed", String(state === s));
  $("logged-in").textContent = t("loggedIn", { n: doc.logged_in });
  const offer = call(a.offer), l1 = call(a.line1), l2 = call(a.line2);
  renderLine($("line1"), l1 || offer, { ringing: !l1 && !!offer });
  renderLine($("line2"), l2);
  incoming(offer);
  const target = $("target").value.trim();
  const talk1 = l1 && !l2;
  const voice1 = talk1 && l1.medium !== "email"; // an e-mail is not held, consulted on or chained
  const set = (id, on) => { $(id).disabled = !on; };
  set("btn-accept", !!offer);
  set("btn-hangup", true);
  set("btn-hold", voice1 && (l1.state === "talking" || l1.state === "held"));
  $("btn-hold").textContent = l1 && l1.state === "held" ? t("btn.retrieve") : t("btn.hold");
  set("btn-park", talk1);
  set("btn-park-on", talk1);
  set("btn-transfer", talk1 && !!target);
  set("btn-chain", voice1 && !!target);
  set("btn-consult", voice1 && !!target);
  set("btn-complete", !!l2);
  set("btn-cancel-consult", !!l2);
  set("btn-observe", !!l2 && l2.state === "busy");
  set("btn-dial", !l1 && !offer && !!target);
  renderSupervision();
  renderQueues();
  renderSearchFields();
  renderMail();
}

// ---- e-mail ----------------------------------------------------------------
// The e-mail contact offered to the operator or on line 1: its message,
// read from the mailbox on demand (the console API asks the leader), and
// once accepted the reply and the forward (into the outbox).

let mailShown = "", mailLoading = "";
function mailContact() {
  const a = agent(), c = call(a.line1) || call(a.offer);
  return c && c.medium === "email" ? c : null;
}

function renderMail() {
  const c = mailContact();
  $("mail").hidden = !c;
  if (!c) { mailShown = ""; return; }
  const held = agent().line1 === c.id;
  $("btn-mail-reply").disabled = !held;
  $("btn-mail-forward").disabled = !held;
  if (mailShown !== c.id && mailLoading !== c.id) loadMail(c.id, 0);
}

// loadMail shows message uid of contact id (0: the one it was made of),
// with the list of the customer's messages on it: the first and each
// answer that joined it.
async function loadMail(id, uid) {
  mailLoading = id;
  $("mail").dataset.loaded = "";
  try {
    const m = await conn.api("GET", "/mail/" + encodeURIComponent(id) + "/content" + (uid ? "?uid=" + uid : ""));
    if (mailContact()?.id !== id) return;
    $("mail-from").textContent = m.from_name ? `${m.from_name} <${m.from}>` : (m.from || "");
    $("mail-subject").textContent = m.subject || "";
    $("mail-text").textContent = m.text || "";
    $("mail-attachments").replaceChildren(...(m.attachments || []).map((x) =>
      el("li", {}, t("mail.attachment", { name: x.filename || "?", type: x.content_type || "", size: x.size }))));
    const answers = m.answers || [];
    const pick = (label, u) => {
      const b = el("button", { type: "button", "data-uid": String(u), "aria-pressed": String(u === (uid || 0)) }, label);
      b.onclick = () => loadMail(id, u);
      return b;
    };
    $("mail-messages").replaceChildren(...(answers.length ? [pick(t("mail.first"), 0), ...answers.map((u, i) => pick(t("mail.answer", { n: i + 1 }), u))] : []));
    $("mail-messages").hidden = !answers.length;
    mailShown = id;
    $("mail").dataset.loaded = id + (uid ? "#" + uid : "");
  } catch (e) { fail(e); } finally { if (mailLoading === id) mailLoading = ""; }
}

// mailAnswered: the customer answered the e-mail the operator holds; the
// panel lists the answer and shows it.
function mailAnswered(d) {
  const c = mailContact();
  if (!c || d.contact !== c.id) return;
  say(t("mail.answered", { from: d.from || "" }));
  loadMail(c.id, d.uid);
}

async function mailAnswer(forward) {
  const c = mailContact();
  if (!c) return;
  const fields = forward ? [{ name: "forward", label: t("mail.forwardTo"), type: "email" }] : [];
  fields.push({ name: "body", label: t("mail.body"), type: "textarea" });
  const v = await ask({ title: t(forward ? "mail.forward" : "mail.reply"), fields });
  if (!v) return;
  const body = forward ? { contact: c.id, forward: v.forward.trim(), body: v.body } : { contact: c.id, body: v.body };
  if (await run(forward ? "mail_forward" : "mail_reply", body)) say(t(forward ? "mail.forwarded" : "mail.replied"));
}

function renderSupervision() {
  const all = $("sup-all").checked, q = $("sup-search").value.trim().toLowerCase();
  const me = session && session.agent;
  // The supervised calls, then the calls waiting in personal queues
  // (type Q: this operator's, retrieved like supervised calls; the
  // others' only under "show all", shown) and, by preference, in the
  // general queues it serves (type G, shown).
  const rows = [...(doc.supervised || []), ...(doc.waiting || [])].filter((s) => (all || s.owner === me || s.type === "G") &&
    (!q || [s.number, s.name, s.note, s.target].some((v) => (v || "").toLowerCase().includes(q))));
  if (selected && !rows.some((s) => s.call === selected)) selected = null;
  const body = $("sup-rows");
  body.replaceChildren();
  for (const s of rows) {
    const tr = el("tr", { class: "band-" + (s.band || 0), "data-call": s.call, "data-band": String(s.band || 0), tabindex: "0" },
      el("td", {}, t("sup.type." + s.type)),
      el("td", {}, s.number || ""),
      el("td", {}, s.name || ""),
      el("td", { class: "elapsed-time", "data-since": String(s.since) }, dur(sinceNs(s.since))),
      el("td", {}, s.return_at ? `${s.elapsed_pct} % (${t("band." + (s.band || 0))})` : ""),
      el("td", { class: "sup-note" }, s.note || ""),
      el("td", {}, (s.owner || s.queue || "") + (s.target ? " → " + s.target : "")));
    tr.setAttribute("aria-selected", String(s.call === selected));
    tr.onclick = () => select(s.call);
    tr.onkeydown = (e) => {
      if (e.key === " ") { e.preventDefault(); select(s.call); }
      if (e.key === "ArrowDown") { e.preventDefault(); tr.nextElementSibling?.focus(); }
      if (e.key === "ArrowUp") { e.preventDefault(); tr.previousElementSibling?.focus(); }
    };
    body.append(tr);
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colSpan: 7 }, t("sup.empty"))));
  applyColumns();
  const l1 = call(agent().line1);
  const sel = rows.find((s) => s.call === selected);
  const mine = !!sel && (sel.type !== "Q" || sel.owner === me) && sel.type !== "G"; // others' waiting calls are shown only
  $("btn-retrieve-sup").disabled = !mine || !!l1;
  $("btn-couple").disabled = !mine || !l1;
  $("btn-note").disabled = !mine;
}

function select(id) {
  selected = selected === id ? null : id;
  renderSupervision();
  document.querySelector(`#sup-rows tr[data-call="${CSS.escape(id)}"]`)?.focus();
}

function renderQueues() {
  const body = $("queue-rows");
  body.replaceChildren();
  for (const q of doc.queues || []) {
    const tr = el("tr", { class: "level-" + q.level, "data-queue": q.queue, "data-level": String(q.level) },
      el("th", { scope: "row" }, q.queue),
      el("td", {}, `${q.waiting} `, el("span", { class: "sr-only" }, t("queues.level." + q.level))),
      el("td", {}, dur(q.longest_wait_ms)),
      el("td", {}, `${Math.round(q.service_level_pct)} %`));
    body.append(tr);
  }
  applyColumns();
}

function tick() { // the running times, once a second
  for (const td of document.querySelectorAll(".elapsed-time")) td.textContent = dur(sinceNs(Number(td.dataset.since)));
  if (doc) {
    const a = agent();
    const l1 = call(a.line1), offer = call(a.offer), l2 = call(a.line2);
    renderLine($("line1"), l1 || offer, { ringing: !l1 && !!offer });
    renderLine($("line2"), l2);
  }
}

// The activity list's time column (preference): time of day, time since
// the call's first event shown ("cumulative"), or since the previous
// event ("previous").
let prevEventNs = 0;
const callStartNs = new Map();
function eventTime(ev, call) {
  const secs = (ns) => `+${(ns / 1e9).toFixed(1)} s`;
  let out = new Date(ev.time / 1e6).toLocaleTimeString();
  if (prefs.timeFormat === "previous") out = secs(prevEventNs ? ev.time - prevEventNs : 0);
  if (prefs.timeFormat === "cumulative") {
    if (call && !callStartNs.has(call)) callStartNs.set(call, ev.time);
    out = call ? secs(ev.time - callStartNs.get(call)) : out;
  }
  prevEventNs = ev.time;
  return out;
}

function logEvents(evs) {
  const ol = $("activity");
  if (evs.some((ev) => ev.type.startsWith("voicemail."))) loadVoicemail();
  for (const ev of evs) {
    let d = {};
    try { d = typeof ev.data === "string" ? JSON.parse(ev.data) : ev.data || {}; } catch { /* keep {} */ }
    if (ev.type === "mail.received" && d.threaded) mailAnswered(d);
    const when = eventTime(ev, d.call);
    const li = el("li", { "data-pos": `${ev.index}.${ev.seq}`, "data-type": ev.type },
      `${when} ${ev.type}${d.call ? " " + d.call : ""}${d.note ? " “" + d.note + "”" : ""}`);
    ol.prepend(li);
  }
  while (ol.children.length > 500) ol.lastElementChild.remove();
}

// ---- directory (search as you type) --------------------------------------

function searchDirectory() {
  clearTimeout(dirTimer);
  const q = $("target").value.trim();
  render();
  if (!q || /^[+\d\s()*#]+$/.test(q)) { showDirectory([]); return; }
  dirTimer = setTimeout(async () => {
    try {
      const res = await conn.api("GET", "/directory?consistency=stale&limit=20&q=" + encodeURIComponent(q));
      if ($("target").value.trim() === q) showDirectory(res || []);
    } catch (e) { fail(e); }
  }, 150);
}

function showDirectory(list) {
  dirResults = list; dirIndex = list.length === 1 ? 0 : -1;
  const ul = $("directory");
  ul.replaceChildren();
  list.slice(0, 20).forEach((d, i) => {
    const name = d.name || [d.first_name, d.last_name].filter(Boolean).join(" ");
    const num = d.extension || d.phone || d.mobile || "";
    const li = el("li", { role: "option", id: "dir-" + i, "data-number": num },
      el("span", {}, `${name}${d.company ? " · " + d.company : ""}`),
      el("span", { class: "status-" + (d.line_status === "free" ? "free" : "busy") }, `${num} ${d.line_status || d.presence || ""}`));
    li.setAttribute("aria-selected", String(i === dirIndex));
    li.onmousedown = (e) => { e.preventDefault(); choose(i); };
    ul.append(li);
  });
  ul.hidden = list.length === 0;
  $("target").setAttribute("aria-expanded", String(!ul.hidden));
  if (dirIndex >= 0) $("target").setAttribute("aria-activedescendant", "dir-" + dirIndex);
  else $("target").removeAttribute("aria-activedescendant");
}

function choose(i) {
  const d = dirResults[i];
  if (!d) return;
  $("target").value = d.extension || d.phone || d.mobile || "";
  showDirectory([]);
  render();
}

// resolvedTarget: the typed number, or the unique directory match.
function resolvedTarget() {
  if (dirResults.length === 1 || dirIndex >= 0) choose(dirIndex >= 0 ? dirIndex : 0);
  return $("target").value.trim();
}

// ---- operations ----------------------------------------------------------

async function setState(want) {
  const cur = agent().state || "disconnected";
  if (want === cur) return;
  if (want === "disconnected") {
    if (!(await ask({ title: t("state.disconnected"), text: t("warn.disconnect", { state: t("state." + cur) }) }))) return;
    await run("close", { confirm: true });
  } else if (want === "paused") {
    await run(cur === "connected" ? "logout" : "login");
  } else if (await run("login") && cur === "disconnected") {
    await run("login");
  }
}

async function park() {
  const v = await ask({ title: t("park.title"), fields: [{ name: "note", label: t("park.note") }] });
  if (v) await run("park", v.note ? { note: v.note } : {});
}

async function parkOn() {
  const v = await ask({ title: t("parkOn.title"), fields: [
    { name: "extension", label: t("parkOn.extension"), value: $("target").value.trim() },
    { name: "note", label: t("park.note") }] });
  if (v && v.extension) await run("park_on", v.note ? { extension: v.extension, note: v.note } : { extension: v.extension });
}

async function holdOrRetrieve() {
  const l1 = call(agent().line1);
  if (!l1) return;
  await run(l1.state === "held" ? "retrieve" : "hold");
}

async function transfer(chain) {
  const target = resolvedTarget();
  if (target && await run("transfer", chain ? { target, chain: true } : { target })) $("target").value = "";
}

async function consult() {
  const target = resolvedTarget();
  if (target && await run("consult", { target })) $("target").value = "";
}

async function dial() {
  const number = resolvedTarget();
  if (number && await run("dial", { number })) $("target").value = "";
}

async function reportProblem() {
  let recent = [];
  try { recent = (await conn.api("GET", "/history?consistency=stale")).entries; } catch (e) { fail(e); return; }
  const options = [...new Map((recent || []).map((h) => [h.call, h])).values()].slice(0, 20)
    .map((h) => ({ value: h.call, label: `${new Date(h.at / 1e6).toLocaleTimeString()} ${h.number || h.name || h.call} ${h.op}` }));
  if (!options.length) options.push({ value: "", label: "—" });
  const v = await ask({ title: t("report.title"), fields: [
    { name: "call", label: t("report.call"), type: "select", options, value: options[0].value },
    { name: "description", label: t("report.description") },
    { name: "reset", label: t("report.reset"), type: "checkbox" }] });
  if (!v || !v.description) return;
  if (v.reset && !(await ask({ title: t("report.title"), text: t("report.confirmReset") }))) return;
  const body = { call: v.call, description: v.description };
  if (v.reset) Object.assign(body, { reset: true, confirm: true });
  if (await run("report_problem", body)) say(t("report.sent"));
}

async function updateNote() {
  const s = (doc.supervised || []).find((x) => x.call === selected);
  if (!s) return;
  const v = await ask({ title: t("note.title"), fields: [{ name: "note", label: t("sup.note"), value: s.note || "" }] });
  if (v) await run("note", { call: s.call, note: v.note });
}

async function loadHistory() {
  const missed = document.querySelector('input[name="hist"]:checked').value === "missed";
  try {
    const view = await conn.api("GET", "/history?consistency=stale" + (missed ? "&filter=missed" : ""));
    const tr = view.trend || {};
    $("history-trend").textContent = t("history.trend", { made: tr.made || 0, answered: tr.answered || 0, missed: tr.missed || 0 });
    const body = $("history-rows");
    body.replaceChildren();
    for (const h of view.entries || []) {
      body.append(el("tr", {}, el("td", {}, new Date(h.at / 1e6).toLocaleString()), el("td", {}, h.name || h.number || ""),
        el("td", {}, h.op), el("td", {}, dur(h.duration_ms)), el("td", {}, h.note || ""), el("td", {}, h.extension || "")));
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 6 }, t("history.empty"))));
    applyColumns();
  } catch (e) { fail(e); }
}

// ---- speed dials ---------------------------------------------------------

// Speed dials: keys with label 1 (the number when empty), label 2, a
// colour of the palette, on two pages; the line state on them is a
// preference. The configuration's keys are the operator's defaults
// until it sets up its own (kept in its preferences by the cluster:
// POST ops/preferences with own_speed_dials); "back to the defaults"
// drops its own. PALETTE is contactcenter.SpeedDialColours (TestUIContrast).
const PALETTE = ["grey", "blue", "green", "yellow", "orange", "red", "purple", "teal"];
const SD_PAGES = 2, SD_PER_PAGE = 50;
let speedDials = [], speedPage = 1;
// speedDialsRev: the preferences revision known when speedDials was
// read (the list is at least that recent); a set-up saves from it.
let speedDialsRev = 0;

async function loadSpeedDials() {
  if (!conn) return;
  const rev = prefsRevision;
  try {
    speedDials = (await conn.api("GET", "/speed-dials?consistency=stale")) || [];
    speedDialsRev = rev;
    renderSpeedDials();
  } catch (e) { fail(e); }
}

function renderSpeedDials() {
  for (const b of document.querySelectorAll("#pane-speed [data-page]")) b.setAttribute("aria-pressed", String(Number(b.dataset.page) === speedPage));
  const box = $("speed-dials");
  box.replaceChildren();
  for (const sd of speedDials.filter((x) => x.page === speedPage)) {
    const b = el("button", { type: "button", class: "speed-dial" + (sd.colour ? " sd-" + sd.colour : ""), "data-number": sd.number,
      "data-page": String(sd.page), "data-position": String(sd.position), "data-colour": sd.colour || "" },
    el("span", { class: "sd-label" }, sd.label || sd.number));
    if (sd.label2) b.append(el("span", { class: "sd-label2" }, sd.label2));
    if (prefs.sdLineState && sd.line_status) b.append(el("span", { class: "sd-line" }, t("line.status." + sd.line_status)));
    b.title = `${sd.number}${sd.label2 ? " · " + sd.label2 : ""}`;
    b.onclick = () => { $("target").value = sd.number; render(); dial(); };
    box.append(b);
  }
  if (!box.children.length) box.append(t("speed.empty"));
  $("speed-line-state").checked = prefs.sdLineState;
  if ($("speed-editor").hidden) return;
  $("speed-source").textContent = speedDials.some((x) => x.default) || !prefs.ownSpeedDials ? t("speed.usingDefaults") : t("speed.usingOwn");
  const body = $("speed-rows");
  body.replaceChildren();
  speedDials.forEach((sd, i) => {
    const edit = el("button", { type: "button", class: "sd-edit" }, t("speed.edit"));
    edit.onclick = () => editSpeedDial(i);
    const del = el("button", { type: "button", class: "sd-delete" }, t("vm.delete"));
    del.onclick = () => deleteSpeedDial(i);
    body.append(el("tr", { "data-page": String(sd.page), "data-position": String(sd.position), "data-number": sd.number },
      el("td", {}, String(sd.page)), el("td", {}, String(sd.position)), el("th", { scope: "row" }, sd.label || ""),
      el("td", {}, sd.label2 || ""), el("td", {}, sd.number),
      el("td", { class: sd.colour ? "sd-" + sd.colour : "" }, sd.colour ? t("speed.colour." + sd.colour) : t("speed.colour.none")),
      el("td", {}, edit, " ", del)));
  });
  if (!speedDials.length) body.append(el("tr", {}, el("td", { colSpan: 7 }, t("speed.empty"))));
}

// ownList is the operator's set as it stands (the defaults, placed by
// the server, when it has none yet): what an edit starts from.
const ownList = () => speedDials.map((x) => {
  const o = { label: x.label || "", number: x.number, page: x.page, position: x.position };
  if (x.label2) o.label2 = x.label2;
  if (x.colour) o.colour = x.colour;
  return o;
});

// saveSpeedDials replaces the preferences with change applied (the
// server checks them: a refusal names the field and changes nothing).
// rev is the revision the edited list was read at: when another console
// saved since, nothing is saved, the list is reloaded (with the other
// console's keys) and the operator makes the change again.
async function saveSpeedDials(change, rev = speedDialsRev) {
  const r = await savePreferences({ ...prefs, ...change }, rev);
  if (r === "stale") {
    await loadSpeedDials();
    fail(t("speed.stale"));
    return false;
  }
  if (!r) { renderSpeedDials(); return false; }
  // Linearizable: the node read has applied the save, so the revision
  // known from now on is the saved one, and the list read next (stale,
  // from that node) is at least as recent — a node that has not applied
  // the save yet (a secondary, after a failover) would leave the next
  // change naming the revision before it, refused as stale.
  await conn.readState("linearizable").catch(() => {});
  await loadSpeedDials();
  say(t("speed.saved"));
  return true;
}

async function editSpeedDial(i) {
  const rev = speedDialsRev, list = ownList();
  const cur = i >= 0 ? list[i] : { label: "", number: $("target").value.trim(), page: speedPage, position: 0 };
  if (i < 0) { // the first free position of the page shown
    const used = new Set(list.filter((x) => x.page === speedPage).map((x) => x.position));
    cur.position = 1;
    while (used.has(cur.position) && cur.position < SD_PER_PAGE) cur.position++;
  }
  const v = await ask({ title: t(i >= 0 ? "speed.editTitle" : "speed.addTitle"), fields: [
    { name: "label", label: t("speed.label"), value: cur.label },
    { name: "label2", label: t("speed.label2"), value: cur.label2 || "" },
    { name: "number", label: t("speed.number"), value: cur.number },
    { name: "colour", label: t("speed.colour"), type: "palette", value: cur.colour || "",
      options: [{ value: "", label: t("speed.colour.none") }, ...PALETTE.map((c) => ({ value: c, label: t("speed.colour." + c) }))] },
    { name: "page", label: t("speed.page"), type: "select", value: String(cur.page),
      options: Array.from({ length: SD_PAGES }, (_, k) => ({ value: String(k + 1), label: String(k + 1) })) },
    { name: "position", label: t("speed.position"), type: "number", value: String(cur.position) },
  ] });
  if (!v) return;
  const sd = { label: v.label.trim(), number: v.number.trim(), page: Number(v.page), position: Number(v.position) };
  if (v.label2.trim()) sd.label2 = v.label2.trim();
  if (v.colour) sd.colour = v.colour;
  if (i >= 0) list[i] = sd; else list.push(sd);
  if (await saveSpeedDials({ ownSpeedDials: true, speedDials: list }, rev)) { speedPage = sd.page; renderSpeedDials(); }
}

async function deleteSpeedDial(i) {
  const rev = speedDialsRev, list = ownList();
  if (!(await ask({ title: t("vm.delete"), text: t("speed.confirmDelete", { label: list[i].label || list[i].number }) }))) return;
  list.splice(i, 1);
  await saveSpeedDials({ ownSpeedDials: true, speedDials: list }, rev);
}

async function speedDefaults() {
  const rev = speedDialsRev;
  if (!(await ask({ title: t("speed.defaults"), text: t("speed.confirmDefaults") }))) return;
  await saveSpeedDials({ ownSpeedDials: false, speedDials: [] }, rev);
}

// ---- directory search fields ----------------------------------------------

// The directory tab: the configured search fields (settings.
// directory_search), each with its label and filled in with its default
// value, searched together (GET /directory?<field>=…, "all" for the
// "search all" fields).
let dirFieldsSeen = "", dirFieldsTimer = null;

function renderSearchFields() {
  const fields = (doc && doc.directory_search) || [];
  const key = JSON.stringify(fields);
  if (key === dirFieldsSeen) return;
  dirFieldsSeen = key;
  const form = $("dir-search");
  form.replaceChildren();
  for (const f of fields) {
    const id = "dir-field-" + f.field;
    form.append(el("label", { htmlFor: id }, f.label), el("input", { id, type: "search", autocomplete: "off", value: f.default || "", "data-field": f.field }));
  }
  if (fields.length) form.append(el("button", { type: "submit" }, t("dir.search")));
  else form.append(el("span", { class: "help" }, t("dir.noFields")));
  if (!$("pane-directory").hidden) searchByFields();
}

async function searchByFields() {
  if (!conn || $("pane-directory").hidden) return;
  const inputs = [...document.querySelectorAll("#dir-search input[data-field]")];
  if (!inputs.length) { $("dir-rows").replaceChildren(); return; }
  const qs = inputs.map((i) => `${encodeURIComponent(i.dataset.field)}=${encodeURIComponent(i.value.trim())}`).join("&");
  try {
    const list = (await conn.api("GET", "/directory?consistency=stale&limit=100&" + qs)) || [];
    const body = $("dir-rows");
    body.replaceChildren();
    for (const d of list.slice(0, 100)) {
      const name = d.name || [d.first_name, d.last_name].filter(Boolean).join(" ");
      const num = d.extension || d.phone || d.mobile || "";
      const call = el("button", { type: "button", class: "dir-dial" }, t("btn.dial"));
      call.onclick = () => { $("target").value = num; render(); dial(); };
      call.disabled = !num;
      body.append(el("tr", { "data-id": d.id, "data-number": num }, el("th", { scope: "row" }, name), el("td", {}, d.company || ""),
        el("td", {}, num), el("td", {}, d.line_status ? t("line.status." + d.line_status) : ""), el("td", {}, call)));
    }
    if (!list.length) body.append(el("tr", {}, el("td", { colSpan: 5 }, t("dir.none"))));
  } catch (e) { fail(e); }
}

// loadVoicemail lists the operator's own and monitored mailboxes, with
// marking as old and deleting (after a confirmation).
async function loadVoicemail() {
  if ($("pane-voicemail").hidden || !conn) return;
  try {
    const boxes = await conn.api("GET", "/voicemail?consistency=stale");
    const body = $("voicemail-rows");
    body.replaceChildren();
    for (const box of boxes || []) {
      for (const [folder, list] of [["inbox", box.inbox], ["old", box.old]]) {
        for (const m of list || []) {
          const actions = el("td", {});
          if (folder === "inbox") {
            const old = el("button", { type: "button", class: "vm-old" }, t("vm.markOld"));
            old.onclick = async () => { if (await run("voicemail_mark", { mailbox: box.mailbox, message: m.id, folder: "old" })) loadVoicemail(); };
            actions.append(old, " ");
          }
          let player = null;
          if (m.audio_bytes > 0) {
            const play = el("button", { type: "button", class: "vm-play", "aria-label": t("vm.playLabel", { from: m.name || m.from || m.id }) }, t("vm.play"));
            play.onclick = () => playVoicemail(box.mailbox, m.id, play, player);
            player = el("audio", { class: "vm-audio", controls: true, preload: "none", hidden: true });
            actions.append(play, " ");
          }
          const info = el("button", { type: "button", class: "vm-details" }, t("vm.details"));
          info.onclick = () => ask({ title: t("vm.details"), text: t("vm.detailsText", { mailbox: box.mailbox, from: m.from || "",
            name: m.name || "", at: new Date(m.at / 1e6).toLocaleString(), s: m.duration_seconds || 0, folder: t("vm.folder." + folder) }) });
          actions.append(info, " ");
          const del = el("button", { type: "button", class: "vm-delete" }, t("vm.delete"));
          del.onclick = async () => {
            if (!(await ask({ title: t("vm.delete"), text: t("vm.confirmDelete", { from: m.name || m.from || m.id }) }))) return;
            if (await run("voicemail_delete", { mailbox: box.mailbox, message: m.id })) loadVoicemail();
          };
          actions.append(del);
          if (player) actions.append(player);
          body.append(el("tr", { "data-message": m.id, "data-folder": folder }, el("th", { scope: "row" }, box.mailbox),
            el("td", {}, t("vm.folder." + folder)), el("td", {}, m.name || m.from || ""),
            el("td", {}, new Date(m.at / 1e6).toLocaleString()), el("td", {}, dur(m.duration_seconds * 1000)), actions));
        }
      }
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colSpan: 6 }, t("vm.empty"))));
    applyColumns();
  } catch (e) { fail(e); }
}

// playVoicemail fetches a message's recording (audio/wav, with the
// session's token: the same rules as the list) and plays it in the row's
// audio element.
async function playVoicemail(mailbox, message, button, player) {
  button.disabled = true;
  try {
    const blob = await conn.blob("/voicemail/" + encodeURIComponent(mailbox) + "/" + encodeURIComponent(message) + "/audio");
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(blob);
    player.hidden = false;
    await player.play().catch(() => {}); // autoplay refused: its controls stay
  } catch (e) { fail(e); } finally { button.disabled = false; }
}

// Voicemail PINs: monitoring another extension's mailbox takes its PIN,
// checked by the server (green when right, red when wrong — also said in
// words); the operator sets or changes its own mailbox's PIN. PINs are
// sent once and never kept or shown by the page.
async function monitorMailbox(e, on = true) {
  e?.preventDefault?.();
  const out = $("vm-pin-result"), ext = $("vm-ext").value.trim(), pin = $("vm-pin");
  out.className = ""; out.textContent = "";
  try {
    await conn.api("POST", "/voicemail/monitor", on ? { mailbox: ext, pin: pin.value, monitor: true } : { mailbox: ext, monitor: false });
    out.className = "pin-right"; out.textContent = t(on ? "vm.pinRight" : "vm.unmonitored", { mailbox: ext });
    pin.removeAttribute("aria-invalid");
    loadVoicemail();
  } catch (err) {
    out.className = "pin-wrong";
    out.textContent = err.status === 403 ? t("vm.pinWrong", { mailbox: ext }) : err.message;
    pin.setAttribute("aria-invalid", "true");
  } finally { pin.value = ""; }
}

async function setMailboxPIN() {
  const v = await ask({ title: t("vm.setPin"), fields: [
    { name: "current", label: t("vm.pinCurrent"), type: "password" }, { name: "pin", label: t("vm.pinNew"), type: "password" }] });
  if (!v) return;
  const out = $("vm-pin-result");
  try {
    await conn.api("POST", "/voicemail/pin", v.current ? { pin: v.pin, current: v.current } : { pin: v.pin });
    out.className = "pin-right"; out.textContent = t("vm.pinSet");
  } catch (err) {
    out.className = "pin-wrong";
    out.textContent = err.status === 403 ? t("vm.pinCurrentWrong") : err.message;
  }
}

// loadReceptionists fills the receptionists tab: every operator, its
// queues and state (read, not streamed: other operators' events are not
// in this console's stream).
async function loadReceptionists() {
  if ($("pane-receptionists").hidden || !conn) return;
  try {
    const list = await conn.api("GET", "/receptionists?consistency=stale");
    const body = $("receptionist-rows");
    body.replaceChildren();
    for (const r of list || []) {
      const state = t("state." + r.state) + (r.on_call ? " · " + t("rec.onCall") : "");
      body.append(el("tr", { "data-agent": r.agent, "data-state": r.state }, el("th", { scope: "row" }, r.name || r.agent),
        el("td", {}, r.extension || ""), el("td", {}, (r.queues || []).join(", ")), el("td", {}, state)));
    }
    applyColumns();
  } catch (e) { fail(e); }
}

// ---- keyboard ------------------------------------------------------------

// Shortcuts: a predefined set per console state (PRESET, below the
// fixed keys of onKey), the operator's own per-state set over it, and
// global shortcuts over both (preferences; empty by default). Keys are
// KeyboardEvent.key names with Ctrl+, Alt+, Shift+ (keyName). The action
// names are console.ShortcutActions (TestUIVocabulary).
const shortcutActions = {
  accept: () => run("answer"), hangup: () => run("hangup"), hold: () => holdOrRetrieve(), park: () => park(),
  park_on: () => parkOn(), observe: () => run("camp_on"), transfer: () => transfer(false), chain: () => transfer(true),
  consult: () => consult(), complete: () => run("complete"), cancel: () => run("cancel_consult"), dial: () => dial(),
  retrieve: () => !$("btn-retrieve-sup").disabled && run("retrieve", { call: selected }),
  couple: () => !$("btn-couple").disabled && run("couple", { call: selected }),
  report: () => reportProblem(), note: () => !$("btn-note").disabled && updateNote(),
  state_disconnected: () => setState("disconnected"), state_paused: () => setState("paused"),
  state_connected: () => setState("connected"), prefs: () => openPrefs(), focus_target: () => $("target").focus(),
};
const PRESET = {
  disconnected: { F9: "state_paused" },
  paused: { F9: "state_connected", "Shift+F9": "state_disconnected" },
  connected: { "Shift+F9": "state_paused" },
};
function keyName(e) {
  const k = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  return (e.ctrlKey ? "Ctrl+" : "") + (e.altKey ? "Alt+" : "") + (e.shiftKey && e.key.length > 1 ? "Shift+" : "") + (e.metaKey ? "Meta+" : "") + k;
}
function shortcutFor(state, key) {
  const own = (st) => prefs.shortcuts.find((x) => x.state === st && x.key === key);
  const hit = own("global") || own(state);
  return shortcutActions[hit ? hit.action : (PRESET[state] || {})[key]];
}
// parseShortcuts reads "F4=hangup Ctrl+K=park" for one state.
function parseShortcuts(state, text) {
  const out = [];
  for (const part of String(text || "").split(/[\s,]+/).filter(Boolean)) {
    const [key, action] = part.split("=");
    out.push({ state, key: key.length === 1 ? key.toUpperCase() : key, action: action || "" });
  }
  return out;
}
const showShortcuts = (state) => prefs.shortcuts.filter((x) => x.state === state).map((x) => `${x.key}=${x.action}`).join(" ");

function onKey(e) {
  if (!doc || !$("modal").hidden) return;
  const own = shortcutFor(agent().state || "disconnected", keyName(e));
  if (own) { e.preventDefault(); own(); return; }
  const a = agent(), l1 = call(a.line1), l2 = call(a.line2), offer = call(a.offer);
  const inTarget = document.activeElement === $("target");
  switch (e.key) {
    case "F2": e.preventDefault(); run("hangup"); return;
    case "F7": e.preventDefault(); park(); return;
    case "F8": e.preventDefault(); parkOn(); return;
    case "F10": e.preventDefault(); run("camp_on"); return;
    case "Enter": {
      const tag = document.activeElement && document.activeElement.tagName;
      if (!inTarget && (tag === "TEXTAREA" || tag === "SELECT" || tag === "INPUT")) return;
      // A ringing call: Enter accepts wherever the focus is.
      // Focus moves to the lines, so that no focused button also takes
      // this Enter.
      if (offer && !l1) { e.preventDefault(); $("lines").focus(); run("answer"); return; }
      if (!inTarget && (tag === "BUTTON" || tag === "A" || document.activeElement?.closest?.("#sup-rows"))) return;
      e.preventDefault();
      if (inTarget && $("target").value.trim()) {
        if (l1 && l1.state === "held" && !l2) consult();
        else if (l1 && !l2) transfer(false);
        else if (!l1) dial();
      } else if (l2 && l2.state === "talking") run("complete");
      else if (l1 && l1.state === "talking" && !l2) { run("hold"); $("target").focus(); }
      return;
    }
    case "ArrowDown": case "ArrowUp":
      if (inTarget && dirResults.length) {
        e.preventDefault();
        const n = Math.min(dirResults.length, 20);
        dirIndex = (dirIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        showDirectory(dirResults);
      }
      return;
    case "Escape": if (inTarget) showDirectory([]); return;
  }
}

// ---- failover UI ---------------------------------------------------------

// countdown redraws the automatic mode's notice while its grace runs.
let countdown = null;

// onTrouble shows the notice and the error icon. In automatic mode the
// notice counts the grace down (whole seconds left, from the failure);
// the notice's data-failed-at (epoch ms) and data-grace-ms say when the
// console saw the failure and how long it waits.
function onTrouble(tr) {
  clearInterval(countdown); countdown = null;
  const from = tr.from.id, to = tr.to ? tr.to.id : "";
  const draw = () => {
    const s = Math.max(0, Math.ceil((tr.at + tr.graceMs - performance.now()) / 1000));
    $("notice-text").textContent = !to ? t("notice.noSecondary", { from })
      : tr.auto ? t("notice.failedAuto", { from, to, s }) : t("notice.failed", { from, to });
  };
  draw();
  if (tr.auto && to && tr.graceMs > 0) countdown = setInterval(draw, 200);
  $("notice").dataset.failedAt = String(tr.wall);
  $("notice").dataset.graceMs = tr.auto ? String(tr.graceMs) : "";
  $("notice").hidden = false;
  $("failover-icon").hidden = false;
  if (!tr.auto) $("notice-ok").focus();
}

function onSwitched(s) {
  clearInterval(countdown); countdown = null;
  $("notice").hidden = true;
  $("failover-icon").hidden = true;
  document.body.dataset.switchMs = String(s.ms);
  document.body.dataset.switchedAt = String(Date.now()); // able to act on the new node (bench)
  say(t("status.switched", { from: s.from.id, to: s.to.id, pos: s.pos }));
  renderTitle();
}

// ---- session -------------------------------------------------------------

async function startConsole(token, who) {
  session = who;
  $("login").hidden = true;
  $("app").hidden = false;
  conn = new Conn(token, {
    onState: (d) => { doc = d; prefsRevision = d.preferences_revision || 0; fromServer(d.preferences); render(); },
    onEvents: logEvents,
    onRole: renderTitle,
    onTrouble,
    onSwitched,
    onReload: () => say(t("status.reloaded")),
    onError: (e) => { if (e.status === 401) logoutLocal(); else fail(e); },
  }, prefs);
  try {
    await conn.start();
  } catch (e) {
    if (e.status === 401) { logoutLocal(); return; }
    fail(e);
    return;
  }
  document.body.dataset.ready = "1";
  loadSpeedDials();
  // Auto Login (a preference): log in (to Paused) when the console starts.
  if (prefs.autoLogin && (agent().state || "disconnected") === "disconnected") run("login");
}

function logoutLocal() {
  conn?.stop();
  clearInterval(countdown); countdown = null;
  conn = null; doc = null; session = null; prefsSeen = ""; prefsRevision = 0; speedDialsRev = 0;
  sessionStorage.removeItem(TOKEN);
  delete document.body.dataset.ready;
  $("app").hidden = true;
  $("login").hidden = false;
  $("activity").replaceChildren();
  $("login-user").focus();
}

async function logout() {
  const cur = agent().state || "disconnected";
  if (cur !== "disconnected") {
    if (!(await ask({ title: t("toolbar.logout"), text: t("warn.logout", { state: t("state." + cur) }) }))) return;
    if (!(await run("close", { confirm: true }))) return;
  }
  logoutLocal();
}

async function login(e) {
  e.preventDefault();
  $("login-error").textContent = "";
  const user = $("login-user").value.trim(), password = $("login-password").value;
  try {
    const r = await request("", "", "POST", "/session", { user, password });
    $("login-password").value = "";
    if (!r.agent) { $("login-error").textContent = t("login.notOperator", { user }); return; }
    sessionStorage.setItem(TOKEN, JSON.stringify({ token: r.token, user: r.user, agent: r.agent }));
    startConsole(r.token, { user: r.user, agent: r.agent });
  } catch (err) {
    $("login-error").textContent = err.message;
  }
}

const STATES = ["disconnected", "paused", "connected", "global"];
// COLUMNS are console.Columns: the columns an operator may hide.
const COLUMNS = () => [...document.querySelectorAll("table[data-list] th[data-col]")].map((th) => ({
  id: th.closest("table").dataset.list + "." + th.dataset.col, label: `${t("cols.list." + th.closest("table").dataset.list)}: ${th.textContent}` }));

// openPrefs edits the preferences in the dialog. changes (after a save
// another console's overtook) are the operator's edits, by field: shown
// over the reloaded preferences, with a notice, to apply again.
async function openPrefs(changes = null) {
  const cols = COLUMNS();
  const base = { ...prefs }, rev = prefsRevision; // what this edit is made from
  const fields = [
    { name: "lang", label: t("prefs.lang"), type: "select", value: prefs.lang,
      options: languages.map((l) => ({ value: l, label: l === "es" ? "Español" : "English" })) },
    { name: "auto", label: t("prefs.auto"), type: "checkbox", value: prefs.auto },
    { name: "graceSeconds", label: t("prefs.grace"), type: "number", value: prefs.graceSeconds },
    { name: "autoLogin", label: t("prefs.autoLogin"), type: "checkbox", value: prefs.autoLogin },
    { name: "supGeneral", label: t("prefs.supGeneral"), type: "checkbox", value: prefs.supGeneral },
    { name: "timeFormat", label: t("prefs.timeFormat"), type: "select", value: prefs.timeFormat,
      options: ["clock", "cumulative", "previous"].map((f) => ({ value: f, label: t("prefs.time." + f) })) },
    { name: "onIncoming", label: t("prefs.onIncoming"), type: "select", value: prefs.onIncoming,
      options: ["none", "focus", "notify"].map((f) => ({ value: f, label: t("prefs.incoming." + f) })) },
    { name: "ringTone", label: t("prefs.ringTone"), type: "checkbox", value: prefs.ringTone },
    { name: "textSize", label: t("prefs.textSize"), type: "select", value: prefs.textSize,
      options: ["small", "normal", "large"].map((f) => ({ value: f, label: t("prefs.size." + f) })) },
    { name: "sdLineState", label: t("speed.lineState"), type: "checkbox", value: prefs.sdLineState },
    ...STATES.map((st) => ({ name: "keys-" + st, value: showShortcuts(st),
      label: st === "global" ? t("prefs.shortcuts", { actions: Object.keys(shortcutActions).join(", ") })
        : t("prefs.shortcutsState", { state: t("state." + st), preset: Object.entries(PRESET[st]).map(([k, a]) => `${k}=${a}`).join(" ") }) })),
    ...cols.map((c) => ({ name: "col-" + c.id.replace(".", "-"), label: t("prefs.hide", { column: c.label }), type: "checkbox", value: prefs.hidden.includes(c.id) })),
  ];
  const shown = Object.fromEntries(fields.map((f) => [f.name, String(f.value)])); // the preferences as read
  if (changes) for (const f of fields) if (f.name in changes) f.value = changes[f.name];
  const v = await ask({ title: t("prefs.title"), text: changes ? t("prefs.stale") : "", fields });
  if (!v) return;
  const grace = String(v.graceSeconds).trim() === "" ? 0 : Number(v.graceSeconds);
  const next = { ...base, lang: v.lang, auto: v.auto, graceSeconds: Number.isFinite(grace) ? grace : v.graceSeconds, // the server names a bad one
    autoLogin: v.autoLogin, supGeneral: v.supGeneral, sdLineState: v.sdLineState, timeFormat: v.timeFormat, onIncoming: v.onIncoming, ringTone: v.ringTone, textSize: v.textSize,
    hidden: cols.filter((c) => v["col-" + c.id.replace(".", "-")]).map((c) => c.id),
    shortcuts: STATES.flatMap((st) => parseShortcuts(st, v["keys-" + st])) };
  // Checked by the server (the edge): a refusal names the field and
  // changes nothing; the saved preferences come back with the state.
  const r = await savePreferences(next, rev);
  if (r === "stale") {
    // Another console saved meanwhile: nothing of this edit was saved
    // and the preferences are reloaded. The operator's own edits (the
    // fields it changed from what it read) go over them in the dialog
    // again, with a notice; everything else is the other console's.
    const mine = {};
    for (const f of fields) if (String(v[f.name]) !== shown[f.name]) mine[f.name] = v[f.name];
    say(t("prefs.stale"));
    return openPrefs(mine);
  }
  if (!r) return;
  if (next.onIncoming === "notify" && "Notification" in window && Notification.permission === "default") Notification.requestPermission();
  say(t("prefs.saved"));
  await conn.readState("linearizable").catch(() => {}); // the saved revision known (saveSpeedDials)
  render();
  if (!$("pane-history").hidden) loadHistory();
  loadReceptionists();
  loadSpeedDials();
}

function tabs() {
  const list = [...document.querySelectorAll('[role="tab"]')];
  const show = (tab) => {
    for (const x of list) {
      const on = x === tab;
      x.setAttribute("aria-selected", String(on)); x.tabIndex = on ? 0 : -1;
      $(x.getAttribute("aria-controls")).hidden = !on;
    }
    if (tab.id === "tab-history") loadHistory();
    if (tab.id === "tab-speed") loadSpeedDials();
    if (tab.id === "tab-directory") searchByFields();
    if (tab.id === "tab-receptionists") loadReceptionists();
    if (tab.id === "tab-voicemail") loadVoicemail();
  };
  for (const x of list) {
    x.onclick = () => show(x);
    x.onkeydown = (e) => {
      const i = list.indexOf(x);
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const n = list[(i + (e.key === "ArrowRight" ? 1 : list.length - 1)) % list.length];
        n.focus(); show(n);
      }
    };
  }
}

function wire() {
  $("login-form").onsubmit = login;
  $("state-disconnected").onclick = () => setState("disconnected");
  $("state-paused").onclick = () => setState("paused");
  $("state-connected").onclick = () => setState("connected");
  $("logout-button").onclick = logout;
  $("prefs-button").onclick = () => openPrefs();
  $("failover-icon").onclick = () => conn && conn.switchOver();
  $("notice-ok").onclick = () => { $("notice").hidden = true; }; // does not switch
  $("btn-accept").onclick = () => run("answer");
  $("btn-hangup").onclick = () => run("hangup");
  $("btn-hold").onclick = holdOrRetrieve;
  $("btn-park").onclick = park;
  $("btn-park-on").onclick = parkOn;
  $("btn-transfer").onclick = () => transfer(false);
  $("btn-chain").onclick = () => transfer(true);
  $("btn-consult").onclick = consult;
  $("btn-complete").onclick = () => run("complete");
  $("btn-cancel-consult").onclick = () => run("cancel_consult");
  $("btn-observe").onclick = () => run("camp_on");
  $("btn-dial").onclick = dial;
  $("btn-report").onclick = reportProblem;
  $("btn-mail-reply").onclick = () => mailAnswer(false);
  $("btn-mail-forward").onclick = () => mailAnswer(true);
  $("btn-retrieve-sup").onclick = () => selected && run("retrieve", { call: selected });
  $("btn-couple").onclick = () => selected && run("couple", { call: selected });
  $("btn-note").onclick = updateNote;
  $("vm-monitor").onsubmit = (e) => monitorMailbox(e, true);
  $("vm-unmonitor-btn").onclick = () => monitorMailbox(null, false);
  $("vm-set-pin").onclick = setMailboxPIN;
  for (const b of document.querySelectorAll("#pane-speed [data-page]")) b.onclick = () => { speedPage = Number(b.dataset.page); renderSpeedDials(); };
  $("speed-setup").onclick = () => {
    const ed = $("speed-editor");
    ed.hidden = !ed.hidden;
    $("speed-setup").setAttribute("aria-expanded", String(!ed.hidden));
    renderSpeedDials();
  };
  $("speed-add").onclick = () => editSpeedDial(-1);
  $("speed-defaults").onclick = speedDefaults;
  $("speed-line-state").onchange = (e) => saveSpeedDials({ sdLineState: e.target.checked });
  $("dir-search").onsubmit = (e) => { e.preventDefault(); searchByFields(); };
  $("dir-search").oninput = () => { clearTimeout(dirFieldsTimer); dirFieldsTimer = setTimeout(searchByFields, 200); };
  $("sup-all").onchange = renderSupervision;
  $("sup-search").oninput = renderSupervision;
  $("target").oninput = searchDirectory;
  $("target").onblur = () => setTimeout(() => showDirectory([]), 150);
  for (const r of document.querySelectorAll('input[name="hist"]')) r.onchange = loadHistory;
  document.addEventListener("keydown", onKey);
  tabs();
  setInterval(tick, 1000);
  setInterval(loadReceptionists, 5000); // only while its tab shows
  // Other operators' personal-queue calls and the general queue's are not
  // all in this console's stream: re-read while they are shown.
  setInterval(() => { if (conn && doc && ($("sup-all").checked || prefs.supGeneral)) conn.refresh(); }, 3000);
}

setLang(prefs.lang);
applyTextSize();
applyColumns();
applyDom();
wire();
const saved = stored(sessionStorage, TOKEN);
if (saved && saved.token) startConsole(saved.token, saved);
else { $("login").hidden = false; $("login-user").focus(); }
// For tests and diagnostics: the console's connection state, no secrets.
window.tandemConsole = {
  get role() { return conn ? conn.role : ""; },
  get listening() { return conn ? conn.listening.id : ""; },
  get standby() { return conn && conn.standby ? conn.standby.id : ""; },
  get position() { return conn && conn.last ? fmtPos(conn.last) : ""; },
  // The failover mode in force (the user's preferences as the server
  // keeps them): "manual" or "automatic", and the grace in seconds.
  get failoverMode() { return prefs.auto ? "automatic" : "manual"; },
  get graceSeconds() { return Number(prefs.graceSeconds); },
};
