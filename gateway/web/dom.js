// Shared by the console's modules: building the page from data (every text goes in as text,
// never as HTML) and calling the server's HTTP API with the console's session cookie.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

// An HTTP API call (same origin: the browser sends the session cookie). Resolves with the
// JSON answer (null for 204); rejects with the server's error message and code.
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
  let response;
  try { response = await fetch(path, init); } catch (_) { throw Object.assign(new Error("The server could not be reached."), { code: "disconnected" }); }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) throw Object.assign(new Error((json && json.message) || "HTTP " + response.status), { code: json && json.code, status: response.status });
  return json;
}
