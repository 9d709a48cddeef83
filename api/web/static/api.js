// Calls to the service's /v1 endpoints with the session cookie. Every change carries the session's
// anti-forgery token (X-CSRF-Token); errors arrive as {error: {code, message, field}}.

let csrf = null;

export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.status = status;
    this.error = error || { code: status === 0 ? "network" : "internal_error", message: `HTTP ${status}` };
  }
}

export function setCsrf(token) { csrf = token; }

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let answer;
  try {
    answer = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (_) {
    throw new ApiError(0, null);
  }
  if (answer.status === 204) return null;
  let data = null;
  try { data = await answer.json(); } catch (_) { data = null; }
  if (!answer.ok) throw new ApiError(answer.status, data && data.error);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
