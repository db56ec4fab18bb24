// The token and JSON calls to the API. Calls resolve to {ok, status, data, message}; a screen
// never throws on a refused or failed request, it shows the message.
const KEY = "typhoon.token";
export const session = { token: null, me: null };

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

export async function api(path, { method = "GET", body, token = session.token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, data: null, message: String(err && err.message || err) };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  let message = "";
  if (!response.ok) {
    const e = data && data.error;
    message = (e && (e.message || e.code)) || (data && data.detail && JSON.stringify(data.detail)) || `HTTP ${response.status}`;
  }
  return { ok: response.ok, status: response.status, data, message };
}
