// The console's administration pages, for agents with the administrator role: agents
// (create, rename, capacity, administrator, disable, console sign-in with a one-time
// password), departments (routing settings, members, business hours in a time zone) and
// channel folders (create, rename, reorder, delete). They use the admin HTTP API, which
// takes an administrator's console session from the console's own pages (docs/PROTOCOL.md).
// Each page is one node kept across renders, so what is typed in it survives the console's
// re-renders; it is rebuilt from the server after every change.

import { el, api } from "./dom.js";

export const ADMIN_VIEWS = [
  { kind: "admin-agents", label: "Agents" },
  { kind: "admin-departments", label: "Departments" },
  { kind: "admin-folders", label: "Folders" },
];

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const pages = new Map(); // kind -> { root, alert }

// The page for `kind`, loading it the first time. `ctx.rerender()` redraws the console;
// `ctx.changedFolders()` reloads its channel list after a folder change.
export function adminPage(kind, ctx) {
  let page = pages.get(kind);
  if (!page) {
    const view = ADMIN_VIEWS.find((v) => v.kind === kind);
    const alert = el("p", { class: "alert", role: "alert" });
    const body = el("div", { class: "admin-body" }, el("p", { class: "sub" }, "Loading…"));
    page = { root: el("div", { class: "admin", "data-admin": kind }, el("h1", {}, view.label), alert, body), alert, body, ctx };
    pages.set(kind, page);
    load(kind);
  }
  page.ctx = ctx;
  return page.root;
}

// Forget the pages (signed out, or opened again: fresh from the server).
export function resetAdmin(kind) {
  if (kind) pages.delete(kind); else pages.clear();
}

async function load(kind) {
  const page = pages.get(kind);
  if (!page) return;
  try {
    const build = { "admin-agents": agentsPage, "admin-departments": departmentsPage, "admin-folders": foldersPage }[kind];
    page.body.replaceChildren(...(await build(page)));
  } catch (e) {
    page.alert.textContent = e.message;
  }
  page.ctx.rerender();
}

// Run a change, then show its outcome and rebuild the page from the server.
async function change(page, kind, done, action) {
  page.alert.textContent = "";
  try {
    await action();
    await load(kind);
    page.alert.textContent = done;
  } catch (e) {
    page.alert.textContent = e.message;
  }
}

// ---------- folders ----------
async function foldersPage(page) {
  const kind = "admin-folders";
  const folders = (await api("GET", "/api/v1/folders")).sort((a, b) => a.position - b.position);
  const rows = folders.map((f, i) => {
    const name = el("input", { value: f.name, "aria-label": "Name of folder " + f.name, maxlength: "64", required: true });
    return el("form", { class: "row", "data-folder": String(f.folder_id), onsubmit: (e) => {
      e.preventDefault();
      change(page, kind, "Folder renamed.", () => api("PATCH", "/api/v1/folders/" + f.folder_id, { name: name.value.trim() }).then(page.ctx.changedFolders));
    } },
    name,
    el("button", { type: "submit" }, "Rename"),
    el("button", { type: "button", disabled: i === 0, "aria-label": "Move " + f.name + " up", onclick: () =>
      change(page, kind, "Folder moved.", () => api("PATCH", "/api/v1/folders/" + f.folder_id, { position: i - 1 }).then(page.ctx.changedFolders)) }, "↑"),
    el("button", { type: "button", disabled: i === folders.length - 1, "aria-label": "Move " + f.name + " down", onclick: () =>
      change(page, kind, "Folder moved.", () => api("PATCH", "/api/v1/folders/" + f.folder_id, { position: i + 1 }).then(page.ctx.changedFolders)) }, "↓"),
    el("button", { type: "button", class: "danger", "aria-label": "Delete folder " + f.name, onclick: () =>
      change(page, kind, "Folder deleted; its channels are now in no folder.", () => api("DELETE", "/api/v1/folders/" + f.folder_id).then(page.ctx.changedFolders)) }, "Delete"));
  });
  const newName = el("input", { "aria-label": "New folder name", placeholder: "Folder name", maxlength: "64", required: true });
  const create = el("form", { class: "row create", onsubmit: (e) => {
    e.preventDefault();
    change(page, kind, "Folder created.", () => api("POST", "/api/v1/folders", { name: newName.value.trim() }).then(page.ctx.changedFolders));
  } }, newName, el("button", { class: "primary", type: "submit" }, "Create folder"));
  return [
    el("p", { class: "sub" }, "Folders group channels in everyone's sidebar, in this order. Deleting a folder keeps its channels."),
    folders.length ? el("div", {}, ...rows) : el("p", { class: "sub" }, "No folders yet."),
    create,
  ];
}

