// The Switchboard agent console: sign-in, the chat queue, chat sessions, team channels and
// slash commands, over the documented protocol (docs/PROTOCOL.md) as JSON on /ws and the
// console's HTTP routes. Plain ES module, no build step. Every text from the server or from
// people is put in the page as text (textContent), never as HTML.

// The administration pages (agents, departments, folders) are in admin.js; shared helpers
// in dom.js.

import { el } from "./dom.js";
import { ADMIN_VIEWS, adminPage, resetAdmin } from "./admin.js";

const app = document.getElementById("app");

// ---------- small helpers ----------
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const ago = (ms) => { const s = Math.max(0, Math.round((Date.now() - ms) / 1000)); return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" : Math.floor(s / 3600) + "h"; };
const newId = () => "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);

// ---------- state ----------
const state = {
  me: null,                 // ConsoleAgent
  agent: null,              // AgentInfo from authed
  sessions: new Map(),      // session_id -> SessionInfo (with unread)
  channels: new Map(),      // channel_id -> ChannelInfo
  folders: [],
  offers: new Map(),        // session_id -> { session, expires_at_ms }
  transfers: new Map(),     // session_id -> the transfer_offer event: a chat handed to me
  transferOpen: null,       // the session whose Transfer form is open
  view: { kind: "queue" },  // { kind: "queue" } | { kind: "session", id } | { kind: "channel", id } | { kind: "new-channel" } | { kind: "admin-…" }
  transcript: new Map(),    // seq -> message, of the open session or channel
  names: new Map(),         // agent_id -> display name (from channel members)
  typing: "",
  presence: "online",
  connected: false,
};

// ---------- the connection ----------
let socket = null, req = 0, backoff = 500, everConnected = false;
const waiters = new Map();

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?encoding=json";
  socket = new WebSocket(url);
  socket.onopen = async () => {
    try {
      const authed = await call({ type: "auth_console" });
      backoff = 500;
      state.agent = authed.agent;
      state.connected = true;
      banner("");
      await Promise.all([loadQueue(), loadChannels()]);
      if (state.presence !== "online") call({ type: "set_presence", presence: state.presence }).catch(() => {});
      if (state.view.kind === "session" || state.view.kind === "channel") await openView(state.view, everConnected);
      everConnected = true;
      render();
    } catch (e) {
      if (e.code === "not_signed_in" || e.code === "password_change_required") { socket.onclose = null; socket.close(); showSignIn(e.code === "not_signed_in" ? "Your session ended. Please sign in again." : "Sign in again to choose your own password."); }
    }
  };
  socket.onmessage = (e) => { let f; try { f = JSON.parse(e.data); } catch (_) { return; } onFrame(f); };
  socket.onclose = () => {
    state.connected = false;
    for (const w of waiters.values()) w.reject(Object.assign(new Error("connection lost"), { code: "disconnected" }));
    waiters.clear();
    banner("Connection lost — reconnecting…");
    setTimeout(connect, backoff * (0.75 + Math.random() / 2));
    backoff = Math.min(backoff * 2, 15000);
  };
}

