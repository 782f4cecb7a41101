// The bundled chat widget: opens a chat session through the public API on
// the same origin (POST /api/v1/chats with web.md's parameters: the
// page's language, and chat_language, priority, source, destination,
// business_unit and any other key from the page's query string), then
// talks over the session's WebSocket: messages shown from the server's
// transcript in sequence order (each once), the customer's messages sent
// with an id and sent again after a reconnect until acknowledged, the
// agent's typing shown, a lost connection resumed with since = the last
// sequence number received. Every code is shown in the page's language.
(function () {
  "use strict";
  var s = JSON.parse(document.getElementById("strings").textContent);
  var lang = document.documentElement.lang;
  var query = new URLSearchParams(window.location.search);
  var el = function (id) { return document.getElementById(id); };
  var result = el("result"), state = el("state"), list = el("messages"), typing = el("typing");
  var storeKey = "tandem-chat:" + window.location.pathname + window.location.search;
  var session = "", last = 0, ws = null, ended = false, failures = 0, typingTimer = 0, lastTyping = 0, answered = false;
  var pending = []; // [{id, text}] sent, not yet acknowledged, in order

  function message(code) { return s.codes[String(code)] || s.codes["1000"]; }
  function show(code) {
    result.className = code ? "error" : "";
    result.textContent = code ? message(code) : "";
    if (code) { result.setAttribute("data-code", String(code)); } else { result.removeAttribute("data-code"); }
  }
  function setState(key, status) {
    state.textContent = s.strings[key];
    state.setAttribute("data-status", status);
  }
  function save() {
    try { window.sessionStorage.setItem(storeKey, JSON.stringify({ session: session, pending: pending })); } catch (e) { /* storage off: no resume after a reload */ }
  }
  function randomID() {
    var b = new Uint8Array(8);
    window.crypto.getRandomValues(b);
    return "m" + Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function apiURL(path) { return new URL("../../api/v1/" + path, window.location.href); }

  // The parameters of web.md: the standard ones by name, any other key
  // of the query into the contact's data (the server checks them all).
  function startBody() {
    var body = { language: lang, chat_language: query.get("chat_language") || lang,
      customer_name: el("customer_name").value, caption: el("caption").value };
    query.forEach(function (v, k) {
      if (k === "chat_language" || k === "language" || k === "customer_name" || k === "caption") { return; }
      if (k === "priority") {
        body.priority = /^[0-9]+$/.test(v) ? Number(v) : v;
        return;
      }
      body[k] = v;
    });
    return body;
  }

  el("start-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    show(0);
    el("start").disabled = true;
    fetch(apiURL("chats"), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(startBody()) })
      .then(function (resp) {
        return resp.json().then(function (data) {
          if (resp.status === 201 && data.session_id) {
            begin(data.session_id, []);
          } else {
            el("start").disabled = false;
            show(data.code || 1000);
          }
        }, function () { el("start").disabled = false; show(1003); });
      }, function () { el("start").disabled = false; show(1002); });
  });

  function begin(id, unacked) {
    session = id;
    pending = unacked;
    save();
    el("start-form").hidden = true;
    el("chat").hidden = false;
    el("chat").setAttribute("data-session", "1");
    setState("chat_waiting", "queued");
    connect();
  }

  function connect() {
    var u = apiURL("chats/" + encodeURIComponent(session) + "/ws?since=" + last);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    var sock = new WebSocket(u.href);
    ws = sock;
    sock.onopen = function () {
      failures = 0;
      show(0);
      pending.forEach(function (m) { frame({ type: "message", id: m.id, text: m.text }); });
    };
    sock.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      receive(f);
    };
    sock.onclose = function () {
      if (ws !== sock || ended) { return; }
      ws = null;
      setState("chat_reconnecting", "reconnecting");
      checkAndReconnect();
    };
  }

  // After a lost connection: the same route without the upgrade tells
  // an ended or unknown session (1007) from a server that is away.
  function checkAndReconnect() {
    failures++;
    var wait = Math.min(250 * Math.pow(2, failures), 5000);
    fetch(apiURL("chats/" + encodeURIComponent(session) + "/ws"), { cache: "no-store" }).then(function (resp) {
      return resp.json().then(function (data) {
        if (data && data.code === 1007) {
          finish("");
          show(1007);
          return;
        }
        window.setTimeout(connect, wait);
      }, function () { window.setTimeout(connect, wait); });
    }, function () {
      show(1002);
      window.setTimeout(connect, wait);
    });
  }

  function frame(f) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(f)); }
  }

  function receive(f) {
    switch (f.type) {
      case "hello":
      case "status":
        if (f.status === "connected") { answered = true; setState("chat_connected", "connected"); } else if (f.status === "queued") { setState(answered ? "chat_requeued" : "chat_waiting", "queued"); }
        break;
      case "message":
        if (f.seq <= last) { return; }
        last = f.seq;
        var li = document.createElement("li");
        li.className = f.from === "agent" ? "agent" : "customer";
        li.setAttribute("data-seq", String(f.seq));
        var who = document.createElement("span");
        who.className = "from";
        who.textContent = f.from === "agent" ? s.strings.chat_agent : s.strings.chat_you;
        var text = document.createElement("span");
        text.className = "text";
        text.textContent = f.text;
        li.appendChild(who);
        li.appendChild(text);
        list.appendChild(li);
        list.scrollTop = list.scrollHeight;
        if (f.from === "agent") { typing.hidden = true; }
        break;
      case "ack":
        pending = pending.filter(function (m) { return m.id !== f.id; });
        save();
        break;
      case "typing":
        typing.hidden = false;
        window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(function () { typing.hidden = true; }, 4000);
        break;
      case "error":
        // A refused message is not sent again; 17021 (the cluster could
        // not commit it now) is, after the next reconnect.
        if (f.id && f.code !== 17021) {
          pending = pending.filter(function (m) { return m.id !== f.id; });
          save();
        }
        show(f.code || 1000);
        if (f.code === 1007) { finish(""); }
        break;
      case "ended":
        finish(f.reason || "");
        break;
    }
  }

  function finish(reason) {
    ended = true;
    typing.hidden = true;
    setState("chat_ended", "ended");
    state.setAttribute("data-reason", reason);
    el("text").disabled = true;
    el("send").disabled = true;
    el("end").disabled = true;
    try { window.sessionStorage.removeItem(storeKey); } catch (e) { /* nothing kept */ }
    if (ws) { ws.close(); ws = null; }
    // The transcript by e-mail, once an agent has taken the chat.
    if (answered) { el("transcript-form").hidden = false; }
  }

  el("transcript-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    show(0);
    el("transcript").disabled = true;
    fetch(apiURL("chats/" + encodeURIComponent(session) + "/transcript"), { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email: el("email").value }) })
      .then(function (resp) {
        return resp.json().then(function (data) {
          if (resp.status === 202) {
            result.className = "ok";
            result.textContent = s.strings.chat_transcript_sent;
            result.removeAttribute("data-code");
          } else {
            el("transcript").disabled = false;
            show(data.code || 1000);
          }
        }, function () { el("transcript").disabled = false; show(1003); });
      }, function () { el("transcript").disabled = false; show(1002); });
  });

  el("send-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = el("text").value;
    if (!t.trim() || ended) { return; }
    var m = { id: randomID(), text: t };
    pending.push(m);
    save();
    frame({ type: "message", id: m.id, text: m.text });
    el("text").value = "";
  });
  el("text").addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTyping > 2000) {
      lastTyping = now;
      frame({ type: "typing" });
    }
  });
  el("end").addEventListener("click", function () { frame({ type: "end" }); });

  // A reload of the page goes on with its session (the whole transcript
  // again, and the messages not acknowledged yet).
  try {
    var kept = JSON.parse(window.sessionStorage.getItem(storeKey) || "null");
    if (kept && kept.session) { begin(kept.session, kept.pending || []); }
  } catch (e) { /* nothing kept */ }
})();
