// Switchboard website chat widget. Embed with
//   <script src="https://HOST/widget.js" data-department="sales" async></script>
// Options (all optional) are data- attributes of that script tag: department, color,
// position ("right" | "left"), title, greeting, strings (JSON of the texts below).
// It speaks the documented protocol (docs/PROTOCOL.md) as JSON over /ws, keeps its chat in
// localStorage (no cookies), lives in a shadow root, and loads nothing else.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__switchboardWidget) return;
  window.__switchboardWidget = true;
  const data = script.dataset;
  const server = new URL(script.src, location.href);
  // A cluster's other nodes (data-servers="https://b.example,https://c.example"): when the
  // connection is lost the widget tries the next address, and resumes there.
  const wsUrls = [server.href].concat((data.servers || "").split(",").filter(Boolean)).map((base) => {
    const u = new URL(base, location.href);
    return (u.protocol === "https:" ? "wss://" : "ws://") + u.host + "/ws?encoding=json";
  });
  let wsAt = 0;
  const department = data.department || null;
  const storeKey = "switchboard-chat:" + server.host + ":" + (department || "general");
  const T = Object.assign({
    button: "Chat with us",
    title: data.title || "Chat with us",
    greeting: data.greeting || "Hi! Ask us anything, we usually answer within minutes.",
    name: "Your name",
    email: "Email (optional)",
    message: "How can we help?",
    start: "Start chat",
    send: "Send",
    placeholder: "Type a message…",
    waiting: "Waiting for an agent",
    position: "You are number {n} in line",
    wait: "estimated wait {m}",
    joined: "{name} joined the chat",
    typing: "{name} is typing…",
    closed: "This chat has ended. Thank you!",
    transcript: "Download transcript",
    rate: "How was this chat?",
    star: "{n} of 5",
    comment: "Anything to add? (optional)",
    rateSend: "Send rating",
    rated: "Thank you for rating this chat ({n} of 5).",
    newChat: "Start a new chat",
    reconnecting: "Reconnecting…",
    close: "Close chat window",
    sent: "Sent",
    delivered: "Delivered",
    agent: "Agent",
    you: "You",
    failed: "Not sent: {why}",
    tooLong: "That message is too long ({n} bytes; at most {max}). Please shorten or split it.",
    unreachable: "We could not reach the chat right now. Please try again in a moment.",
    closedNow: "We are closed right now; we open again {when}.",
    closedToday: "We are closed right now.",
    nobody: "No one is available to chat right now.",
    leave: "Leave us a message and we will answer by email.",
    emailNeeded: "Your email",
    leaveSend: "Send message",
    left: "Thank you! We have your message and will answer at {email}.",
  }, safeJson(data.strings));
  const color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#2f6fed";
  const left = data.position === "left";
  // How long starting a chat waits for the connection before saying it could not.
  const CONNECT_WAIT_MS = 10000;

  function safeJson(text) {
    try { return text ? JSON.parse(text) : {}; } catch (_) { return {}; }
  }
  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, k) => (k in values ? String(values[k]) : ""));
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // ---- persisted state: the session token, what we have seen, what is still unsent ----
  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || null; } catch (_) { return null; }
  }
  function save() {
    if (!state.token) { localStorage.removeItem(storeKey); return; }
    localStorage.setItem(storeKey, JSON.stringify({
      token: state.token, sessionId: state.sessionId, name: state.name, pending: state.pending,
    }));
  }
  const state = Object.assign({ token: null, sessionId: null, name: null, pending: [] }, load() || {});
  let messages = new Map(); // seq -> message
  let session = null;
  let socket = null, ready = false, req = 0, backoff = 500, reconnectTimer = null;
  const waiters = new Map();

  // ---- the DOM, isolated in a shadow root ----
  const host = el("div", { id: "switchboard-widget" });
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`
    :host { all: initial; }
    * { box-sizing: border-box; font-family: system-ui, sans-serif; font-size: 14px; }
    .launcher { position: fixed; bottom: 20px; ${left ? "left" : "right"}: 20px; z-index: 2147483000;
      background: ${color}; color: #fff; border: 0; border-radius: 24px; padding: 12px 18px; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); font-weight: 600; }
    .launcher:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible
      { outline: 3px solid #ffbf47; outline-offset: 2px; }
    .panel { position: fixed; bottom: 80px; ${left ? "left" : "right"}: 20px; z-index: 2147483000; width: 340px;
      max-width: calc(100vw - 40px); height: 480px; max-height: calc(100vh - 100px); background: #fff; color: #1d1d1f;
      border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); display: flex; flex-direction: column; overflow: hidden; }
    [hidden] { display: none !important; }
    header { background: ${color}; color: #fff; padding: 12px 14px; display: flex; justify-content: space-between; align-items: center; }
    header h2 { margin: 0; font-size: 16px; }
    header button { background: transparent; border: 0; color: #fff; font-size: 20px; cursor: pointer; }
    .status { padding: 6px 14px; background: #f3f5f9; color: #444; min-height: 28px; }
    .log { flex: 1; overflow-y: auto; padding: 10px 14px; display: flex; flex-direction: column; gap: 6px; }
    .msg { max-width: 80%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .msg.visitor { align-self: flex-end; background: ${color}; color: #fff; }
    .msg.agent { align-self: flex-start; background: #eceef2; }
    .msg .meta { display: block; font-size: 11px; opacity: .75; margin-top: 2px; }
    .note { align-self: center; color: #666; font-size: 12px; text-align: center; }
    form { display: flex; flex-direction: column; gap: 8px; padding: 12px 14px; }
    .composer { flex-direction: row; border-top: 1px solid #e3e3e8; padding: 8px; }
    input, textarea { border: 1px solid #c8ccd4; border-radius: 6px; padding: 8px; width: 100%; }
    textarea { resize: none; }
    .composer textarea { height: 40px; }
    button.primary { background: ${color}; color: #fff; border: 0; border-radius: 6px; padding: 8px 12px; cursor: pointer; font-weight: 600; }
    button.primary:disabled { opacity: .5; cursor: default; }
    .typing { padding: 0 14px 4px; color: #666; font-size: 12px; min-height: 18px; }
    .rating { border-top: 1px solid #e3e3e8; }
    .rating p { margin: 0; }
    .stars { display: flex; gap: 4px; }
    .star { font-size: 24px; background: none; border: 0; color: #c8ccd4; cursor: pointer; padding: 0 2px; }
    .star[aria-pressed="true"] { color: #f5a623; }
    .actions { display: flex; gap: 8px; padding: 8px 14px; flex-wrap: wrap; }
  `);
  root.adoptedStyleSheets = [sheet];

  const status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": T.title });
  const typingLine = el("div", { class: "typing", "aria-live": "polite" });
  const nameInput = el("input", { name: "name", autocomplete: "name", "aria-label": T.name, placeholder: T.name, maxlength: "128" });
  const emailInput = el("input", { name: "email", type: "email", autocomplete: "email", "aria-label": T.email, placeholder: T.email, maxlength: "254" });
  const firstInput = el("textarea", { name: "message", "aria-label": T.message, placeholder: T.message, required: true, rows: "3" });
  const prechat = el("form", { class: "prechat", onsubmit: startChat },
    el("p", {}, T.greeting), nameInput, emailInput, firstInput,
    el("button", { class: "primary", type: "submit" }, T.start));
  // While the department is closed or nobody is online: a message that becomes a ticket.
  const offlineWhy = el("p", {});
  const offName = el("input", { name: "name", autocomplete: "name", "aria-label": T.name, placeholder: T.name, maxlength: "128", required: true });
  const offEmail = el("input", { name: "email", type: "email", autocomplete: "email", "aria-label": T.emailNeeded, placeholder: T.emailNeeded, maxlength: "254", required: true });
  const offText = el("textarea", { name: "message", "aria-label": T.message, placeholder: T.message, required: true, rows: "4" });
  const offline = el("form", { class: "offline", hidden: true, onsubmit: leaveMessage },
    offlineWhy, el("p", {}, T.leave), offName, offEmail, offText,
    el("button", { class: "primary", type: "submit" }, T.leaveSend));
  // null: not asked yet; then the department_status reply. `leftFor`: the email a message
  // was left for (the form is done).
  let availability = null, leftFor = null;
  const input = el("textarea", { name: "text", "aria-label": T.placeholder, placeholder: T.placeholder, onkeydown: onKey, oninput: onInput });
  const composer = el("form", { class: "composer", onsubmit: sendFromComposer }, input,
    el("button", { class: "primary", type: "submit", "aria-label": T.send }, T.send));
  const actions = el("div", { class: "actions" });
  // After the chat: a rating from 1 to 5 with a comment, once (built once, kept).
  let score = 0;
  const stars = [1, 2, 3, 4, 5].map((n) => el("button", {
    type: "button", class: "star", "aria-label": fmt(T.star, { n }), "aria-pressed": "false",
    onclick: () => { score = n; stars.forEach((b, i) => { b.setAttribute("aria-pressed", String(i < n)); }); sendRating.disabled = false; },
  }, "★"));
  const ratingComment = el("textarea", { name: "comment", "aria-label": T.comment, placeholder: T.comment, rows: "2" });
  const sendRating = el("button", { class: "primary", type: "submit", disabled: true }, T.rateSend);
  const rating = el("form", { class: "rating", hidden: true, "aria-label": T.rate, onsubmit: rateChat },
    el("p", {}, T.rate), el("div", { class: "stars", role: "group", "aria-label": T.rate }, ...stars), ratingComment, sendRating);
  const panel = el("section", { class: "panel", hidden: true, role: "dialog", "aria-label": T.title },
    el("header", {}, el("h2", {}, T.title),
      el("button", { type: "button", "aria-label": T.close, onclick: () => toggle(false) }, "×")),
    status, log, typingLine, prechat, offline, composer, rating, actions);
  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-label": T.button, onclick: () => toggle() }, T.button);
  root.append(launcher, panel);
  (document.body ? Promise.resolve() : new Promise((r) => addEventListener("DOMContentLoaded", r))).then(() => document.body.append(host));

  function toggle(open) {
    const show = open === undefined ? panel.hidden : open;
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
    if (show) {
      render();
      (state.token ? input : firstInput).focus();
      if (state.token && !socket) connect();
      if (!state.token) checkAvailability();
    }
  }

  // Before a chat: may anyone chat now? Asked each time the panel opens; when the server
  // cannot be reached the pre-chat form stays (starting says it could not connect).
  async function checkAvailability() {
    try {
      await connected(CONNECT_WAIT_MS);
      availability = await call({ type: "department_status", department });
    } catch (_) {
      availability = null;
    }
    render();
    if (!offline.hidden && !leftFor) offName.focus();
  }
  function unavailable() {
    return !state.token && availability && (!availability.open || !availability.agents_online);
  }
  async function leaveMessage(e) {
    e.preventDefault();
    const text = offText.value.trim();
    if (!text || tooLong(text)) return;
    const email = offEmail.value.trim();
    try {
      await connected(CONNECT_WAIT_MS);
      await call({ type: "leave_message", department, name: offName.value.trim(), email, text, page_url: location.href.slice(0, 2048) });
      leftFor = email;
      offText.value = "";
      setStatus(fmt(T.left, { email }));
      render();
    } catch (err) {
      setStatus(err.message);
    }
  }

  function render() {
    const started = !!state.token;
    const away = unavailable();
    prechat.hidden = started || away;
    offline.hidden = !away || !!leftFor;
    if (away) {
      // Whatever was typed in the chat form before the answer came moves over.
      if (!offName.value) offName.value = nameInput.value;
      if (!offEmail.value) offEmail.value = emailInput.value;
      if (!offText.value) offText.value = firstInput.value;
      const a = availability;
      offlineWhy.textContent = !a.open
        ? (a.next_open_ms ? fmt(T.closedNow, { when: new Date(a.next_open_ms).toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" }) }) : T.closedToday)
        : T.nobody;
    }
    const closed = session && session.state === "closed";
    composer.hidden = !started || closed;
    rating.hidden = !closed || !!session.rating;
    actions.replaceChildren();
    if (closed) {
      actions.append(
        el("button", { class: "primary", type: "button", onclick: downloadTranscript }, T.transcript),
        el("button", { class: "primary", type: "button", onclick: newChat }, T.newChat));
    }
  }

  async function rateChat(e) {
    e.preventDefault();
    if (!score || !session) return;
    const comment = ratingComment.value.trim();
    if (tooLong(comment, RATING_COMMENT_BYTES_MAX)) return;
    try {
      await connected(CONNECT_WAIT_MS);
      await call({ type: "rate_chat", session_id: session.session_id, score, comment: comment || null });
      session.rating = { score, comment: comment || null };
      note(fmt(T.rated, { n: score }));
      render();
    } catch (err) {
      setStatus(err.message);
    }
  }

  function setStatus(text) { status.textContent = text || ""; }

  function describe(s) {
    if (!s) return "";
    if (s.state === "closed") return T.closed;
    if (s.state === "active") return s.agent_name ? fmt(T.joined, { name: s.agent_name }) : "";
    return T.waiting;
  }

  // ---- messages ----
  function bubble(from, text, meta, id) {
    const who = from === "visitor" ? T.you : (session && session.agent_name) || T.agent;
    const metaNode = el("span", { class: "meta" }, who + (meta ? " · " + meta : ""));
    const node = el("div", { class: "msg " + from, "data-id": id || "" }, text, metaNode);
    return node;
  }
  function showMessage(m) {
    if (messages.has(m.seq)) return;
    messages.set(m.seq, m);
    const existing = m.from === "visitor" && log.querySelector(`[data-id="${CSS.escape(m.client_msg_id)}"]`);
    const node = bubble(m.from, m.text, m.from === "visitor" ? T.delivered : time(m.sent_at_ms), m.client_msg_id);
    node.dataset.seq = m.seq;
    if (existing) existing.replaceWith(node);
    else {
      // Keep seq order (a replay after a reconnect may fill a gap).
      const after = [...log.querySelectorAll(".msg[data-seq]")].find((n) => Number(n.dataset.seq) > m.seq);
      if (after) log.insertBefore(node, after); else log.append(node);
    }
    log.scrollTop = log.scrollHeight;
  }
  function note(text) { log.append(el("div", { class: "note" }, text)); log.scrollTop = log.scrollHeight; }
  function time(ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
  function lastSeq() { let max = 0; for (const s of messages.keys()) max = Math.max(max, s); return max; }
  function newId() { return "w" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  // ---- the connection ----
  function connect() {
    clearTimeout(reconnectTimer);
    ready = false;
    socket = new WebSocket(wsUrls[wsAt]);
    socket.onopen = () => { backoff = 500; if (state.token) resume(); else ready = true; };
    socket.onmessage = (e) => { let f; try { f = JSON.parse(e.data); } catch (_) { return; } onFrame(f); };
    socket.onclose = () => {
      socket = null; ready = false;
      wsAt = (wsAt + 1) % wsUrls.length;
      for (const w of waiters.values()) w.reject(new Error("connection lost"));
      waiters.clear();
      if (state.token && !(session && session.state === "closed")) {
        setStatus(T.reconnecting);
        reconnectTimer = setTimeout(connect, backoff * (0.75 + Math.random() / 2));
        backoff = Math.min(backoff * 2, 15000);
      }
    };
  }
  // Before a chat exists nothing reconnects by itself: wait for the socket (opening it
  // again if it closed), at most `ms`, then tell the visitor it could not be reached.
  function connected(ms) {
    const deadline = Date.now() + ms;
    let lastTry = 0;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready) return resolve();
        if (Date.now() > deadline) return reject(new Error(T.unreachable));
        if (!socket && Date.now() - lastTry >= 1000) { lastTry = Date.now(); connect(); }
        setTimeout(check, 100);
      };
      check();
    });
  }
  function call(request) {
    return new Promise((resolve, reject) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) { reject(new Error("not connected")); return; }
      const r = ++req;
      waiters.set(r, { resolve, reject });
      socket.send(JSON.stringify(Object.assign({ req: r }, request)));
    });
  }
  function onFrame(f) {
    if (f.re !== undefined && f.re !== null && waiters.has(f.re)) {
      const w = waiters.get(f.re); waiters.delete(f.re);
      if (f.type === "error") w.reject(Object.assign(new Error(f.message), { code: f.code })); else w.resolve(f);
      return;
    }
    switch (f.type) {
      case "message": showMessage(f.message); if (f.message.from === "agent") typingLine.textContent = ""; break;
      case "typing":
        if (f.from === "agent") typingLine.textContent = f.typing ? fmt(T.typing, { name: (session && session.agent_name) || T.agent }) : "";
        break;
      case "session_updated": onSession(f.session); break;
      case "queue_position":
        if (session && session.state === "waiting") {
          const wait = f.estimated_wait_ms ? ", " + fmt(T.wait, { m: minutes(f.estimated_wait_ms) }) : "";
          setStatus(fmt(T.position, { n: f.position }) + wait);
        }
        break;
    }
  }
  function minutes(ms) { const m = Math.max(1, Math.round(ms / 60000)); return m + " min"; }
  function onSession(s) {
    const before = session;
    session = s;
    if (s.state === "active" && (!before || before.state !== "active") && s.agent_name) note(fmt(T.joined, { name: s.agent_name }));
    if (s.state === "closed" && (!before || before.state !== "closed")) { note(T.closed); typingLine.textContent = ""; }
    if (s.state !== "waiting" || !status.textContent.startsWith(T.position.split("{")[0])) setStatus(describe(s));
    render();
  }

  async function resume() {
    try {
      let after = 0, first = true;
      for (;;) {
        const f = await call({ type: "resume_chat", session_token: state.token, after_seq: after });
        if (first) { onSession(f.session); first = false; }
        for (const m of f.messages) showMessage(m);
        after = f.messages.length ? f.messages[f.messages.length - 1].seq : after;
        if (!f.has_more) break;
      }
      ready = true;
      flushPending();
    } catch (e) {
      if (e.code === "bad_token") { forget(); render(); }
    }
  }

  // ---- sending, with unsent messages kept and re-sent under the same client_msg_id ----
  function queueMessage(text) {
    const id = newId();
    state.pending.push({ id, text });
    save();
    log.append(bubble("visitor", text, T.sent, id));
    log.scrollTop = log.scrollHeight;
    flushPending();
  }
  function flushPending() {
    if (!ready) return;
    for (const p of [...state.pending]) {
      if (p.inflight) continue;
      p.inflight = true;
      call({ type: "send_message", session_id: state.sessionId, client_msg_id: p.id, text: p.text }).then((ack) => {
        state.pending = state.pending.filter((q) => q.id !== p.id); save();
        showMessage({ seq: ack.seq, from: "visitor", agent_id: null, client_msg_id: p.id, text: p.text, sent_at_ms: ack.sent_at_ms });
      }, (e) => {
        p.inflight = false;
        if (e.code && e.code !== "overloaded" && e.code !== "rate_limited") {
          state.pending = state.pending.filter((q) => q.id !== p.id); save();
          const node = log.querySelector(`[data-id="${CSS.escape(p.id)}"] .meta`);
          if (node) node.textContent = fmt(T.failed, { why: e.message });
        } else if (e.code) setTimeout(flushPending, 1000);
      });
    }
  }
  function sendFromComposer(e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (tooLong(text)) return;
    input.value = "";
    stopTyping();
    queueMessage(text);
  }
  // A message is at most TEXT_BYTES_MAX bytes of UTF-8 (the protocol's limit): a longer
  // paste is kept in the box with a note, never cut or lost.
  const TEXT_BYTES_MAX = 4096;
  const RATING_COMMENT_BYTES_MAX = 1000;
  function tooLong(text, max = TEXT_BYTES_MAX) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes <= max) return false;
    setStatus(fmt(T.tooLong, { n: bytes, max }));
    return true;
  }
  function onKey(e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); composer.requestSubmit(); } }
  let typingSent = false, typingTimer = null;
  function onInput() {
    if (!ready || !state.sessionId) return;
    if (!typingSent) { typingSent = true; call({ type: "typing", session_id: state.sessionId, typing: true }).catch(() => {}); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent && ready) call({ type: "typing", session_id: state.sessionId, typing: false }).catch(() => {});
    typingSent = false;
  }

  async function startChat(e) {
    e.preventDefault();
    const text = firstInput.value.trim();
    if (!text || tooLong(text)) return;
    const id = newId();
    try {
      await connected(CONNECT_WAIT_MS);
      const f = await call({
        type: "start_chat", name: nameInput.value.trim() || null, email: emailInput.value.trim() || null,
        page_url: location.href.slice(0, 2048), first_message: text, client_msg_id: id, department,
      });
      state.token = f.session_token; state.sessionId = f.session.session_id; state.name = nameInput.value.trim() || null;
      save();
      firstInput.value = "";
      onSession(f.session);
      if (f.first_message) showMessage(f.first_message);
      setStatus(T.waiting);
      render();
      input.focus();
    } catch (err) {
      setStatus(err.message);
    }
  }

  function forget() {
    state.token = null; state.sessionId = null; state.pending = []; session = null;
    messages = new Map(); save();
  }
  function newChat() {
    forget();
    log.replaceChildren(); setStatus(""); typingLine.textContent = "";
    if (socket) socket.close();
    render();
    firstInput.focus();
    checkAvailability();
  }
  function downloadTranscript() {
    const lines = [...messages.values()].sort((a, b) => a.seq - b.seq).map((m) =>
      `[${new Date(m.sent_at_ms).toISOString()}] ${m.from === "visitor" ? T.you : (session && session.agent_name) || T.agent}: ${m.text}`);
    const blob = new Blob([lines.join("\n") + "\n"], { type: "text/plain" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "chat-" + (state.sessionId || "") + ".txt" });
    root.append(a); a.click(); a.remove();
  }

  // A chat in progress (this tab or another) continues at once.
  if (state.token) { connect(); }
})();