function call(request) {
  return new Promise((resolve, reject) => {
    if (!socket || socket.readyState !== WebSocket.OPEN) { reject(Object.assign(new Error("not connected"), { code: "disconnected" })); return; }
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
    case "session_created":
      state.sessions.set(f.session.session_id, f.session);
      alertPerson("New chat waiting", (f.session.visitor.name || "A visitor") + " is waiting");
      break;
    case "session_updated": {
      const old = state.sessions.get(f.session.session_id);
      state.sessions.set(f.session.session_id, f.session);
      if (isOpen("session", f.session.session_id) && old && old.state !== f.session.state && f.session.state === "closed") addNote("The chat was closed.");
      break;
    }
    case "message":
      if (isOpen("session", f.session_id)) {
        addMessage(f.message);
        if (f.message.from === "visitor") state.typing = "";
        markRead();
      }
      break;
    case "typing":
      if (isOpen("session", f.session_id) && f.from === "visitor") state.typing = f.typing ? "The visitor is typing…" : "";
      break;
    case "offer":
      state.offers.set(f.session.session_id, { session: f.session, expires_at_ms: f.expires_at_ms });
      alertPerson("Chat offered to you", (f.session.visitor.name || "A visitor") + " — accept or decline");
      break;
    case "transfer_offer":
      state.transfers.set(f.session.session_id, f);
      alertPerson("Chat transferred to you", (f.session.visitor.name || "A visitor") + (f.note ? " — " + f.note : ""));
      break;
    case "transfer_refused": {
      const who = state.names.get(f.to_agent_id) || "Agent " + f.to_agent_id;
      const line = "Transfer of chat #" + f.session_id + " to " + who + " did not happen (" + f.reason + "); you keep the chat.";
      if (isOpen("session", f.session_id)) addNote(line); else banner(line);
      break;
    }
    case "offer_withdrawn":
      state.offers.delete(f.session_id);
      break;
    case "channel_message": {
      const c = state.channels.get(f.channel_id);
      if (isOpen("channel", f.channel_id)) { addMessage(f.message); markRead(); }
      else if (c) {
        c.unread += 1;
        if (state.agent && f.message.mentions.includes(state.agent.agent_id)) {
          c.mentions += 1;
          alertPerson("You were mentioned in #" + c.name, f.message.text.slice(0, 120));
        }
      }
      if (c) c.last_seq = Math.max(c.last_seq, f.message.seq);
      break;
    }
    case "channel_message_updated":
      if (isOpen("channel", f.channel_id)) addMessage(f.message);
      break;
    case "channel_updated": {
      const c = state.channels.get(f.channel.channel_id);
      if (c) Object.assign(c, { topic: f.channel.topic, archived: f.channel.archived, folder_id: f.channel.folder_id });
      break;
    }
    case "channel_membership":
      loadChannels().then(render);
      return;
  }
  render();
}

function isOpen(kind, id) { return state.view.kind === kind && state.view.id === id; }

// ---------- loading ----------
async function loadQueue() {
  const q = await call({ type: "list_queue" });
  state.sessions = new Map();
  for (const s of [...q.waiting, ...q.active, ...q.closed]) state.sessions.set(s.session_id, s);
}
async function loadChannels() {
  const r = await call({ type: "list_channels" });
  state.folders = r.folders;
  state.channels = new Map(r.channels.map((c) => [c.channel_id, c]));
}

async function openView(view, resume) {
  const keep = resume && state.view.kind === view.kind && state.view.id === view.id;
  // An administration page opened again is read fresh from the server.
  if (view.kind.startsWith("admin-") && state.view.kind !== view.kind) resetAdmin(view.kind);
  state.view = view;
  state.typing = "";
  if (!keep) state.transcript = new Map();
  render();
  if (view.kind === "session") {
    let after = keep ? lastSeq() : 0;
    for (;;) {
      const r = await call({ type: "attach", session_id: view.id, after_seq: after });
      state.sessions.set(view.id, Object.assign({}, state.sessions.get(view.id) || {}, r.session, { unread: 0 }));
      for (const m of r.messages) addMessage(m, true);
      after = r.messages.length ? r.messages[r.messages.length - 1].seq : after;
      if (!r.has_more) break;
    }
    markRead();
  } else if (view.kind === "channel") {
    const r = await call(keep && lastSeq() ? { type: "channel_history", channel_id: view.id, after_seq: lastSeq() } : { type: "channel_history", channel_id: view.id });
    for (const m of r.messages) addMessage(m, true);
    state.view.olderExist = keep ? state.view.olderExist : r.has_more;
    const members = await call({ type: "channel_members", channel_id: view.id }).catch(() => ({ members: [] }));
    state.view.members = members.members;
    for (const m of members.members) state.names.set(m.agent_id, m.display_name);
    markRead();
  }
  render();
  scrollDown();
}

function lastSeq() { let max = 0; for (const s of state.transcript.keys()) max = Math.max(max, s); return max; }
function addMessage(m) { state.transcript.set(m.seq, m); scrollSoon(); }
function addNote(text) { state.transcript.set("note" + newId(), { note: text, seq: Infinity }); }
let scrollPending = false;
function scrollSoon() { if (!scrollPending) { scrollPending = true; requestAnimationFrame(() => { scrollPending = false; scrollDown(); }); } }
function scrollDown() { const log = document.querySelector(".log"); if (log) log.scrollTop = log.scrollHeight; }

function markRead() {
  const seq = lastSeq();
  if (!seq) return;
  if (state.view.kind === "session") {
    call({ type: "mark_read", session_id: state.view.id, seq }).catch(() => {});
    const s = state.sessions.get(state.view.id); if (s) s.unread = 0;
  } else if (state.view.kind === "channel") {
    const c = state.channels.get(state.view.id);
    if (c && c.member && (c.unread || c.mentions)) {
      c.unread = 0; c.mentions = 0;
      call({ type: "mark_channel_read", channel_id: state.view.id, seq }).catch(() => {});
    }
  }
}

// ---------- notifications ----------
let audio = null;
function alertPerson(title, body) {
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.05; o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.15);
  } catch (_) { /* no sound available */ }
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification(title, { body });
  }
}
function askNotifications() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
}