// ---------- agents ----------
async function agentsPage(page) {
  const kind = "admin-agents";
  const agents = await api("GET", "/api/v1/agents");
  const rows = agents.map((a) => {
    const name = el("input", { value: a.display_name, "aria-label": "Name of " + a.display_name, maxlength: "128", required: true });
    const max = el("input", { type: "number", min: "1", max: "1000", value: String(a.max_concurrent_chats), "aria-label": "Most chats at once for " + a.display_name });
    const admin = el("input", { type: "checkbox", checked: a.admin, "aria-label": a.display_name + " is an administrator" });
    const disabled = el("input", { type: "checkbox", checked: a.disabled, "aria-label": a.display_name + " is disabled" });
    const email = el("input", { type: "email", value: a.email || "", "aria-label": "Sign-in email of " + a.display_name, placeholder: "Sign-in email" });
    const password = el("input", { type: "password", autocomplete: "new-password", "aria-label": "One-time password for " + a.display_name, placeholder: "One-time password" });
    return el("div", { class: "card", "data-agent": String(a.agent_id) },
      el("form", { class: "row", onsubmit: (e) => {
        e.preventDefault();
        change(page, kind, "Saved " + name.value.trim() + ".", () => api("PATCH", "/api/v1/agents/" + a.agent_id, {
          display_name: name.value.trim(), max_concurrent_chats: Number(max.value), admin: admin.checked, disabled: disabled.checked,
        }));
      } },
      name, el("label", {}, "chats ", max), el("label", {}, admin, " admin"), el("label", {}, disabled, " disabled"),
      el("span", { class: "sub" }, (a.connections ? "online" : "offline") + " · " + a.load + "/" + a.max_concurrent_chats + " chats"),
      el("button", { type: "submit" }, "Save")),
      el("form", { class: "row", onsubmit: (e) => {
        e.preventDefault();
        const body = { email: email.value.trim() || null };
        if (password.value) { body.password = password.value; body.temporary = true; }
        change(page, kind, password.value ? "Sign-in set; " + name.value.trim() + " chooses a new password at the next sign-in." : "Sign-in email saved.",
          () => api("PUT", "/api/v1/agents/" + a.agent_id + "/login", body));
      } }, email, password, el("button", { type: "submit" }, "Set sign-in")));
  });
  const newName = el("input", { "aria-label": "New agent's name", placeholder: "Name", maxlength: "128", required: true });
  const newMax = el("input", { type: "number", min: "1", max: "1000", value: "5", "aria-label": "New agent's most chats at once" });
  const newEmail = el("input", { type: "email", "aria-label": "New agent's sign-in email", placeholder: "Sign-in email", required: true });
  const newPassword = el("input", { type: "password", autocomplete: "new-password", "aria-label": "New agent's one-time password", placeholder: "One-time password", required: true, minlength: "8" });
  // The new agent's API token, shown once (written after the rebuild that follows creation).
  const token = el("p", { class: "sub token" });
  const create = el("form", { class: "row create", onsubmit: (e) => {
    e.preventDefault();
    let created = null;
    change(page, kind, "Agent created: they sign in with that email and choose their own password.", async () => {
      created = await api("POST", "/api/v1/agents", { display_name: newName.value.trim(), max_concurrent_chats: Number(newMax.value) });
      await api("PUT", "/api/v1/agents/" + created.agent.agent_id + "/login", { email: newEmail.value.trim(), password: newPassword.value, temporary: true });
    }).then(() => {
      if (!created) return;
      const shown = document.querySelector("[data-admin='admin-agents'] .token");
      if (shown) shown.textContent = "API token of " + created.agent.display_name + " (shown once, for scripts): " + created.token;
    });
  } }, newName, newMax, newEmail, newPassword, el("button", { class: "primary", type: "submit" }, "Create agent"));
  return [el("div", {}, ...rows), el("h2", {}, "New agent"), create, token];
}

