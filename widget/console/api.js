/* The REST API client: the session token, JSON calls and their errors, file uploads. */

import { t } from "./i18n.js";

const TOKEN_KEY = "openlines.console.token";

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

function withAuth(headers) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

// main.js decides what a lost session means (it owns starting and stopping the console).
let onSessionLost = () => {};
export function whenSessionLost(fn) { onSessionLost = fn; }
/** The server no longer knows us (a 401, or the websocket's "unauthorized"): sign out and ask again. */
export function sessionLost() { onSessionLost(); }

/** Call the REST API; throws ApiError. A 401 outside the login call means the session is gone. */
export async function api(method, path, body) {
  const headers = withAuth({ Accept: "application/json" });
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, init); } catch { throw new ApiError(0, "network", t("net.unreachable")); }
  let data = null;
  try { data = await res.json(); } catch { /* empty or not JSON */ }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.code) || `http_${res.status}`,
      (data && data.message) || res.statusText || t("net.failed"));
    err.data = data || {}; // what else the refusal says (the duplicates found, the warnings)
    if (res.status === 401 && path !== "/api/login") sessionLost();
    throw err;
  }
  return data || {};
}

/** Upload a file into a record's file field (POST …/fields/{field}/file): {ok, data} as upload() answers. */
export async function uploadTo(path, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const res = await fetch(path, { method: "POST", body: form, headers: withAuth({}), credentials: "same-origin" });
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, data };
}

/**
 * Upload a file for a dialog's next reply: {ok, data} as the server answered (data is {} when not JSON).
 * Multipart, so not through api(); it throws only when the server cannot be reached, and a 401 does not sign out.
 */
export async function upload(dialogId, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const res = await fetch(`/api/dialogs/${encodeURIComponent(dialogId)}/attachments`,
    { method: "POST", body: form, headers: withAuth({}), credentials: "same-origin" });
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, data };
}

/**
 * POST a form whose answer streams (the lead import's NDJSON): the Response, to read as it arrives. Throws ApiError
 * as api() does (a 401 signs out) when the server refuses before the stream starts.
 */
export async function postStream(path, form) {
  let res;
  try {
    res = await fetch(path, { method: "POST", body: form, headers: withAuth({}), credentials: "same-origin" });
  } catch { throw new ApiError(0, "network", t("net.unreachable")); }
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    if (res.status === 401) sessionLost();
    const err = new ApiError(res.status, data.code || `http_${res.status}`, data.message || res.statusText || t("net.failed"));
    err.data = data;
    throw err;
  }
  return res;
}