// ---------- sign-in ----------
async function signIn(e) {
  e.preventDefault();
  const form = e.target;
  const error = form.querySelector(".error");
  error.textContent = "";
  const body = JSON.stringify({ email: form.email.value, password: form.password.value });
  const response = await fetch("/api/v1/console/sign-in", { method: "POST", headers: { "content-type": "application/json" }, body });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({ message: "sign-in failed" }));
    error.textContent = problem.code === "bad_credentials" ? "Wrong email or password." : problem.message;
    form.password.value = "";
    form.password.focus();
    return;
  }
  const me = await response.json();
  askNotifications();
  if (me.must_change_password) { showChangePassword(form.password.value); return; }
  state.me = me;
  start();
}

// An administrator's one-time password is replaced before the console opens.
function showChangePassword(current) {
  state.me = null;
  document.title = "Choose your password — Switchboard";
  const form = el("form", { class: "signin", "aria-label": "Choose your password", onsubmit: async (e) => {
    e.preventDefault();
    const error = form.querySelector(".error");
    error.textContent = "";
    if (form.new_password.value !== form.repeat.value) { error.textContent = "The two passwords differ."; return; }
    const body = JSON.stringify({ current_password: current, new_password: form.new_password.value });
    const response = await fetch("/api/v1/console/password", { method: "POST", headers: { "content-type": "application/json" }, body });
    const answer = await response.json().catch(() => ({ message: "could not change the password" }));
    if (!response.ok) { error.textContent = answer.message; return; }
    state.me = answer;
    start();
  } },
    el("h1", {}, "Choose your password"),
    el("p", {}, "You signed in with a password an administrator gave you. Choose your own (at least 10 characters) to continue."),
    el("label", { for: "new_password" }, "New password"),
    el("input", { id: "new_password", name: "new_password", type: "password", autocomplete: "new-password", required: true }),
    el("label", { for: "repeat" }, "Repeat it"),
    el("input", { id: "repeat", name: "repeat", type: "password", autocomplete: "new-password", required: true }),
    el("div", { class: "error", role: "alert" }),
    el("button", { class: "primary", type: "submit" }, "Save and continue"));
  app.replaceChildren(form);
  form.new_password.focus();
}
function showSignIn(message) {
  state.me = null; // nothing renders the console behind the form any more
  document.title = "Sign in — Switchboard";
  app.replaceChildren(el("form", { class: "signin", onsubmit: signIn, "aria-label": "Sign in" },
    el("h1", {}, "Switchboard"),
    el("p", {}, "Sign in to the agent console."),
    el("label", { for: "email" }, "Email"),
    el("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true }),
    el("label", { for: "password" }, "Password"),
    el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    el("div", { class: "error", role: "alert" }, message || ""),
    el("button", { class: "primary", type: "submit" }, "Sign in")));
  app.querySelector("#email").focus();
}
async function signOut() {
  await fetch("/api/v1/console/sign-out", { method: "POST" }).catch(() => {});
  location.reload();
}

let bannerText = "";
function banner(text) { bannerText = text; const b = document.querySelector(".banner"); if (b) b.textContent = text; }

// ---------- rendering ----------
function render() {
  if (!state.me) return;
  const focused = document.activeElement;
  const keep = focused && focused.id && { id: focused.id, start: focused.selectionStart, end: focused.selectionEnd };
  let shell = app.querySelector(".shell");
  if (!shell) {
    shell = el("div", { class: "shell" }, el("nav", { "aria-label": "Console" }), el("main", {}, el("div", { class: "banner", role: "status" }, bannerText), el("div", { class: "page" })));
    app.replaceChildren(shell);
  }
  // Parts that come out the same are left in place, so a click that began on a button is
  // not lost to a render in between (the queue re-renders every second for its timers).
  const nav = shell.querySelector("nav");
  const items = sidebar();
  if (items.map((n) => n.outerHTML).join("") !== nav.innerHTML) nav.replaceChildren(...items);
  const page = shell.querySelector(".page");
  const content = pageContent();
  if (content && content.outerHTML !== page.innerHTML) page.replaceChildren(content);
  if (keep) {
    const again = document.getElementById(keep.id);
    if (again && again !== document.activeElement) { again.focus(); try { again.setSelectionRange(keep.start, keep.end); } catch (_) {} }
  }
  const badge = queueBadge();
  const mentions = [...state.channels.values()].reduce((n, c) => n + c.mentions, 0);
  const count = badge + mentions + state.offers.size + state.transfers.size;
  document.title = (count ? "(" + count + ") " : "") + "Switchboard";
}

function queueBadge() {
  let n = 0;
  for (const s of state.sessions.values()) {
    if (s.state === "waiting") n += 1;
    else if (s.state === "active" && state.agent && s.agent_id === state.agent.agent_id) n += s.unread || 0;
  }
  return n;
}

function navButton(label, view, badge, mention, privateChannel) {
  const current = state.view.kind === view.kind && state.view.id === view.id;
  return el("button", { type: "button", "aria-current": current ? "page" : null, onclick: () => openView(view), "data-nav": view.kind + (view.id ? ":" + view.id : "") },
    el("span", privateChannel ? { class: "private", title: "Private channel" } : {}, label),
    el("span", {},
      mention ? el("span", { class: "badge mention", "aria-label": mention + " mentions" }, String(mention)) : null,
      el("span", { class: "badge", "aria-label": (badge || 0) + " unread" }, badge ? String(badge) : "")));
}

function sidebar() {
  const items = [
    el("div", { class: "me" }, state.agent ? state.agent.display_name : state.me.display_name),
    navButton("Chat queue", { kind: "queue" }, queueBadge()),
    el("div", { class: "section" }, el("span", {}, "Channels"),
      el("button", { type: "button", "aria-label": "New channel", onclick: () => openView({ kind: "new-channel" }) }, "+ New")),
  ];
  const groups = [...state.folders.map((f) => ({ id: f.folder_id, name: f.name })), { id: null, name: null }];
  for (const g of groups) {
    const list = [...state.channels.values()].filter((c) => (g.id === null ? !state.folders.some((f) => f.folder_id === c.folder_id) : c.folder_id === g.id));
    if (!list.length) continue;
    if (g.name) items.push(el("div", { class: "folder" }, g.name));
    for (const c of list) items.push(navButton((c.private ? "" : "# ") + c.name, { kind: "channel", id: c.channel_id }, c.member ? c.unread : 0, c.member ? c.mentions : 0, c.private));
  }
  if (state.me.admin) {
    items.push(el("div", { class: "section" }, el("span", {}, "Administration")));
    for (const v of ADMIN_VIEWS) items.push(navButton(v.label, { kind: v.kind }));
  }
  const presence = el("select", { "aria-label": "Presence", onchange: (e) => setPresence(e.target.value) },
    ...["online", "away"].map((p) => el("option", { value: p, selected: state.presence === p }, p === "online" ? "● Online" : "○ Away")));
  items.push(el("div", { class: "presence" }, presence, el("button", { type: "button", onclick: signOut }, "Sign out")));
  return items;
}

async function setPresence(p) {
  state.presence = p;
  await call({ type: "set_presence", presence: p }).catch(() => {});
}

function pageContent() {
  switch (state.view.kind) {
    case "queue": return queuePage();
    case "session": return sessionPage();
    case "channel": return channelPage();
    case "new-channel": return newChannelPage();
    default:
      if (state.view.kind.startsWith("admin-")) return adminPage(state.view.kind, { rerender: render, changedFolders: () => loadChannels().then(render) });
  }
}

function queuePage() {
  const all = [...state.sessions.values()];
  const waiting = all.filter((s) => s.state === "waiting").sort((a, b) => b.priority - a.priority || a.created_at_ms - b.created_at_ms);
  const active = all.filter((s) => s.state === "active");
  const closed = all.filter((s) => s.state === "closed").sort((a, b) => b.closed_at_ms - a.closed_at_ms);
  const row = (s, i) => el("div", { class: "row", "data-session": String(s.session_id) },
    el("div", { class: "grow" },
      el("div", {}, (s.visitor.name || "Visitor") + " #" + s.session_id),
      el("div", { class: "sub" }, s.state === "waiting" ? "#" + (i + 1) + " in line · waiting " + ago(s.created_at_ms) : s.state === "active" ? "with " + (s.agent_name || "?") : "closed " + ago(s.closed_at_ms || s.created_at_ms))),
    s.unread ? el("span", { class: "badge", "aria-label": s.unread + " unread" }, String(s.unread)) : null,
    s.state === "waiting" ? el("button", { class: "primary", type: "button", onclick: () => accept(s.session_id) }, "Accept") : null,
    el("button", { type: "button", onclick: () => openView({ kind: "session", id: s.session_id }) }, "Open"));
  const offers = [...state.offers.values()].map((o) => el("div", { class: "row", "data-offer": String(o.session.session_id) },
    el("div", { class: "grow" }, "Offered: " + (o.session.visitor.name || "Visitor") + " #" + o.session.session_id,
      el("div", { class: "sub" }, Math.max(0, Math.round((o.expires_at_ms - Date.now()) / 1000)) + " s left")),
    el("button", { class: "primary", type: "button", onclick: () => answerOffer(o.session.session_id, true) }, "Accept"),
    el("button", { type: "button", onclick: () => answerOffer(o.session.session_id, false) }, "Decline")));
  const now = Date.now();
  for (const [id, t] of state.transfers) if (t.expires_at_ms <= now) state.transfers.delete(id);
  const transfers = [...state.transfers.values()].map((t) => el("div", { class: "row", "data-transfer": String(t.session.session_id) },
    el("div", { class: "grow" }, "Transferred to you by " + (t.session.agent_name || state.names.get(t.from_agent_id) || "agent " + t.from_agent_id) + ": " + (t.session.visitor.name || "Visitor") + " #" + t.session.session_id,
      t.note ? el("div", { class: "note-text" }, "“" + t.note + "”") : null,
      el("div", { class: "sub" }, Math.max(0, Math.round((t.expires_at_ms - now) / 1000)) + " s left")),
    el("button", { class: "primary", type: "button", onclick: () => answerTransfer(t.session.session_id, true) }, "Accept transfer"),
    el("button", { type: "button", onclick: () => answerTransfer(t.session.session_id, false) }, "Decline transfer")));
  return el("div", {},
    el("h1", {}, "Chat queue"),
    transfers.length ? el("section", { "aria-label": "Transfers" }, ...transfers) : null,
    offers.length ? el("section", { "aria-label": "Offers" }, ...offers) : null,
    el("div", { class: "lists" },
      el("section", { "aria-label": "Waiting" }, el("h2", {}, "Waiting", el("span", {}, String(waiting.length))), ...waiting.map(row)),
      el("section", { "aria-label": "Active" }, el("h2", {}, "Active", el("span", {}, String(active.length))), ...active.map(row)),
      el("section", { "aria-label": "Closed" }, el("h2", {}, "Closed", el("span", {}, String(closed.length))), ...closed.map(row))));
}

async function accept(id) {
  try {
    const r = await call({ type: "accept", session_id: id });
    state.sessions.set(id, Object.assign(r.session, { unread: 0 }));
    await openView({ kind: "session", id });
  } catch (e) { banner(e.message); }
}
async function answerOffer(id, yes) {
  try {
    const r = await call({ type: yes ? "accept_offer" : "decline_offer", session_id: id });
    state.offers.delete(id);
    if (yes && r.session) { state.sessions.set(id, r.session); await openView({ kind: "session", id }); }
  } catch (e) { state.offers.delete(id); banner(e.message); }
  render();
}
async function answerTransfer(id, yes) {
  try {
    const r = await call({ type: yes ? "accept_transfer" : "decline_transfer", session_id: id });
    state.transfers.delete(id);
    if (yes && r.session) { state.sessions.set(id, r.session); await openView({ kind: "session", id }); }
  } catch (e) { state.transfers.delete(id); banner(e.message); }
  render();
}
setInterval(() => { if (state.offers.size || state.transfers.size || state.view.kind === "queue") render(); }, 1000);

function transcriptLog(kind) {
  const items = [...state.transcript.values()].sort((a, b) => a.seq - b.seq);
  return el("div", { class: "log", role: "log", "aria-label": "Messages" },
    kind === "channel" && state.view.olderExist ? el("button", { type: "button", onclick: loadOlder }, "Load older messages") : null,
    ...items.map((m) => (m.note ? el("div", { class: "note" }, m.note) : kind === "session" ? sessionMessage(m) : channelMessage(m))));
}

function sessionMessage(m) {
  const s = state.sessions.get(state.view.id) || {};
  const mine = m.from === "agent";
  const who = m.from === "visitor" ? (s.visitor && s.visitor.name) || "Visitor" : m.agent_id === (state.agent && state.agent.agent_id) ? "You" : s.agent_name || "Agent";
  return el("div", { class: "msg" + (mine ? " mine" : ""), "data-seq": String(m.seq) }, m.text, el("span", { class: "meta" }, who + " · " + time(m.sent_at_ms)));
}

function sessionPage() {
  const s = state.sessions.get(state.view.id);
  if (!s) return el("p", {}, "Loading…");
  const mineActive = s.state === "active" && state.agent && s.agent_id === state.agent.agent_id;
  const details = el("dl", {},
    el("dt", {}, "Name"), el("dd", {}, s.visitor.name || "—"),
    el("dt", {}, "Email"), el("dd", {}, s.visitor.email || "—"),
    el("dt", {}, "Page"), el("dd", {}, s.visitor.page_url || "—"),
    el("dt", {}, "Contact"), el("dd", {}, s.contact_id ? "Contact #" + s.contact_id : "—"),
    el("dt", {}, "State"), el("dd", { "data-state": s.state }, s.state + (s.agent_name ? " (" + s.agent_name + ")" : "")),
    el("dt", {}, "Ticket"), el("dd", { "data-ticket": s.ticket_id ? String(s.ticket_id) : "" }, s.ticket_id ? "Ticket #" + s.ticket_id : "—"),
    el("dt", {}, "Rating"), el("dd", { "data-rating": s.rating ? String(s.rating.score) : "" },
      s.rating ? "★".repeat(s.rating.score) + "☆".repeat(5 - s.rating.score) + " " + s.rating.score + "/5" : "—",
      s.rating && s.rating.comment ? el("div", { class: "note-text" }, "“" + s.rating.comment + "”") : null));
  return el("div", { class: "conversation" },
    el("div", { class: "chat" },
      el("header", {},
        el("h1", {}, (s.visitor.name || "Visitor") + " — chat #" + s.session_id),
        s.state === "waiting" ? el("button", { class: "primary", type: "button", onclick: () => accept(s.session_id) }, "Accept") : null,
        el("button", { type: "button", onclick: () => createTicket(s.session_id), disabled: !!s.ticket_id }, s.ticket_id ? "Ticket #" + s.ticket_id : "Create ticket"),
        mineActive ? el("button", { type: "button", "aria-expanded": String(state.transferOpen === s.session_id), onclick: () => { state.transferOpen = state.transferOpen === s.session_id ? null : s.session_id; render(); } }, "Transfer") : null,
        mineActive ? el("button", { class: "danger", type: "button", onclick: () => closeChat(s.session_id) }, "Close chat") : null),
      mineActive && state.transferOpen === s.session_id ? transferForm(s.session_id) : null,
      transcriptLog("session"),
      el("div", { class: "typing", "aria-live": "polite" }, state.typing),
      mineActive ? composer({ session_id: s.session_id }) : el("div", { class: "typing" }, s.state === "closed" ? "This chat is closed." : "Accept the chat to reply.")),
    el("aside", { class: "details", "aria-label": "Visitor details" }, el("h2", {}, "Visitor"), details));
}

async function createTicket(id) {
  try {
    const r = await call({ type: "create_ticket", session_id: id });
    const s = state.sessions.get(id); if (s) s.ticket_id = r.ticket.ticket_id;
    addNote("Ticket #" + r.ticket.ticket_id + " created: " + r.ticket.subject);
  } catch (e) { banner(e.message); }
  render();
}
async function closeChat(id) {
  try { const r = await call({ type: "close", session_id: id }); state.sessions.set(id, r.session); addNote("You closed the chat."); } catch (e) { banner(e.message); }
  render();
}
// The Transfer form of a chat, kept across renders like the composer (what is typed stays).
const transferForms = new Map();
function transferForm(id) {
  if (transferForms.has(id)) return transferForms.get(id);
  const to = el("input", { id: "transfer-to-" + id, name: "to", required: true, placeholder: "@agent or department", autocomplete: "off" });
  const note = el("input", { id: "transfer-note-" + id, name: "note", placeholder: "Note for the receiver (optional)", maxlength: "1024" });
  const form = el("form", { class: "transfer", "aria-label": "Transfer chat", onsubmit: async (e) => {
    e.preventDefault();
    const target = to.value.trim();
    if (!target || /\s/.test(target)) { addNote("Give one @agent or department name."); render(); return; }
    await runCommand({ session_id: id }, "/transfer " + target + (note.value.trim() ? " " + note.value.trim() : ""));
    to.value = ""; note.value = ""; state.transferOpen = null; render();
  } },
    el("label", { for: to.id }, "Transfer to"), to,
    el("label", { for: note.id }, "Note"), note,
    el("button", { class: "primary", type: "submit" }, "Send transfer"),
    el("button", { type: "button", onclick: () => { state.transferOpen = null; render(); } }, "Cancel"));
  transferForms.set(id, form);
  return form;
}

// ---------- channels ----------
function channelMessage(m) {
  const mine = state.agent && m.author_id === state.agent.agent_id;
  const who = mine ? "You" : state.names.get(m.author_id) || "Agent " + m.author_id;
  const tools = mine && !m.deleted && !(state.channels.get(state.view.id) || {}).archived ? el("span", { class: "tools" },
    el("button", { type: "button", "aria-label": "Edit message " + m.seq, onclick: () => editMessage(m) }, "edit"),
    el("button", { type: "button", "aria-label": "Delete message " + m.seq, onclick: () => deleteMessage(m) }, "delete")) : null;
  return el("div", { class: "msg" + (mine ? " mine" : "") + (m.deleted ? " deleted" : ""), "data-seq": String(m.seq) },
    m.deleted ? "(deleted)" : m.text,
    el("span", { class: "meta" }, who + " · " + time(m.sent_at_ms) + " · " + m.seq + (m.edited_at_ms && !m.deleted ? " · edited" : "")), tools);
}

function channelPage() {
  const c = state.channels.get(state.view.id);
  if (!c) return el("p", {}, "Loading…");
  const members = state.view.members || [];
  return el("div", { class: "conversation" },
    el("div", { class: "chat" },
      el("header", {},
        el("h1", c.private ? { class: "private", title: "Private channel" } : {}, (c.private ? "" : "#") + c.name),
        el("span", { class: "sub" }, c.topic || c.description),
        !c.member && !c.private ? el("button", { class: "primary", type: "button", onclick: () => joinChannel(c.channel_id) }, "Join") : null),
      transcriptLog("channel"),
      c.member && !c.archived ? composer({ channel_id: c.channel_id }) : el("div", { class: "typing" }, c.archived ? "This channel is archived (read-only)." : "Join the channel to post.")),
    el("aside", { class: "details", "aria-label": "Members" }, el("h2", {}, "Members (" + c.member_count + ")"),
      el("ul", {}, ...members.map((m) => el("li", {}, m.display_name)))));
}

async function loadOlder() {
  const first = Math.min(...[...state.transcript.keys()].filter((k) => typeof k === "number"));
  const r = await call({ type: "channel_history", channel_id: state.view.id, before_seq: first });
  for (const m of r.messages) state.transcript.set(m.seq, m);
  state.view.olderExist = r.has_more;
  render();
}
async function joinChannel(id) {
  try { await call({ type: "join_channel", channel_id: id }); await loadChannels(); await openView({ kind: "channel", id }); } catch (e) { banner(e.message); }
}
async function editMessage(m) {
  const text = prompt("Edit your message:", m.text);
  if (text === null || !text.trim() || text === m.text) return;
  try { const r = await call({ type: "edit_channel_message", channel_id: state.view.id, seq: m.seq, text }); addMessage(r.message || Object.assign({}, m, { text, edited_at_ms: Date.now() })); } catch (e) { banner(e.message); }
  render();
}
async function deleteMessage(m) {
  if (!confirm("Delete this message?")) return;
  try { const r = await call({ type: "delete_channel_message", channel_id: state.view.id, seq: m.seq }); addMessage(r.message || Object.assign({}, m, { text: "", deleted: true })); } catch (e) { banner(e.message); }
  render();
}

function newChannelPage() {
  const folderSelect = el("select", { id: "nc-folder", name: "folder" }, el("option", { value: "" }, "(no folder)"),
    ...state.folders.map((f) => el("option", { value: String(f.folder_id) }, f.name)));
  return el("form", { class: "form", onsubmit: createChannel, "aria-label": "New channel" },
    el("h1", {}, "New channel"),
    el("label", { for: "nc-name" }, "Name"),
    el("input", { id: "nc-name", name: "name", required: true, maxlength: "80", placeholder: "infrastructure-team", pattern: "[a-z0-9_\\-]+", title: "lower-case letters, digits, - and _" }),
    el("label", { for: "nc-description" }, "Description"),
    el("textarea", { id: "nc-description", name: "description", maxlength: "1024" }),
    el("label", { for: "nc-folder" }, "Folder"), folderSelect,
    el("div", { class: "check" }, el("input", { id: "nc-private", name: "private", type: "checkbox" }), el("label", { for: "nc-private" }, "Private (only members see it)")),
    el("label", { for: "nc-members" }, "Members (names, separated by commas)"),
    el("input", { id: "nc-members", name: "members", placeholder: "@ann, @bob" }),
    el("div", { class: "error", role: "alert" }),
    el("button", { class: "primary", type: "submit" }, "Create channel"));
}

async function createChannel(e) {
  e.preventDefault();
  const form = e.target;
  const error = form.querySelector(".error");
  try {
    const r = await call({
      type: "create_channel", name: form.name.value.trim(), description: form.description.value.trim() || null,
      private: form.private.checked, folder_id: form.folder.value ? Number(form.folder.value) : null, invite: [],
    });
    const id = r.channel.channel_id;
    // Members are invited by name with the documented /invite command.
    const problems = [];
    for (const name of form.members.value.split(",").map((n) => n.trim()).filter(Boolean)) {
      const result = await call({ type: "run_command", channel_id: id, text: "/invite " + (name.startsWith("@") ? name : "@" + name) }).catch((err) => ({ text: err.message }));
      if (result.text && !/ is a member\.$/.test(result.text)) problems.push(result.text);
    }
    await loadChannels();
    await openView({ kind: "channel", id });
    for (const p of problems) addNote(p);
    render();
  } catch (err) { error.textContent = err.message; }
}

// ---------- the composer, with slash-command autocomplete ----------
// The protocol's limit on a message's text, in UTF-8 bytes: a longer paste stays in the
// composer with a note, never cut.
const TEXT_BYTES_MAX = 4096;

// One composer element per chat or channel, kept across renders: what is typed, the
// caret, an open command list and an IME composition survive every incoming event.
const composers = new Map();
function composer(context) {
  const id = "composer-" + (context.session_id ? "s" + context.session_id : "c" + context.channel_id);
  if (!composers.has(id)) composers.set(id, makeComposer(id, context));
  return composers.get(id);
}
function makeComposer(id, context) {
  const list = el("ul", { class: "commands", role: "listbox", id: id + "-list", hidden: true, "aria-label": "Commands" });
  const input = el("textarea", {
    id, "aria-label": "Message", placeholder: "Type a message, or / for commands", role: "combobox",
    "aria-controls": id + "-list", "aria-expanded": "false", "aria-autocomplete": "list",
  });
  let items = [], selected = 0, typingOn = false, typingTimer = null, listReq = 0;
  const showList = () => {
    list.replaceChildren(...items.map((c, i) => el("li", { role: "option", "aria-selected": String(i === selected), onmousedown: (e) => { e.preventDefault(); choose(i); } },
      el("span", { class: "usage" }, c.usage), el("span", { class: "desc" }, c.description))));
    list.hidden = !items.length;
    input.setAttribute("aria-expanded", String(!!items.length));
  };
  const choose = (i) => { input.value = "/" + items[i].name + " "; items = []; showList(); input.focus(); };
  input.addEventListener("input", async () => {
    const v = input.value;
    if (v.startsWith("/") && !/\s/.test(v)) {
      const mine = ++listReq;
      const r = await call(Object.assign({ type: "list_commands", prefix: v }, context)).catch(() => ({ commands: [] }));
      if (mine !== listReq) return;
      items = r.commands; selected = 0; showList();
    } else if (items.length) { items = []; showList(); }
    if (context.session_id) {
      if (!typingOn) { typingOn = true; call({ type: "typing", session_id: context.session_id, typing: true }).catch(() => {}); }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typingOn = false; call({ type: "typing", session_id: context.session_id, typing: false }).catch(() => {}); }, 3000);
    }
  });
  input.addEventListener("keydown", (e) => {
    if (items.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) { e.preventDefault(); selected = (selected + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length; showList(); return; }
    if (items.length && (e.key === "Tab" || (e.key === "Enter" && !input.value.includes(" ")))) { e.preventDefault(); choose(selected); return; }
    if (e.key === "Escape") { items = []; showList(); return; }
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
  });
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > TEXT_BYTES_MAX) { banner(`That message is too long (${bytes} bytes; at most ${TEXT_BYTES_MAX}). Shorten or split it.`); return; }
    if (bannerText.startsWith("That message is too long")) banner("");
    input.value = ""; items = []; showList();
    if (typingOn && context.session_id) { typingOn = false; clearTimeout(typingTimer); call({ type: "typing", session_id: context.session_id, typing: false }).catch(() => {}); }
    if (text.startsWith("/")) { await runCommand(context, text); return; }
    await post(context, text);
  };
  return el("div", { class: "composer" }, list, input, el("button", { class: "primary", type: "button", onclick: send }, "Send"));
}

