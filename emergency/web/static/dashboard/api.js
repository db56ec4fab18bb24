// Calls to the API. A person signs in with a name and password (an HttpOnly session cookie,
// and a CSRF token sent back on every change); a kiosk or a script uses a bearer token.
// Calls resolve to {ok, status, data, message}: a screen never throws on a refused or failed
// request, it shows the message. Every change carries an Idempotency-Key, made once per
// action, so a retried click never acts twice.
const KEY = "typhoon.token";
export const session = { token: null, csrf: null, me: null };

export function storedToken() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
}

export function saveToken(token, remember) {
  forgetToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

export async function api(path, { method = "GET", body, token = session.token, key } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (session.csrf && method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  if (method !== "GET") headers["Idempotency-Key"] = key || newKey();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, status: 0, data: null, message: String((err && err.message) || err) };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  let message = "";
  if (!response.ok) {
    const e = data && data.error;
    message = (e && (e.message || e.code)) || (data && data.detail && JSON.stringify(data.detail)) || `HTTP ${response.status}`;
  }
  return { ok: response.ok, status: response.status, data, message, code: data && data.error && data.error.code };
}