// ---------- departments ----------
async function departmentsPage(page) {
  const kind = "admin-departments";
  const [departments, agents] = await Promise.all([api("GET", "/api/v1/departments"), api("GET", "/api/v1/agents")]);
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const cards = departments.map((d) => {
    const name = el("input", { value: d.name, "aria-label": "Name of department " + d.name, maxlength: "64", pattern: "[a-z0-9_-]+", required: true });
    const automatic = el("input", { type: "checkbox", checked: d.automatic, "aria-label": d.name + " assigns automatically" });
    const autoAccept = el("input", { type: "checkbox", checked: d.auto_accept, "aria-label": d.name + " accepts offers at once" });
    const timeout = el("input", { type: "number", min: "1", max: "600", step: "0.001", value: String(d.offer_timeout_ms / 1000), "aria-label": d.name + " offer timeout in seconds" });
    const hours = el("input", { value: d.hours ? formatHours(d.hours.weekly) : "", "aria-label": "Business hours of " + d.name, placeholder: "Always open (e.g. mon-fri 09:00-17:00; sat 10:00-14:00)" });
    const zone = el("input", { value: d.hours ? d.hours.time_zone : here, "aria-label": "Time zone of " + d.name, placeholder: "Europe/Berlin" });
    const members = agents.map((a) => el("label", {}, el("input", { type: "checkbox", checked: d.agents.includes(a.agent_id), "data-member": String(a.agent_id), "aria-label": a.display_name + " in " + d.name }), " " + a.display_name));
    return el("form", { class: "card", "data-department": String(d.department_id), onsubmit: (e) => {
      e.preventDefault();
      change(page, kind, "Saved " + name.value.trim() + ".", async () => {
        const body = { name: name.value.trim(), automatic: automatic.checked, auto_accept: autoAccept.checked, offer_timeout_ms: Math.round(Number(timeout.value) * 1000) };
        body.hours = hours.value.trim() ? { time_zone: zone.value.trim(), weekly: parseHours(hours.value) } : null;
        await api("PATCH", "/api/v1/departments/" + d.department_id, body);
        for (const box of members.map((m) => m.querySelector("input"))) {
          const id = Number(box.dataset.member), was = d.agents.includes(id);
          if (box.checked !== was) await api(box.checked ? "PUT" : "DELETE", "/api/v1/departments/" + d.department_id + "/agents/" + id);
        }
      });
    } },
    el("div", { class: "row" }, name, el("label", {}, automatic, " automatic"), el("label", {}, autoAccept, " auto-accept"), el("label", {}, "offer ", timeout, " s")),
    el("div", { class: "row" }, el("label", { class: "grow" }, "Hours ", hours), el("label", {}, "in ", zone)),
    el("div", { class: "row members", role: "group", "aria-label": "Members of " + d.name }, ...members),
    el("button", { class: "primary", type: "submit" }, "Save " + d.name));
  });
  const newName = el("input", { "aria-label": "New department's name", placeholder: "name: a-z 0-9 - _", maxlength: "64", required: true });
  const create = el("form", { class: "row create", onsubmit: (e) => {
    e.preventDefault();
    change(page, kind, "Department created.", () => api("POST", "/api/v1/departments", { name: newName.value.trim() }));
  } }, newName, el("button", { class: "primary", type: "submit" }, "Create department"));
  return [
    el("p", { class: "sub" }, "Outside its hours, or with none of its agents online, a department's widget offers a message form; each message becomes a ticket. Hours are local to the time zone; leave them empty for always open."),
    ...cards, el("h2", {}, "New department"), create,
  ];
}

// "mon-fri 09:00-17:00; sat 10:00-14:00" → the API's weekly spans (the server checks them).
export function parseHours(text) {
  const weekly = [];
  for (const entry of text.split(";").map((e) => e.trim()).filter(Boolean)) {
    const m = /^([a-z]{3})(?:-([a-z]{3}))?\s+(\S+)-(\S+)$/i.exec(entry);
    if (!m) throw new Error("Hours: write entries like “mon-fri 09:00-17:00”, separated by “;” (got “" + entry + "”).");
    const from = DAYS.indexOf(m[1].toLowerCase()), to = DAYS.indexOf((m[2] || m[1]).toLowerCase());
    if (from < 0 || to < 0 || to < from) throw new Error("Hours: “" + entry + "” does not name days mon … sun in order.");
    for (let d = from; d <= to; d++) weekly.push({ day: DAYS[d], open: m[3], close: m[4] });
  }
  return weekly;
}

// The API's weekly spans → text, runs of days with the same span written as a range.
export function formatHours(weekly) {
  const parts = [];
  const spans = [...weekly].sort((a, b) => DAYS.indexOf(a.day) - DAYS.indexOf(b.day) || a.open.localeCompare(b.open));
  const used = new Set();
  spans.forEach((s, i) => {
    if (used.has(i)) return;
    let last = DAYS.indexOf(s.day);
    for (let j = i + 1; j < spans.length; j++) {
      const t = spans[j];
      if (!used.has(j) && DAYS.indexOf(t.day) === last + 1 && t.open === s.open && t.close === s.close) { used.add(j); last += 1; }
    }
    const first = DAYS.indexOf(s.day);
    parts.push((first === last ? s.day : s.day + "-" + DAYS[last]) + " " + s.open + "-" + s.close);
  });
  return parts.join("; ");
}