async function post(context, text) {
  const client_msg_id = newId();
  for (let attempt = 0; ; attempt++) {
    try {
      if (context.session_id) {
        const ack = await call({ type: "send_message", session_id: context.session_id, client_msg_id, text });
        addMessage({ seq: ack.seq, from: "agent", agent_id: state.agent.agent_id, client_msg_id, text, sent_at_ms: ack.sent_at_ms });
      } else {
        const ack = await call({ type: "send_channel_message", channel_id: context.channel_id, client_msg_id, text });
        addMessage({ seq: ack.seq, author_id: state.agent.agent_id, client_msg_id, text, sent_at_ms: ack.sent_at_ms, edited_at_ms: null, deleted: false, mentions: [] });
      }
      render();
      return;
    } catch (e) {
      // Unsent because the connection dropped: retried with the same id once it is back.
      if ((e.code === "disconnected" || e.code === "overloaded") && attempt < 30) { await new Promise((r) => setTimeout(r, 1000)); continue; }
      banner("Not sent: " + e.message);
      return;
    }
  }
}

async function runCommand(context, text) {
  try {
    const r = await call(Object.assign({ type: "run_command", text }, context));
    if (r.visibility === "caller") addNote(r.text);
    if (context.channel_id) { await loadChannels(); }
  } catch (e) { addNote(e.message); }
  render();
}

// ---------- start ----------
function start() {
  app.replaceChildren();
  render();
  connect();
}

(async () => {
  const response = await fetch("/api/v1/console/me").catch(() => null);
  const me = response && response.ok ? await response.json() : null;
  // A session still on a one-time password signs in again (the current password is needed).
  if (me && !me.must_change_password) { state.me = me; start(); } else showSignIn();
})();
